// The one description of config.ini: parsing, validation, defaults, `loom check` and the
// README's key table are all driven from this list, so a key is added in one place.
import { parseListen, type ListenSpec } from './listen.js';

export type Scope = 'global' | 'group';

interface KeyBase {
  key: string;
  scope: Scope;
  doc: string;
}
export interface StringKey extends KeyBase { type: 'string'; default: string; pattern?: RegExp; patternDoc?: string; maxLength?: number }
export interface PathKey extends KeyBase { type: 'path'; default: string }
export interface BoolKey extends KeyBase { type: 'bool'; default: boolean }
export interface IntKey extends KeyBase { type: 'int'; default: number; min: number; max: number }
export interface NumberKey extends KeyBase { type: 'number'; default: number; min: number; max: number }
export interface ListenKey extends KeyBase { type: 'listen'; default: null }
export interface HandlerKey extends KeyBase { type: 'handler'; default: null }
export interface ChoiceKey extends KeyBase { type: 'choice'; default: string; choices: readonly string[] }
/** HOST:PORT of a TCP listener Loom runs itself (the push API). */
export interface AddressKey extends KeyBase { type: 'address'; default: null }
export type KeySpec = StringKey | PathKey | BoolKey | IntKey | NumberKey | ListenKey | HandlerKey | ChoiceKey | AddressKey;

const MiB = 1024 * 1024;
const BUS = /^(local|nats:\/\/\S+)$/;
const TOKEN = /^[\x21-\x7e]+$/;
// A user or group name; never a leading "-", so getent cannot take it for an option.
const ACCOUNT = /^[A-Za-z0-9_.][A-Za-z0-9_.-]*$/;

