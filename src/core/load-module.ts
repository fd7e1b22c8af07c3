// Loads user code (handlers, custom protocols) from disk at run time. Inside the single
// executable a plain require() of a disk file fails, and import() of one too (Node >= 25.5), so
// every load goes through createRequire(file), which also loads ES modules (Node >= 22); only
// an ES module with top-level await is imported. .ts files are stripped of types with sucrase,
// which keeps line numbers, so error reports point at the user's own lines, and which handles
// what Node's own type stripping refuses (enums, namespaces, parameter properties).
import { readFileSync } from 'node:fs';
import Module, { createRequire } from 'node:module';
import { dirname, extname } from 'node:path';
import { pathToFileURL } from 'node:url';
import { constants, Script } from 'node:vm';
import type { transform as Transform } from 'sucrase';
import { isSingleExecutable } from '../util/runtime.js';

interface CompilableModule {
  filename: string;
  paths: string[];
  exports: unknown;
  _compile(code: string, filename: string): void;
}
type ModuleStatics = {
  new (id: string, parent?: unknown): CompilableModule;
  _nodeModulePaths(dir: string): string[];
};

/**
 * sucrase, loaded on first need (a .ts file, or a syntax error to place): it is some 15 MB of
 * RSS in every worker that would otherwise load it for JavaScript handlers too.
 */
let transform: typeof Transform | null = null;
async function sucrase(): Promise<typeof Transform> {
  return (transform ??= (await import('sucrase')).transform);
}

export async function loadModule(file: string): Promise<Record<string, unknown>> {
  try {
    const mod = extname(file) === '.ts' ? compileTypeScript(file, await sucrase()) : await requireOrImport(file);
    return exportsObject(mod);
  } catch (err) {
    // describeLoadError() finds a syntax error's line with sucrase: have it ready.
    if ((err as Error)?.name === 'SyntaxError') await sucrase();
    throw err;
  }
}

async function requireOrImport(file: string): Promise<unknown> {
  try {
    return createRequire(file)(file);
  } catch (err) {
    // An ES module with top-level await (or any ES module, on a Node without require(esm)).
    const code = (err as NodeJS.ErrnoException).code;
    if (code !== 'ERR_REQUIRE_ASYNC_MODULE' && code !== 'ERR_REQUIRE_ESM') throw err;
    return importFile(file);
  }
}

/** Warnings of the import below, which are Loom's doing, not the user's. */
const OWN_WARNING = /USE_MAIN_CONTEXT_DEFAULT_LOADER/;

function importFile(file: string): Promise<unknown> {
  const url = pathToFileURL(file).href;
  if (!isSingleExecutable()) return import(url);
  // The single executable's main script may only import built-in modules; a script compiled
  // with the main context's default loader may import files. Node marks that experimental
  // and says so once: the user did not ask for it, so that one warning is not shown.
  const emitWarning = process.emitWarning;
  process.emitWarning = function (this: NodeJS.Process, warning: string | Error, ...rest: unknown[]) {
    if (OWN_WARNING.test(typeof warning === 'string' ? warning : warning.message)) return;
    return (emitWarning as (...a: unknown[]) => void).call(this, warning, ...rest);
  } as typeof process.emitWarning;
  try {
    const script = new Script(`import(${JSON.stringify(url)})`, { importModuleDynamically: constants.USE_MAIN_CONTEXT_DEFAULT_LOADER });
    return script.runInThisContext() as Promise<unknown>;
  } finally {
    process.emitWarning = emitWarning;
  }
}

function compileTypeScript(file: string, strip: typeof Transform): unknown {
  const source = readFileSync(file, 'utf8');
  const { code } = strip(source, { transforms: ['typescript', 'imports'], filePath: file });
  const M = Module as unknown as ModuleStatics;
  const m = new M(file);
  m.filename = file;
  m.paths = M._nodeModulePaths(dirname(file));
  m._compile(code, file);
  return m.exports;
}

/** The default export when it is an object, else the module's named exports. */
function exportsObject(mod: unknown): Record<string, unknown> {
  if (mod === null || (typeof mod !== 'object' && typeof mod !== 'function')) return {};
  const m = mod as Record<string, unknown>;
  const def = m.default;
  if (def !== null && typeof def === 'object') return def as Record<string, unknown>;
  return m;
}

/** "file:line: message" from the stack of an error thrown while loading user code. */
function fromStack(file: string, err: unknown): string {
  const e = err as Error;
  const stack = typeof e?.stack === 'string' ? e.stack : '';
  // Syntax errors from the CommonJS loader start with "/path/file.js:LINE".
  const first = /^(\/[^\n:]+):(\d+)/.exec(stack);
  let where = `${file}`;
  if (first && first[1] === file) where = `${file}:${first[2]}`;
  else {
    const frame = new RegExp(`${escape(file)}:(\\d+)(?::(\\d+))?`).exec(stack);
    if (frame) where = `${file}:${frame[1]}${frame[2] ? `:${frame[2]}` : ''}`;
  }
  return `${where}: ${e?.name ?? 'Error'}: ${e?.message ?? String(err)}`;
}

function escape(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/**
 * "file:line: Name: message" for code that failed to load. Node reports no line for a syntax
 * error in an ES module, and sucrase reports it inside its message; in both cases the line
 * is found by parsing the file again with sucrase.
 */
export function describeLoadError(file: string, err: unknown): string {
  const e = err as Error;
  const lineOf = (x: unknown): number | null => {
    const loc = (x as { loc?: { line?: unknown } } | null)?.loc;
    return typeof loc?.line === 'number' ? loc.line : null;
  };
  let line = lineOf(e);
  if (line !== null) {
    // sucrase: "Error transforming FILE: Unexpected token (4:13)"
    const message = String(e.message).replace(/^Error transforming [^:]*: /, '').replace(/ \(\d+:\d+\)$/, '');
    return `${file}:${line}: ${e.name}: ${message}`;
  }
  const described = fromStack(file, err);
  if (described.startsWith(`${file}:`) && /^:\d/.test(described.slice(file.length))) return described;
  if (e?.name !== 'SyntaxError' || transform === null) return described;
  try {
    const transforms: ('typescript' | 'jsx')[] = extname(file) === '.ts' ? ['typescript'] : [];
    transform(readFileSync(file, 'utf8'), { transforms, filePath: file });
  } catch (parseError) {
    line = lineOf(parseError);
  }
  return line === null ? described : `${file}:${line}: ${e.name}: ${e.message}`;
}
