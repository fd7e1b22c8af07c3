// `loom check`: the config, then every handler and protocol module loaded in this throwaway
// process, so a syntax error is found before a start or reload would meet it.
import { BUILTIN_PROTOCOLS } from '../config/listen.js';
import { loadConfig, resolveConfigPath } from '../config/load.js';
import { findProtocolFile, PROTOCOL_FUNCTIONS } from '../core/protocol-loader.js';
import { formatProblem } from '../config/types.js';
import { describeLoadError, loadModule } from '../core/load-module.js';

const CALLBACKS = [
  'onWorkerStart', 'onWorkerStop', 'onWorkerReload', 'onConnect', 'onMessage', 'onClose',
  'onError', 'onBufferFull', 'onBufferDrain', 'onWebSocketConnect',
];

/** Returns the problems found, one line each; empty when all is well. */
export async function check(explicit: string | undefined): Promise<string[]> {
  const file = resolveConfigPath(explicit);
  const { config, problems } = loadConfig(file);
  if (!config) return problems.map(formatProblem);
  const out: string[] = [];
  const loaded = new Set<string>();
  for (const g of config.groups) {
    const modules: { file: string; needs: readonly string[]; may: string[] }[] = [];
    if (g.handler) modules.push({ file: g.handler, needs: [], may: CALLBACKS });
    if (g.listen && !(BUILTIN_PROTOCOLS as readonly string[]).includes(g.listen.protocol)) {
      const p = findProtocolFile(config.handlersDir, g.listen.protocol);
      if (p) modules.push({ file: p, needs: PROTOCOL_FUNCTIONS, may: [] });
    }
    for (const m of modules) {
      if (loaded.has(m.file)) continue;
      loaded.add(m.file);
      let exports: Record<string, unknown>;
      try {
        exports = await loadModule(m.file);
      } catch (err) {
        out.push(`${describeLoadError(m.file, err)} (group [${g.name}])`);
        continue;
      }
      for (const fn of m.needs) {
        if (typeof exports[fn] !== 'function') out.push(`${m.file}: exports no ${fn}() function (group [${g.name}])`);
      }
      for (const fn of m.may) {
        if (exports[fn] !== undefined && typeof exports[fn] !== 'function') {
          out.push(`${m.file}: ${fn} is ${typeof exports[fn]}, not a function (group [${g.name}])`);
        }
      }
    }
  }
  // Top-level code of a handler may leave a timer or a socket open: once the report is
  // written (right after this returns), it must not keep `loom check` running.
  setTimeout(() => process.exit(), 200).unref();
  return out;
}
