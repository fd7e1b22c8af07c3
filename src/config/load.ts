import { existsSync, readFileSync, statSync } from 'node:fs';
import { dirname, extname, join, resolve } from 'node:path';
import { parse as parseIni } from 'ini';
import { scanIni, type ScannedSection } from './ini-lines.js';
import { SCHEMA, convert, findKey, suggestKey, type RawValue, type Scope, type Value } from './schema.js';
import { BUILTIN_PROTOCOLS, formatAddress, type ListenSpec } from './listen.js';
import type { ConfigProblem, GroupConfig, LoomConfig } from './types.js';

export const GLOBAL_SECTION = 'loom';
export const HANDLER_EXTENSIONS = ['.js', '.cjs', '.mjs', '.ts'];

export interface LoadResult {
  config: LoomConfig | null;
  problems: ConfigProblem[];
}

/** Which config file to use: -c FILE, else ./config.ini, else /etc/loom/config.ini. */
export function resolveConfigPath(explicit: string | undefined, cwd = process.cwd()): string {
  if (explicit) return resolve(cwd, explicit);
  const local = resolve(cwd, 'config.ini');
  if (existsSync(local)) return local;
  return '/etc/loom/config.ini';
}

export function loadConfig(file: string): LoadResult {
  const problems: ConfigProblem[] = [];
  const problem = (line: number, section: string, key: string, message: string) =>
    problems.push({ file, line, section, key, message });

  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    problem(0, '', '', code === 'ENOENT' ? 'no such file (use -c FILE)' : `cannot read (${code})`);
    return { config: null, problems };
  }
  const scan = scanIni(text);
  for (const i of scan.issues) problem(i.line, i.section, i.key, i.message);
  const parsed = parseIni(text) as Record<string, unknown>;
  const baseDir = dirname(file);

  const read = (scope: Scope, section: ScannedSection | undefined, values: Record<string, unknown>) => {
    const out = new Map<string, Value>();
    for (const spec of SCHEMA) if (spec.scope === scope) out.set(spec.key, spec.default);
    if (!section) return out;
    for (const { key, line } of section.keys.values()) {
      const spec = findKey(scope, key);
      if (!spec) {
        const hint = suggestKey(scope, key);
        const where = scope === 'group' && findKey('global', key) ? ' (it belongs in [loom])' :
          scope === 'global' && findKey('group', key) ? ' (it belongs in a group section)' : '';
        problem(line, section.name, key, `unknown key${hint ? `; did you mean "${hint}"?` : ''}${where}`);
        continue;
      }
      const raw = values[key];
      if (typeof raw !== 'string' && typeof raw !== 'boolean') {
        problem(line, section.name, key, 'expected a single value');
        continue;
      }
      try {
        out.set(key, convert(spec, raw as RawValue));
      } catch (err) {
        problem(line, section.name, key, (err as Error).message);
      }
    }
    return out;
  };
  const lineOf = (section: ScannedSection | undefined, key: string) => section?.keys.get(key)?.line ?? section?.line ?? 0;

  const globalSection = scan.sections.get(GLOBAL_SECTION);
  const g = read('global', globalSection, (parsed[GLOBAL_SECTION] ?? {}) as Record<string, unknown>);
  const path = (key: string) => resolve(baseDir, g.get(key) as string);
  const handlersDir = path('handlers_dir');
  if (!isDirectory(handlersDir)) {
    problem(lineOf(globalSection, 'handlers_dir'), GLOBAL_SECTION, 'handlers_dir', `${handlersDir} is not a directory`);
  }

  const groups: GroupConfig[] = [];
  const taken: { group: string; listen: ListenSpec }[] = [];
  for (const section of scan.sections.values()) {
    if (section.name === GLOBAL_SECTION) continue;
    const v = read('group', section, (parsed[section.name] ?? {}) as Record<string, unknown>);
    const listen = v.get('listen') as ListenSpec | null;
    const handlerName = v.get('handler') as string | null;
    let handler: string | null = null;
    if (handlerName !== null) {
      handler = resolve(handlersDir, handlerName);
      const line = lineOf(section, 'handler');
      if (!HANDLER_EXTENSIONS.includes(extname(handler))) {
        problem(line, section.name, 'handler', `"${handlerName}" must end in ${HANDLER_EXTENSIONS.join(', ')}`);
      } else if (!isFile(handler)) {
        problem(line, section.name, 'handler', `no such file ${handler}`);
      }
    } else if (!section.keys.has('handler')) {
      problem(section.line, section.name, 'handler', 'missing: every group needs a handler file');
    }
    if (listen) {
      const line = lineOf(section, 'listen');
      if (!(BUILTIN_PROTOCOLS as readonly string[]).includes(listen.protocol) && !findProtocolFile(handlersDir, listen.protocol)) {
        problem(line, section.name, 'listen', `unknown protocol "${listen.protocol}": no ${join(handlersDir, 'protocols', listen.protocol)}.{js,cjs,mjs,ts}`);
      }
      const clash = taken.find((t) => sameAddress(t.listen, listen));
      if (clash) {
        problem(line, section.name, 'listen', `${formatAddress(listen)} is already used by [${clash.group}] (${clash.listen.url})`);
      }
      taken.push({ group: section.name, listen });
    }
    groups.push({
      name: section.name,
      line: section.line,
      listen,
      count: v.get('count') as number,
      handler,
      reloadable: v.get('reloadable') as boolean,
      maxPackageSize: v.get('max_package_size') as number,
      maxSendBufferSize: v.get('max_send_buffer_size') as number,
    });
  }
  if (groups.length === 0) problem(0, '', '', 'no worker group: add a section such as [echo] with listen, count and handler');

  problems.sort((a, b) => a.line - b.line);
  if (problems.length > 0) return { config: null, problems };
  return {
    problems,
    config: {
      file,
      name: g.get('name') as string,
      pidFile: path('pid_file'),
      logFile: path('log_file'),
      stdoutFile: path('stdout_file'),
      handlersDir,
      watch: g.get('watch') as boolean,
      stopTimeout: g.get('stop_timeout') as number,
      reloadTimeout: g.get('reload_timeout') as number,
      groups,
    },
  };
}

/** handlers_dir/protocols/NAME with the first extension that exists, or null. */
export function findProtocolFile(handlersDir: string, name: string): string | null {
  for (const ext of HANDLER_EXTENSIONS) {
    const f = join(handlersDir, 'protocols', name + ext);
    if (isFile(f)) return f;
  }
  return null;
}

/** Two listeners that the kernel would refuse to bind both, a wildcard host included. */
function sameAddress(a: ListenSpec, b: ListenSpec): boolean {
  if (a.transport !== b.transport) return false;
  if (a.transport === 'unix') return a.path === b.path;
  const wildcard = (h: string) => h === '0.0.0.0' || h === '::';
  return a.port === b.port && (a.host === b.host || wildcard(a.host) || wildcard(b.host));
}

function isFile(f: string): boolean {
  try { return statSync(f).isFile(); } catch { return false; }
}
function isDirectory(f: string): boolean {
  try { return statSync(f).isDirectory(); } catch { return false; }
}