// `as const`: each entry keeps its literal key, scope and type, from which Settings below
// derives the type of every value; `satisfies` still checks each entry against KeySpec.
export const SCHEMA = [
  { key: 'name', scope: 'global', type: 'string', default: 'loom', pattern: /^[A-Za-z0-9_.-]+$/, patternDoc: 'letters, digits, . _ -', maxLength: 32, doc: 'Name used in process titles, log lines and default file names; at most 32 characters.' },
  { key: 'pid_file', scope: 'global', type: 'path', default: '/var/run/loom.pid', doc: "Holds the master's pid; the control socket lives beside it (`<pid_file without .pid>.sock`)." },
  { key: 'log_file', scope: 'global', type: 'path', default: '/var/log/loom/loom.log', doc: 'Timestamped daemon log: starts, stops, worker exits, reloads, errors.' },
  { key: 'stdout_file', scope: 'global', type: 'path', default: '/var/log/loom/stdout.log', doc: 'Where handler stdout/stderr go in daemon mode (`start -d`).' },
  { key: 'handlers_dir', scope: 'global', type: 'path', default: 'handlers', doc: 'Directory of handler scripts; custom protocols in its `protocols/`.' },
  { key: 'watch', scope: 'global', type: 'bool', default: true, doc: 'Hot-reload workers when files under handlers_dir change.' },
  { key: 'user', scope: 'global', type: 'string', default: '', pattern: ACCOUNT, patternDoc: 'letters, digits, . _ - (not a leading -)', doc: 'Workers drop to this user after the master has bound the sockets (the master keeps its rights; it must run as root); empty: no change.' },
  { key: 'group', scope: 'global', type: 'string', default: '', pattern: ACCOUNT, patternDoc: 'letters, digits, . _ - (not a leading -)', doc: "Group for the workers; empty: the user's primary group." },
  { key: 'stop_timeout', scope: 'global', type: 'number', default: 10, min: 0.1, max: 86400, doc: 'Seconds a graceful stop may take before workers are killed.' },
  { key: 'reload_timeout', scope: 'global', type: 'number', default: 30, min: 0.1, max: 86400, doc: 'Seconds an old worker may drain during a reload before it is closed.' },
  { key: 'hang_timeout', scope: 'global', type: 'number', default: 0, min: 0, max: 86400, doc: 'Seconds a worker may leave the master\'s pings unanswered (a blocked event loop) before it is killed and restarted; 0: never (it is only shown as `unresponsive` after 5 s).' },
  { key: 'bus', scope: 'global', type: 'string', default: 'local', pattern: BUS, patternDoc: 'local, or nats://HOST:PORT', doc: 'How the daemon\'s processes reach each other (gateway groups): `local`, unix sockets on this machine. `nats://HOST:PORT`, over many machines, is not built yet.' },
  { key: 'listen', scope: 'group', type: 'listen', default: null, doc: '`protocol://host:port` or `unix:///path`; none: a process for timers and background jobs.' },
  { key: 'count', scope: 'group', type: 'int', default: 1, min: 1, max: 1024, doc: 'Processes in this group.' },
  { key: 'handler', scope: 'group', type: 'handler', default: null, doc: 'Handler file in handlers_dir: .js, .cjs, .mjs or .ts.' },
  { key: 'reloadable', scope: 'group', type: 'bool', default: true, doc: '`loom reload` restarts this group (false: left running).' },
  { key: 'max_package_size', scope: 'group', type: 'int', default: MiB, min: 1, max: 1024 * MiB, doc: 'Bytes; a larger inbound packet closes the connection.' },
  { key: 'max_send_buffer_size', scope: 'group', type: 'int', default: MiB, min: 1, max: 1024 * MiB, doc: 'Bytes queued per connection before onBufferFull; further sends return false.' },
  { key: 'ssl_cert', scope: 'group', type: 'path', default: '', doc: 'PEM certificate (chain); with `ssl_key` the listener speaks TLS: https, wss, TLS text/frame/custom. Parsed by `check`; re-read on reload.' },
  { key: 'ssl_key', scope: 'group', type: 'path', default: '', doc: 'PEM private key for `ssl_cert` (unencrypted; it must match the certificate).' },
  { key: 'ssl_ca', scope: 'group', type: 'path', default: '', doc: 'PEM CA bundle sent with the certificate (optional).' },
  { key: 'root', scope: 'group', type: 'path', default: '', doc: 'http: directory of static files served before the handler (which then answers only what no file matches; 404 without a handler).' },
  { key: 'header_timeout', scope: 'group', type: 'number', default: 10, min: 0.1, max: 3600, doc: 'http/websocket: seconds for a request\'s headers to arrive before the connection is closed (slowloris).' },
  { key: 'idle_timeout', scope: 'group', type: 'number', default: 60, min: 0.1, max: 86400, doc: 'http: seconds an idle keep-alive connection is kept open.' },
  { key: 'permessage_deflate', scope: 'group', type: 'bool', default: false, doc: 'websocket: offer permessage-deflate compression.' },
  { key: 'model', scope: 'group', type: 'choice', default: 'worker', choices: ['worker', 'gateway'], doc: '`gateway`: Workerman\'s Gateway/BusinessWorker pair. `count` gateway processes hold the clients and run no user code; `business_count` business processes run the handler with the gateway API; a handler reload never drops a client.' },
  { key: 'business_count', scope: 'group', type: 'int', default: 1, min: 1, max: 1024, doc: 'gateway: business processes (they run the handler).' },
  { key: 'ping_interval', scope: 'group', type: 'number', default: 0, min: 0, max: 86400, doc: 'gateway: seconds between heartbeats: `ping_data` goes to every client, and silence is counted; 0: no heartbeat.' },
  { key: 'ping_not_response_limit', scope: 'group', type: 'int', default: 0, min: 0, max: 1000, doc: 'gateway: a client from which nothing arrived during this many consecutive heartbeats is closed (onClose runs); 0: clients need not answer.' },
  { key: 'ping_data', scope: 'group', type: 'string', default: '', doc: 'gateway: the message each heartbeat sends (a text line, a WebSocket text frame); empty: none sent.' },
  { key: 'push_listen', scope: 'group', type: 'address', default: null, doc: 'gateway: HOST:PORT of the HTTP push API (`POST /METHOD`, `{"args": [...]}`, the gateway API); none: no push API.' },
  { key: 'push_token', scope: 'group', type: 'string', default: '', pattern: TOKEN, patternDoc: 'printable characters without spaces', doc: 'gateway: the bearer token the push API requires (`Authorization: Bearer TOKEN`); required with `push_listen`.' },
  { key: 'bus', scope: 'group', type: 'string', default: 'local', pattern: BUS, patternDoc: 'local, or nats://HOST:PORT', doc: 'gateway: this group\'s bus between gateways and business processes, when not [loom]\'s.' },
] as const satisfies readonly KeySpec[];

/** The schema seen as plain KeySpecs, for code that walks every key alike. */
const KEYS: readonly KeySpec[] = SCHEMA;

/** What each kind of key holds once converted. */
interface ValueOf {
  string: string;
  path: string;
  bool: boolean;
  int: number;
  number: number;
  listen: ListenSpec | null;
  handler: string | null;
  choice: string;
  address: ListenSpec | null;
}

/** `max_package_size` → `maxPackageSize`: a key's field name in GroupConfig and LoomConfig. */
export type CamelCase<S extends string> = S extends `${infer Head}_${infer Tail}` ? `${Head}${Capitalize<CamelCase<Tail>>}` : S;

/** The converted values of one scope's keys, by field name: `{ count: number, listen: ListenSpec | null, … }`. */
export type Settings<S extends Scope> = {
  [K in Extract<(typeof SCHEMA)[number], { scope: S }> as CamelCase<K['key']>]: ValueOf[K['type']];
};

export function camelCase(key: string): string {
  return key.replace(/_([a-z])/g, (_, c: string) => c.toUpperCase());
}

export interface RawEntry { key: string; line: number; value: RawValue }

/**
 * The settings of one section: the schema's defaults, overridden by each entry that converts;
 * each unknown key or bad value goes to `report` and leaves the default in place.
 */
