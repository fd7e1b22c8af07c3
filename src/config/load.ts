// Reads config.ini into a LoomConfig, or into the list of everything wrong with it: every
// problem is found in one pass (not just the first), each tied to its line, section and key.
import { existsSync } from 'node:fs';
import { isIP } from 'node:net';
import { dirname, extname, join, normalize, resolve } from 'node:path';
import { CODE_EXTENSIONS, findProtocolFile } from '../core/protocol-loader.js';
import { lookupGroup, lookupUser } from './accounts.js';
import { isDirectory, isFile, NO_SUCH_FILE, notAFile, readSmallFile } from './files.js';
import { scanIni, type ScannedSection } from './ini-lines.js';
import { BUILTIN_PROTOCOLS, formatAddress, type ListenSpec } from './listen.js';
import { controlSocketPath, identityPath } from './paths.js';
import type { ConfigProblem } from './problems.js';
import { readSection, type Settings } from './schema.js';
import { checkTlsFiles } from './tls.js';
import type { GroupConfig, LoomConfig } from './types.js';

export const GLOBAL_SECTION = 'loom';

export interface LoadResult {
  /** The configuration; null when there is any problem. */
  config: LoomConfig | null;
  /** Sorted by line. */
  problems: ConfigProblem[];
  /**
   * What `check` can still load when there are problems: the handlers directory (null when it
   * is not one) and the groups that have no problem of their own.
   */
  loadable: { handlersDir: string | null; groups: GroupConfig[] };
}

type Report = (line: number, section: string, key: string, message: string) => void;

/** Which config file to use: -c FILE, else ./config.ini, else /etc/loom/config.ini. */
export function resolveConfigPath(explicit: string | undefined, cwd = process.cwd()): string {
  if (explicit) return resolve(cwd, explicit);
  const local = resolve(cwd, 'config.ini');
  if (existsSync(local)) return local;
  return '/etc/loom/config.ini';
}

export function loadConfig(file: string): LoadResult {
  const problems: ConfigProblem[] = [];
  const problem: Report = (line, section, key, message) => { problems.push({ file, line, section, key, message }); };
  const nothing = (): LoadResult => ({ config: null, problems, loadable: { handlersDir: null, groups: [] } });

  let text: string;
  try {
    text = readSmallFile(file).toString('utf8');
  } catch (err) {
    const why = (err as Error).message;
    problem(0, '', '', why === NO_SUCH_FILE ? `${why} (use -c FILE)` : why);
    return nothing();
  }
  const nul = text.indexOf('\0');
  if (nul >= 0) {
    problem(lineAt(text, nul), '', '', 'a NUL byte: this is not a text file (is -c the right file?)');
    return nothing();
  }
  const scan = scanIni(text);
  for (const i of scan.issues) problem(i.line, i.section, i.key, i.message);
  const baseDir = dirname(file);

  const globalSection = scan.sections.get(GLOBAL_SECTION);
  const g = readSection('global', globalSection?.keys.values() ?? [], (line, key, message) => problem(line, GLOBAL_SECTION, key, message));
  const globalProblem = (key: string, message: string) => problem(lineOf(globalSection, key), GLOBAL_SECTION, key, message);
  const [pidFile, logFile, stdoutFile, handlersDir] = [g.pidFile, g.logFile, g.stdoutFile, g.handlersDir].map((p) => resolve(baseDir, p));
  // Without handlers_dir no handler or protocol file can be found: one line says so, not one per group.
  const haveHandlersDir = isDirectory(handlersDir);
  if (!haveHandlersDir) globalProblem('handlers_dir', `${handlersDir} is not a directory`);
  if (g.bus !== 'local') globalProblem('bus', NATS_NOT_YET);

  // Files the daemon writes itself: a listener or another of them at the same path would be
  // unlinked or overwritten when the daemon starts (the control socket is replaced silently).
  const daemonFiles = [
    { path: pidFile, what: 'pid_file' },
    { path: controlSocketPath(pidFile), what: `the control socket of pid_file ${pidFile}` },
    { path: identityPath(pidFile), what: `the master's identity record of pid_file ${pidFile}` },
  ];
  for (const [key, path] of [['log_file', logFile], ['stdout_file', stdoutFile]] as const) {
    const hit = daemonFiles.find((d) => d.path === path);
    if (hit) globalProblem(key, `${path} is ${hit.what}; give ${key} a path of its own`);
  }
  daemonFiles.push({ path: logFile, what: 'log_file' }, { path: stdoutFile, what: 'stdout_file' });

  const groups: GroupConfig[] = [];
  const env: GroupEnv = { baseDir, handlersDir, haveHandlersDir, daemonFiles, taken: [], problem };
  for (const section of scan.sections.values()) {
    if (section.name !== GLOBAL_SECTION) groups.push(readGroup(section, env));
  }
  if (groups.length === 0) problem(0, '', '', 'no worker group: add a section such as [echo] with listen, count and handler');
  const user = accountFor(g, globalProblem);

  problems.sort((a, b) => a.line - b.line);
  if (problems.length > 0) {
    const faulty = new Set(problems.map((p) => p.section));
    return { config: null, problems, loadable: { handlersDir: haveHandlersDir ? handlersDir : null, groups: groups.filter((gr) => !faulty.has(gr.name)) } };
  }
  const { user: _user, group: _group, ...settings } = g;
  return {
    problems,
    config: { ...settings, file, pidFile, logFile, stdoutFile, handlersDir, user, groups },
    loadable: { handlersDir, groups },
  };
}

