// `loom check`: the config, then every handler and protocol module loaded in this throwaway
// process, so a syntax error is found before a start or reload would meet it. Problems in
// config.ini do not hide those of the handlers: the groups that are valid on their own are
// still loaded.
import { BUILTIN_PROTOCOLS } from '../config/listen.js';
import { loadConfig, resolveConfigPath } from '../config/load.js';
import { formatProblem, printable } from '../config/problems.js';
import type { GroupConfig } from '../config/types.js';
import { LoomError } from '../core/errors.js';
import { describeLoadError, loadModule } from '../core/load-module.js';
import { findProtocolFile, loadProtocolFile } from '../core/protocol-loader.js';

const CALLBACKS = [
  'onWorkerStart', 'onWorkerStop', 'onWorkerReload', 'onConnect', 'onMessage', 'onClose',
  'onError', 'onBufferFull', 'onBufferDrain', 'onWebSocketConnect',
];

/** Returns the problems found, one line each; empty when all is well. */
export async function check(explicit: string | undefined): Promise<string[]> {
  const { problems, loadable } = loadConfig(resolveConfigPath(explicit));
  const out = problems.map(formatProblem);
  if (loadable.handlersDir) out.push(...await checkModules(loadable.handlersDir, loadable.groups));
  // Top-level code of a handler may leave a timer or a socket open: once the report is
  // written (right after this returns), it must not keep `loom check` running.
  setTimeout(() => process.exit(), 200).unref();
  return out;
}

/** Loads each group's handler and custom protocol module once; a line per problem. */
async function checkModules(handlersDir: string, groups: GroupConfig[]): Promise<string[]> {
  const out: string[] = [];
  const say = (code: 'LOOM_ERR_HANDLER_LOAD' | 'LOOM_ERR_PROTOCOL', text: string, group: string) => {
    out.push(`${code} ${printable(text)} (group [${group}])`);
  };
  const loaded = new Set<string>();
  for (const g of groups) {
    if (g.handler && !loaded.has(g.handler)) {
      loaded.add(g.handler);
      try {
        const exports = await loadModule(g.handler);
        for (const fn of CALLBACKS) {
          if (exports[fn] !== undefined && typeof exports[fn] !== 'function') {
            say('LOOM_ERR_HANDLER_LOAD', `${g.handler}: ${fn} is ${typeof exports[fn]}, not a function`, g.name);
          }
        }
      } catch (err) {
        say('LOOM_ERR_HANDLER_LOAD', describeLoadError(g.handler, err), g.name);
      }
    }
    const protocol = g.listen?.protocol;
    const file = protocol && !(BUILTIN_PROTOCOLS as readonly string[]).includes(protocol) ? findProtocolFile(handlersDir, protocol) : null;
    if (file && !loaded.has(file)) {
      loaded.add(file);
      try {
        await loadProtocolFile(file);
      } catch (err) {
        say('LOOM_ERR_PROTOCOL', err instanceof LoomError ? err.message : String(err), g.name);
      }
    }
  }
  return out;
}