export function readSection<S extends Scope>(scope: S, entries: Iterable<RawEntry>, report: (line: number, key: string, message: string) => void): Settings<S> {
  const out: Record<string, Value> = {};
  for (const spec of KEYS) if (spec.scope === scope) out[camelCase(spec.key)] = spec.default;
  for (const { key, line, value } of entries) {
    const spec = findKey(scope, key);
    if (!spec) {
      report(line, key, unknownKeyMessage(scope, key));
      continue;
    }
    try {
      out[camelCase(key)] = convert(spec, value);
    } catch (err) {
      report(line, key, (err as Error).message);
    }
  }
  // The one place where the schema meets its derived type: every field of Settings<S> was
  // set from this scope's keys, each value by convert() for that key's own type.
  return out as Settings<S>;
}

export function findKey(scope: Scope, key: string): KeySpec | undefined {
  return KEYS.find((k) => k.scope === scope && k.key === key);
}

/** A value as written after `=`, unquoted and without its comment. */
export type RawValue = string;
export type Value = string | number | boolean | ListenSpec | null;

const INT = /^[+-]?\d+$/;
const DECIMAL = /^[+-]?(\d+(\.\d*)?|\.\d+)$/;

/** Converts a raw value; throws an Error saying what is wrong. */
export function convert(spec: KeySpec, raw: RawValue): Value {
  const text = raw.trim();
  if (text === '') {
    if (spec.default === null) throw new Error(spec.type === 'listen'
      ? 'empty value: write protocol://host:port, or remove the line for a group without a listener'
      : spec.type === 'address' ? 'empty value: write HOST:PORT, or remove the line' : 'empty value: needs a file name');
    if (spec.default === '') throw new Error('empty value: give one, or remove the line (none is the default)');
    throw new Error(`empty value: remove the line to use the default (${String(spec.default)})`);
  }
  switch (spec.type) {
    case 'string':
      if (spec.pattern && !spec.pattern.test(text)) throw new Error(`"${text}" may contain only ${spec.patternDoc}`);
      if (spec.maxLength !== undefined && text.length > spec.maxLength) {
        throw new Error(`"${text}" is ${text.length} characters long; at most ${spec.maxLength}`);
      }
      return text;
    case 'path':
    case 'handler':
      return text;
    case 'bool':
      if (/^(true|yes|on|1)$/i.test(text)) return true;
      if (/^(false|no|off|0)$/i.test(text)) return false;
      throw new Error(`"${text}" is not a boolean (true or false)`);
    case 'int':
    case 'number': {
      if (!(spec.type === 'int' ? INT : DECIMAL).test(text)) {
        throw new Error(spec.type === 'int' && DECIMAL.test(text) ? `"${text}" is not a whole number` : `"${text}" is not a number`);
      }
      const n = Number(text);
      if (n < spec.min || n > spec.max) throw new Error(`${n} is out of range ${spec.min}-${spec.max}`);
      return n;
    }
    case 'listen':
      return parseListen(text);
    case 'choice':
      if (!spec.choices.includes(text)) throw new Error(`"${text}" is not one of ${spec.choices.join(', ')}`);
      return text;
    case 'address': {
      if (text.includes('://')) throw new Error(`"${text}" is HOST:PORT, without a scheme`);
      if (text.includes('/')) throw new Error(`"${text}" is HOST:PORT, without a path (the API answers at /METHOD)`);
      const spec_ = parseListen(`http://${text}`);
      return { ...spec_, url: text };
    }
  }
}

/** Closest known key of a scope, for "did you mean" on a typo. */
export function suggestKey(scope: Scope, key: string): string | undefined {
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const spec of KEYS) {
    if (spec.scope !== scope) continue;
    const d = editDistance(key.toLowerCase(), spec.key);
    if (d < bestDistance) { bestDistance = d; best = spec.key; }
  }
  return bestDistance <= Math.max(2, Math.floor(key.length / 3)) ? best : undefined;
}

/** The message for a key that its section does not know: misplaced, a typo, or neither. */
export function unknownKeyMessage(scope: Scope, key: string): string {
  const other: Scope = scope === 'global' ? 'group' : 'global';
  const home = (s: Scope) => (s === 'global' ? '[loom]' : 'a group section');
  if (findKey(other, key)) return `belongs in ${home(other)}, not in ${scope === 'global' ? '[loom]' : 'a group section'}`;
  const near = suggestKey(scope, key);
  if (near) return `unknown key; did you mean "${near}"?`;
  const far = suggestKey(other, key);
  if (far) return `unknown key; did you mean "${far}" (in ${home(other)})?`;
  return `unknown key; ${home(scope)} takes ${KEYS.filter((k) => k.scope === scope).map((k) => k.key).join(', ')}`;
}

function editDistance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let prev = row[0];
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const tmp = row[j];
      row[j] = Math.min(row[j] + 1, row[j - 1] + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
      prev = tmp;
    }
  }
  return row[b.length];
}

/** The README's table of keys, generated so docs and code cannot drift. */
export function keyTableMarkdown(): string {
  const lines = ['| section | key | default | meaning |', '|---|---|---|---|'];
  for (const k of KEYS) {
    const def = k.default === null ? '—' : k.default === '' ? 'empty' : `\`${String(k.default)}\``;
    lines.push(`| ${k.scope === 'global' ? '[loom]' : '[group]'} | \`${k.key}\` | ${def} | ${k.doc} |`);
  }
  return lines.join('\n');
}