interface GroupEnv {
  baseDir: string;
  handlersDir: string;
  haveHandlersDir: boolean;
  daemonFiles: { path: string; what: string }[];
  /** Listeners of the groups read so far, for clashes. */
  taken: { group: string; listen: ListenSpec }[];
  problem: Report;
}

function readGroup(section: ScannedSection, env: GroupEnv): GroupConfig {
  const { handlersDir } = env;
  const problem = (key: string, message: string) => env.problem(lineOf(section, key), section.name, key, message);
  const v = readSection('group', section.keys.values(), (line, key, message) => env.problem(line, section.name, key, message));
  const { listen, handler: handlerName, sslCert, sslKey, sslCa, root: rootName, ...settings } = v;

  let handler: string | null = null;
  if (handlerName !== null) {
    handler = resolve(handlersDir, handlerName);
    if (!CODE_EXTENSIONS.includes(extname(handler))) {
      const alt = CODE_EXTENSIONS.map((e) => handlerName + e).find((f) => isFile(resolve(handlersDir, f)));
      problem('handler', `"${handlerName}" must end in ${CODE_EXTENSIONS.join(', ')}${alt ? `; did you mean "${alt}"?` : ''}`);
    } else if (env.haveHandlersDir) {
      const why = notAFile(handler);
      if (why) problem('handler', `${handler}: ${why}`);
    }
  } else if (!section.keys.has('handler') && !(listen?.protocol === 'http' && rootName)) {
    env.problem(section.line, section.name, 'handler', 'missing: every group needs a handler file (an http group with root may go without)');
  }

  const path = (raw: string): string | null => (raw ? resolve(env.baseDir, raw) : null);
  const [cert, key, ca] = [path(sslCert), path(sslKey), path(sslCa)];
  let tlsFilesExist = true;
  for (const [k, f] of [['ssl_cert', cert], ['ssl_key', key], ['ssl_ca', ca]] as const) {
    const why = f && notAFile(f);
    if (why) { problem(k, `${f}: ${why}`); tlsFilesExist = false; }
  }
  if ((cert === null) !== (key === null)) {
    env.problem(lineOf(section, cert === null ? 'ssl_key' : 'ssl_cert'), section.name, cert === null ? 'ssl_cert' : 'ssl_key', 'missing: ssl_cert and ssl_key go together');
  }
  if (cert && listen?.transport === 'udp') problem('ssl_cert', 'TLS cannot run over udp');
  if (ca && !cert) problem('ssl_ca', 'needs ssl_cert and ssl_key');
  if (cert && key && tlsFilesExist) {
    for (const p of checkTlsFiles(cert, key, ca)) problem(p.key, p.message);
  }

  const root = path(rootName);
  if (root) {
    if (listen?.protocol !== 'http') problem('root', 'static files are served by http listeners only');
    else if (!isDirectory(root)) problem('root', `${root} is not a directory`);
  }

  if (listen) checkListen(listen, section.name, env, (message) => problem('listen', message));
  checkGatewayKeys(section, v, env, problem);

  return { ...settings, listen, name: section.name, line: section.line, handler, tls: cert && key ? { cert, key, ca } : null, root };
}

const NATS_NOT_YET = 'nats:// is not built yet: use local (gateways and business processes on this machine)';

