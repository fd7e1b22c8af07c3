// Finds and loads protocol modules: the built-in framings, or handlers_dir/protocols/NAME.*
// (Workerman's input/decode/encode contract). One loader for listeners, async clients and
// `loom check`, so a module is judged the same way everywhere.
import { statSync } from 'node:fs';
import { join } from 'node:path';
import { BUILTIN } from '../protocols/builtin.js';
import type { ProtocolModule } from '../types/handler.js';
import { LoomError } from './errors.js';
import { describeLoadError, loadModule } from './load-module.js';

/** Extensions of user code files (handlers and protocol modules), in lookup order. */
export const CODE_EXTENSIONS = ['.js', '.cjs', '.mjs', '.ts'];
export const PROTOCOL_FUNCTIONS = ['input', 'decode', 'encode'] as const;

/** handlers_dir/protocols/NAME with the first extension that exists, or null. */
export function findProtocolFile(handlersDir: string, name: string): string | null {
  for (const ext of CODE_EXTENSIONS) {
    const f = join(handlersDir, 'protocols', name + ext);
    try {
      if (statSync(f).isFile()) return f;
    } catch { /* try the next extension */ }
  }
  return null;
}

/** The functions of the protocol contract a loaded module lacks. */
export function missingProtocolFunctions(mod: Record<string, unknown>): string[] {
  return PROTOCOL_FUNCTIONS.filter((fn) => typeof mod[fn] !== 'function');
}

/** Loads a protocol module file; throws LOOM_ERR_PROTOCOL saying what is wrong with it. */
export async function loadProtocolFile(file: string): Promise<ProtocolModule> {
  let mod: Record<string, unknown>;
  try {
    mod = await loadModule(file);
  } catch (err) {
    throw new LoomError('LOOM_ERR_PROTOCOL', describeLoadError(file, err), { cause: err });
  }
  const missing = missingProtocolFunctions(mod);
  if (missing.length > 0) throw new LoomError('LOOM_ERR_PROTOCOL', `${file}: exports no ${missing[0]}() function`);
  return mod as unknown as ProtocolModule;
}

/**
 * The codec of a protocol name: built-in, or loaded from handlers_dir. udp, http and websocket
 * frame messages themselves; they get the raw codec as a placeholder.
 */
export async function loadProtocol(handlersDir: string, name: string): Promise<ProtocolModule> {
  const builtin = BUILTIN[name];
  if (builtin) return builtin;
  if (name === 'udp' || name === 'http' || name === 'websocket') return BUILTIN.tcp;
  const file = findProtocolFile(handlersDir, name);
  if (!file) throw new LoomError('LOOM_ERR_PROTOCOL', `no protocol module ${name} in ${join(handlersDir, 'protocols')} (.js, .cjs, .mjs or .ts)`);
  return loadProtocolFile(file);
}
