// `loom check`: the config, then every handler and protocol module loaded in this throwaway
// process, so a syntax error is found before a start or reload would meet it.
import { BUILTIN_PROTOCOLS } from '../config/listen.js';
import { findProtocolFile, loadConfig, resolveConfigPath } from '../config/load.js';
import { formatProblem } from '../config/types.js';
import { describeLoadError } from '../worker/lifecycle.js';
import { loadModule } from '../worker/load-module.js';

/** Returns the problems found, one line each; empty when all is well. */
export async function check(explicit: string | undefined): Promise<string[]> {
  const file = resolveConfigPath(explicit);
  const { config, problems } = loadConfig(file);
  if (!config) return problems.map(formatProblem);
  const out: string[] = [];
  for (const g of config.groups) {
    const files: string[] = [];
    if (g.handler) files.push(g.handler);
    if (g.listen && !(BUILTIN_PROTOCOLS as readonly string[]).includes(g.listen.protocol)) {
      const p = findProtocolFile(config.handlersDir, g.listen.protocol);
      if (p) files.push(p);
    }
    for (const f of files) {
      try {
        await loadModule(f);
      } catch (err) {
        out.push(`${describeLoadError(f, err)} (group [${g.name}])`);
      }
    }
  }
  return out;
}