/** Keys of model = gateway: only there, and consistent with each other and the listener. */
function checkGatewayKeys(section: ScannedSection, v: Settings<'group'>, env: GroupEnv, problem: (key: string, message: string) => void): void {
  const GATEWAY_ONLY = ['business_count', 'ping_interval', 'ping_not_response_limit', 'ping_data', 'push_listen', 'push_token', 'bus'];
  if (v.model !== 'gateway') {
    for (const key of GATEWAY_ONLY) if (section.keys.has(key)) problem(key, 'only for model = gateway');
    return;
  }
  if (!v.listen) env.problem(section.line, section.name, 'listen', 'missing: a gateway group needs a listener for its clients');
  else if (v.listen.protocol === 'http' || v.listen.transport === 'udp') {
    problem('listen', `a gateway holds long-lived clients: websocket, text, frame, tcp or a custom protocol, not ${v.listen.protocol}`);
  }
  // By the keys written: a bad value of one is reported already, without a second line here.
  const has = (key: string) => section.keys.has(key);
  if (has('push_listen') && !has('push_token')) problem('push_listen', 'needs push_token: the push API answers only requests that carry it');
  if (has('push_token') && !has('push_listen')) problem('push_token', 'without push_listen there is no push API to protect');
  if (v.pushListen) checkListen(v.pushListen, section.name, env, (message) => problem('push_listen', message));
  if (v.bus !== 'local') problem('bus', NATS_NOT_YET);
}

function checkListen(listen: ListenSpec, group: string, env: GroupEnv, problem: (message: string) => void): void {
  const { handlersDir } = env;
  if (env.haveHandlersDir && !(BUILTIN_PROTOCOLS as readonly string[]).includes(listen.protocol) && !findProtocolFile(handlersDir, listen.protocol)) {
    problem(`unknown protocol "${listen.protocol}": no ${join(handlersDir, 'protocols', listen.protocol)}.{js,cjs,mjs,ts}`);
  }
  if (listen.transport === 'unix') {
    if (!isDirectory(dirname(listen.path))) problem(`directory ${dirname(listen.path)} of the socket does not exist`);
    const own = env.daemonFiles.find((d) => d.path === normalize(listen.path));
    if (own) problem(`${listen.path} is ${own.what}; give the socket another path`);
  }
  const clash = env.taken.find((t) => sameAddress(t.listen, listen));
  if (clash) problem(`${formatAddress(listen)} is already used by [${clash.group}] (${clash.listen.url})`);
  env.taken.push({ group, listen });
}

/** The account behind user/group; null (after reporting) when it cannot be had. */
function accountFor(g: Settings<'global'>, problem: (key: string, message: string) => void): LoomConfig['user'] {
  // undefined: the lookup failed and has been reported; null: no such account.
  const lookup = <T>(key: string, fn: () => T | null): T | null | undefined => {
    try {
      return fn();
    } catch (err) {
      problem(key, (err as Error).message);
      return undefined;
    }
  };
  if (!g.user) {
    if (g.group) problem('group', 'group without user: set user too');
    return null;
  }
  const account = lookup('user', () => lookupUser(g.user));
  if (account === null) problem('user', `no such user "${g.user}"`);
  if (!account) return null;
  let gid = account.gid;
  if (g.group) {
    const found = lookup('group', () => lookupGroup(g.group));
    if (found === null) problem('group', `no such group "${g.group}"`);
    if (found === null || found === undefined) return null;
    gid = found;
  }
  // Workers switch to the user with setuid(), which only root may call; found here, before
  // anything is bound or started (and so reported by `check` too).
  const uid = process.getuid?.();
  if (uid !== undefined && uid !== 0 && account.uid !== uid) {
    problem('user', `workers can switch to "${g.user}" (uid ${account.uid}) only when loom runs as root, and it runs as uid ${uid}: start it as root, or remove user`);
    return null;
  }
  return { name: account.name, uid: account.uid, gid };
}

function lineOf(section: ScannedSection | undefined, key: string): number {
  return section?.keys.get(key)?.line ?? section?.line ?? 0;
}

/** 1-based line of a character offset. */
function lineAt(text: string, offset: number): number {
  let line = 1;
  for (let i = text.indexOf('\n'); i >= 0 && i < offset; i = text.indexOf('\n', i + 1)) line++;
  return line;
}

/** Two listeners that the kernel would refuse to bind both, a wildcard host included. */
function sameAddress(a: ListenSpec, b: ListenSpec): boolean {
  if (a.transport !== b.transport) return false;
  if (a.transport === 'unix') return normalize(a.path) === normalize(b.path);
  if (a.port !== b.port) return false;
  return a.host.toLowerCase() === b.host.toLowerCase() || covers(a.host, b.host) || covers(b.host, a.host);
}

/**
 * Whether a listener on `wild` takes the port from `other` too: `::` is dual-stack (Node's
 * default) and takes every address, 0.0.0.0 every IPv4 address. A host name may resolve to
 * either family, so only `::` is sure to clash with it; the bind itself reports the rest.
 */
function covers(wild: string, other: string): boolean {
  if (wild === '::') return true;
  return wild === '0.0.0.0' && isIP(other) === 4;
}
