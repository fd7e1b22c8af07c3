// Loads user code (handlers, custom protocols) from disk at run time. Inside the single
// executable a plain require() of a disk file fails, so every load goes through
// createRequire(file) or import(); .ts files are stripped of types with sucrase, which keeps
// line numbers so error reports point at the user's own lines.
import { readFileSync } from 'node:fs';
import Module, { createRequire } from 'node:module';
import { dirname, extname } from 'node:path';
import { pathToFileURL } from 'node:url';
import { transform } from 'sucrase';

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

export async function loadModule(file: string): Promise<Record<string, unknown>> {
  const ext = extname(file);
  let mod: unknown;
  if (ext === '.mjs') {
    mod = await import(pathToFileURL(file).href);
  } else if (ext === '.ts') {
    mod = compileTypeScript(file);
  } else {
    try {
      mod = createRequire(file)(file);
    } catch (err) {
      // A .js file in a "type": "module" package is ESM.
      if ((err as NodeJS.ErrnoException).code !== 'ERR_REQUIRE_ESM') throw err;
      mod = await import(pathToFileURL(file).href);
    }
  }
  return exportsObject(mod);
}

function compileTypeScript(file: string): unknown {
  const source = readFileSync(file, 'utf8');
  const { code } = transform(source, { transforms: ['typescript', 'imports'], filePath: file });
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
