// loadConfig in process: every class of config.ini problem gives exactly the expected lines
// `LOOM_ERR_CONFIG FILE:LINE [section] key: message` (and nothing else), a valid file gives
// the expected LoomConfig, and `loadable` tells `check` which groups it may still load.
import t, { type Test } from 'tap';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '../../src/config/load.js';
import { formatProblem } from '../../src/config/problems.js';
import { MAX_FILE_BYTES } from '../../src/config/files.js';

const DIR = mkdtempSync(join(tmpdir(), 'loom-config-load-'));
t.teardown(() => rmSync(DIR, { recursive: true, force: true }));
const HANDLERS = join(DIR, 'handlers');
mkdirSync(join(HANDLERS, 'protocols'), { recursive: true });
mkdirSync(join(HANDLERS, 'dir.js'));
mkdirSync(join(DIR, 'public'));
writeFileSync(join(HANDLERS, 'echo.js'), 'module.exports = {};\n');
writeFileSync(join(HANDLERS, 'protocols', 'jsonnl.js'), 'module.exports = {};\n');

const GLOBAL = `[loom]\npid_file = ${DIR}/loom.pid\nlog_file = ${DIR}/loom.log\nstdout_file = ${DIR}/stdout.log\n`;
const group = (listen: string, extra = '') => `[echo]\nlisten = ${listen}\nhandler = echo.js\n${extra}`;

let files = 0;
/** Writes `text` as a fresh config file and loads it. */
function load(text: string) {
  const file = join(DIR, `config-${++files}.ini`);
  writeFileSync(file, text);
  return { file, ...loadConfig(file) };
}

/** 1-based number of the nth line of `text` that contains `needle`. */
function lineOf(text: string, needle: string, nth = 1): number {
  const hits = text.split(/\r?\n/).map((l, i) => (l.includes(needle) ? i + 1 : 0)).filter((n) => n > 0);
  if (hits.length < nth) throw new Error(`"${needle}" is not in the config:\n${text}`);
  return hits[nth - 1];
}

/** [text on the offending line (null: the file as a whole), what follows "FILE:LINE ", nth match]. */
type Expected = [at: string | null, rest: string, nth?: number];

function expectLines(t: Test, text: string, expected: Expected[]): void {
  const { file, config, problems } = load(text);
  const want = expected.map(([at, rest, nth]) => `LOOM_ERR_CONFIG ${file}${at === null ? '' : `:${lineOf(text, at, nth)}`}${rest}`);
  t.same(problems.map(formatProblem), want);
  t.equal(config, null, 'no config');
}

interface Case { name: string; text: string; expected: Expected[] }
const inGroup = (name: string, extra: string, at: string, rest: string): Case =>
  ({ name, text: `${GLOBAL}\n${group('text://127.0.0.1:9000', extra)}`, expected: [[at, ` [echo] ${rest}`]] });
const inGlobal = (name: string, extra: string, at: string, rest: string): Case =>
  ({ name, text: `${GLOBAL}${extra}\n${group('text://127.0.0.1:9000')}`, expected: [[at, ` [loom] ${rest}`]] });
const listenCase = (name: string, listen: string, rest: string): Case =>
  ({ name, text: `${GLOBAL}\n${group(listen)}`, expected: [['listen', ` [echo] listen: ${rest}`]] });
const twoGroups = (name: string, a: string, b: string, rest: string): Case => ({
  name,
  text: `${GLOBAL}\n[a]\nlisten = ${a}\nhandler = echo.js\n\n[b]\nlisten = ${b}\nhandler = echo.js\n`,
  expected: [[`listen = ${b}`, ` [b] listen: ${rest}`]],
});

const gateway = (listen: string, extra = '') => `${GLOBAL}\n[chat]\nmodel = gateway\nlisten = ${listen}\nhandler = echo.js\n${extra}`;
const gatewayCase = (name: string, listen: string, extra: string, at: string, rest: string): Case =>
  ({ name, text: gateway(listen, extra), expected: [[at, ` [chat] ${rest}`]] });

const CASES: Case[] = [
  // model = gateway
  inGroup('gateway keys in a worker group', 'business_count = 2\n', 'business_count', 'business_count: only for model = gateway'),
  inGroup('model = other', 'model = cluster\n', 'model', 'model: "cluster" is not one of worker, gateway'),
  gatewayCase('a gateway over http', 'http://127.0.0.1:9000', '', 'listen', 'listen: a gateway holds long-lived clients: websocket, text, frame, tcp or a custom protocol, not http'),
  gatewayCase('push_listen without push_token', 'ws://127.0.0.1:9000', 'push_listen = 127.0.0.1:9001\n', 'push_listen', 'push_listen: needs push_token: the push API answers only requests that carry it'),
  gatewayCase('push_token without push_listen', 'ws://127.0.0.1:9000', 'push_token = s3cret\n', 'push_token', 'push_token: without push_listen there is no push API to protect'),
  gatewayCase('push_listen with a scheme', 'ws://127.0.0.1:9000', 'push_listen = http://127.0.0.1:9001\npush_token = t\n', 'push_listen', 'push_listen: "http://127.0.0.1:9001" is HOST:PORT, without a scheme'),
  gatewayCase('push_listen on the clients\' port', 'ws://127.0.0.1:9000', 'push_listen = 127.0.0.1:9000\npush_token = t\n', 'push_listen', 'push_listen: 127.0.0.1:9000 is already used by [chat] (ws://127.0.0.1:9000)'),
  gatewayCase('a token with a space', 'ws://127.0.0.1:9000', 'push_listen = 127.0.0.1:9001\npush_token = a b\n', 'push_token', 'push_token: "a b" may contain only printable characters without spaces'),
  {
    name: 'push_listen on another group\'s listener',
    text: `${GLOBAL}\n${group('text://127.0.0.1:9001')}\n${gateway('ws://127.0.0.1:9000', 'push_listen = 127.0.0.1:9001\npush_token = t\n').slice(GLOBAL.length)}`,
    expected: [['push_listen', ' [chat] push_listen: 127.0.0.1:9001 is already used by [echo] (text://127.0.0.1:9001)']],
  },
  {
    name: 'a later group\'s listener on push_listen',
    text: `${gateway('ws://127.0.0.1:9000', 'push_listen = 127.0.0.1:9001\npush_token = t\n')}\n${group('tcp://0.0.0.0:9001')}`,
    expected: [['tcp://0.0.0.0:9001', ' [echo] listen: 0.0.0.0:9001 is already used by [chat] (127.0.0.1:9001)']],
  },
  {
    name: 'two gateway groups on one push_listen',
    text: `${gateway('ws://127.0.0.1:9000', 'push_listen = 127.0.0.1:9001\npush_token = t\n')}\n[chat2]\nmodel = gateway\nlisten = ws://127.0.0.1:9002\nhandler = echo.js\npush_listen = [::]:9001\npush_token = t\n`,
    expected: [['push_listen = [::]', ' [chat2] push_listen: [::]:9001 is already used by [chat] (127.0.0.1:9001)']],
  },
  gatewayCase('push_listen without a port', 'ws://127.0.0.1:9000', 'push_listen = 127.0.0.1\npush_token = t\n', 'push_listen', 'push_listen: missing ":port" in "127.0.0.1"'),
  gatewayCase('push_listen with no value', 'ws://127.0.0.1:9000', 'push_listen =\npush_token = t\n', 'push_listen', 'push_listen: empty value: write HOST:PORT, or remove the line'),
  {
    name: 'push keys in a worker group',
    text: `${GLOBAL}\n${group('text://127.0.0.1:9000', 'push_listen = 127.0.0.1:9001\npush_token = t\n')}`,
    expected: [['push_listen', ' [echo] push_listen: only for model = gateway'], ['push_token', ' [echo] push_token: only for model = gateway']],
  },
  gatewayCase('push_listen with a path', 'ws://127.0.0.1:9000', 'push_listen = 127.0.0.1:9001/push\npush_token = t\n', 'push_listen', 'push_listen: "127.0.0.1:9001/push" is HOST:PORT, without a path (the API answers at /METHOD)'),
  gatewayCase('an empty push_token', 'ws://127.0.0.1:9000', 'push_listen = 127.0.0.1:9001\npush_token =\n', 'push_token', 'push_token: empty value: give one, or remove the line (none is the default)'),
  gatewayCase('bus = nats', 'ws://127.0.0.1:9000', 'bus = nats://127.0.0.1:4222\n', 'bus', 'bus: nats:// is not built yet: use local (gateways and business processes on this machine)'),
  { name: 'a gateway without a listener', text: `${GLOBAL}\n[chat]\nmodel = gateway\nhandler = echo.js\n`, expected: [['[chat]', ' [chat] listen: missing: a gateway group needs a listener for its clients']] },
  // unknown or misplaced keys
  inGroup('a typo suggests the nearest key', 'cuont = 2\n', 'cuont', 'cuont: unknown key; did you mean "count"?'),
  inGlobal('a typo in [loom]', 'stop_timout = 3\n', 'stop_timout', 'stop_timout: unknown key; did you mean "stop_timeout"?'),
  inGroup('an unknown key with no near match', 'flavour = vanilla\n', 'flavour', 'flavour: unknown key; a group section takes listen, count, handler, reloadable, max_package_size, max_send_buffer_size, ssl_cert, ssl_key, ssl_ca, root, header_timeout, idle_timeout, permessage_deflate, model, business_count, ping_interval, ping_not_response_limit, ping_data, push_listen, push_token, bus'),
  inGroup('a near match from the other scope', 'pid_fil = x\n', 'pid_fil = x', 'pid_fil: unknown key; did you mean "pid_file" (in [loom])?'),
  inGroup('a global key in a group', 'pid_file = other.pid\n', 'pid_file = other', 'pid_file: belongs in [loom], not in a group section'),
  inGlobal('a group key in [loom]', 'count = 4\n', 'count = 4', 'count: belongs in a group section, not in [loom]'),
  // values of the wrong type
  inGroup('count = abc', 'count = abc\n', 'count = abc', 'count: "abc" is not a number'),
  inGroup('count = 1.5', 'count = 1.5\n', 'count = 1.5', 'count: "1.5" is not a whole number'),
  inGroup('count = 0x10', 'count = 0x10\n', 'count = 0x10', 'count: "0x10" is not a number'),
  inGroup('reloadable = maybe', 'reloadable = maybe\n', 'reloadable', 'reloadable: "maybe" is not a boolean (true or false)'),
  inGlobal('watch = sometimes', 'watch = sometimes\n', 'watch', 'watch: "sometimes" is not a boolean (true or false)'),
  inGlobal('a name with a space', 'name = my loom\n', 'name = my loom', 'name: "my loom" may contain only letters, digits, . _ -'),
  inGlobal('a name longer than 32 characters', `name = ${'n'.repeat(33)}\n`, 'name = ', `name: "${'n'.repeat(33)}" is 33 characters long; at most 32`),
  inGlobal('a user name that getent could take for an option', 'user = -s\n', 'user = ', 'user: "-s" may contain only letters, digits, . _ - (not a leading -)'),
  // empty values
  inGroup('count with no value', 'count =\n', 'count =', 'count: empty value: remove the line to use the default (1)'),
  { name: 'listen with no value', text: `${GLOBAL}\n[echo]\nlisten =   ; nothing\nhandler = echo.js\n`, expected: [['listen =', ' [echo] listen: empty value: write protocol://host:port, or remove the line for a group without a listener']] },
  { name: 'handler with no value', text: `${GLOBAL}\n[echo]\nlisten = text://127.0.0.1:9000\nhandler =\n`, expected: [['handler =', ' [echo] handler: empty value: needs a file name']] },
  inGroup('a key without "="', 'reloadable\n', 'reloadable', 'reloadable: expected key = value'),
  // out of range
  inGroup('count = 0', 'count = 0\n', 'count = 0', 'count: 0 is out of range 1-1024'),
  inGroup('max_package_size = -1', 'max_package_size = -1\n', 'max_package_size', 'max_package_size: -1 is out of range 1-1073741824'),
  inGroup('max_send_buffer_size = 0', 'max_send_buffer_size = 0\n', 'max_send_buffer_size', 'max_send_buffer_size: 0 is out of range 1-1073741824'),
  inGlobal('stop_timeout = 0', 'stop_timeout = 0\n', 'stop_timeout', 'stop_timeout: 0 is out of range 0.1-86400'),
  // listen addresses (every parse error: test/unit/listen.ts)
  listenCase('a listen address that does not parse', 'tcp://[::1:9000', 'IPv6 address "[::1:9000" lacks the closing "]"'),
  listenCase('an unknown custom protocol', 'nosuch://127.0.0.1:9000', `unknown protocol "nosuch": no ${HANDLERS}/protocols/nosuch.{js,cjs,mjs,ts}`),
  listenCase('an unknown custom protocol over unix', `nosuch+unix://${DIR}/x.sock`, `unknown protocol "nosuch": no ${HANDLERS}/protocols/nosuch.{js,cjs,mjs,ts}`),
  listenCase('a unix socket in a directory that does not exist', 'unix:///no/such/dir/loom.sock', 'directory /no/such/dir of the socket does not exist'),
  // a listener on a file of the daemon's own
  listenCase('a unix listener at the control socket', `unix://${DIR}/loom.sock`, `${DIR}/loom.sock is the control socket of pid_file ${DIR}/loom.pid; give the socket another path`),
  listenCase('the control socket spelt another way', `text+unix://${DIR}/./public/../loom.sock`, `${DIR}/./public/../loom.sock is the control socket of pid_file ${DIR}/loom.pid; give the socket another path`),
  listenCase('a unix listener at pid_file', `unix://${DIR}/loom.pid`, `${DIR}/loom.pid is pid_file; give the socket another path`),
  listenCase('a unix listener at log_file', `unix://${DIR}/loom.log`, `${DIR}/loom.log is log_file; give the socket another path`),
  {
    name: 'log_file at the control socket',
    text: `${GLOBAL.replace('loom.log', 'loom.sock')}\n${group('text://127.0.0.1:9000')}`,
    expected: [['log_file', ` [loom] log_file: ${DIR}/loom.sock is the control socket of pid_file ${DIR}/loom.pid; give log_file a path of its own`]],
  },
  // two groups on one address
  twoGroups('two groups on one address', 'text://127.0.0.1:9000', 'frame://127.0.0.1:9000', '127.0.0.1:9000 is already used by [a] (text://127.0.0.1:9000)'),
  twoGroups('0.0.0.0 takes 127.0.0.1', 'text://0.0.0.0:9000', 'text://127.0.0.1:9000', '127.0.0.1:9000 is already used by [a] (text://0.0.0.0:9000)'),
  twoGroups(':: takes 127.0.0.1', 'tcp://[::]:9000', 'tcp://127.0.0.1:9000', '127.0.0.1:9000 is already used by [a] (tcp://[::]:9000)'),
  twoGroups('two spellings of one IPv6 address', 'tcp://[::1]:9000', 'tcp://[0:0::1]:9000', '[::1]:9000 is already used by [a] (tcp://[::1]:9000)'),
  twoGroups('one unix socket path twice', `unix://${DIR}/s.sock`, `text+unix://${DIR}/s.sock`, `${DIR}/s.sock is already used by [a] (unix://${DIR}/s.sock)`),
  // handler files
  { name: 'a missing handler file', text: `${GLOBAL}\n[echo]\nhandler = nope.js\n`, expected: [['nope.js', ` [echo] handler: ${HANDLERS}/nope.js: no such file`]] },
  { name: 'a handler that is a directory', text: `${GLOBAL}\n[echo]\nhandler = dir.js\n`, expected: [['dir.js', ` [echo] handler: ${HANDLERS}/dir.js: a directory, not a regular file`]] },
  { name: 'a handler with a bad extension', text: `${GLOBAL}\n[echo]\nhandler = echo.py\n`, expected: [['echo.py', ' [echo] handler: "echo.py" must end in .js, .cjs, .mjs, .ts']] },
  { name: 'a handler without extension', text: `${GLOBAL}\n[echo]\nhandler = echo\n`, expected: [['handler = echo', ' [echo] handler: "echo" must end in .js, .cjs, .mjs, .ts; did you mean "echo.js"?']] },
  { name: 'a group without a handler', text: `${GLOBAL}\n[echo]\nlisten = text://127.0.0.1:9000\ncount = 2\n`, expected: [['[echo]', ' [echo] handler: missing: every group needs a handler file (an http group with root may go without)']] },
  inGlobal('handlers_dir missing', 'handlers_dir = no/such/dir\n', 'handlers_dir', `handlers_dir: ${DIR}/no/such/dir is not a directory`),
  // other group keys
  inGroup('root on a listener that is not http', `root = ${DIR}/public\n`, 'root', 'root: static files are served by http listeners only'),
  { name: 'root that is not a directory', text: `${GLOBAL}\n[web]\nlisten = http://127.0.0.1:9000\nroot = nope\n`, expected: [['root', ` [web] root: ${DIR}/nope is not a directory`]] },
  inGroup('ssl_cert without ssl_key', 'ssl_cert = handlers/echo.js\n', 'ssl_cert', 'ssl_key: missing: ssl_cert and ssl_key go together'),
  inGroup('ssl_ca alone', 'ssl_ca = handlers/echo.js\n', 'ssl_ca', 'ssl_ca: needs ssl_cert and ssl_key'),
  {
    name: 'TLS files that do not exist',
    text: `${GLOBAL}\n${group('text://127.0.0.1:9000', 'ssl_cert = /no/cert.pem\nssl_key = /no/key.pem\n')}`,
    expected: [['ssl_cert', ' [echo] ssl_cert: /no/cert.pem: no such file'], ['ssl_key', ' [echo] ssl_key: /no/key.pem: no such file']],
  },
  // the structure of the file
  { name: 'a key outside any section', text: `name = early\n${GLOBAL}\n${group('text://127.0.0.1:9000')}`, expected: [['name = early', ' name: key outside any section (put it under [loom] or a group section)']] },
  inGroup('a repeated key', 'count = 2\ncount = 3\n', 'count = 3', `count: key repeated (first at line ${6 + 3})`),
  { name: 'a repeated section', text: `${GLOBAL}\n${group('text://127.0.0.1:9000')}\n[echo]\ncount = 2\n`, expected: [['[echo]', ' [echo]: section repeated (first at line 6)', 2]] },
  { name: 'a section name with a dot', text: `${GLOBAL}\n[echo.v2]\nhandler = echo.js\n`, expected: [['[echo.v2]', ' [echo.v2]: section name "echo.v2" may contain only letters, digits, _ and -']] },
  { name: 'an unclosed section header', text: `${GLOBAL}\n${group('text://127.0.0.1:9000')}\n[other\n`, expected: [['[other', ': "[other" is not a section header: write [name] alone on the line']] },
  inGroup('a list value', 'count[] = 2\n', 'count[]', 'count[]: list values (key[] = ...) are not supported'),
  { name: 'no group at all', text: GLOBAL, expected: [[null, ': no worker group: add a section such as [echo] with listen, count and handler']] },
];

t.test('each class of problem: exactly its line', async (t) => {
  for (const c of CASES) t.test(c.name, async (t) => expectLines(t, c.text, c.expected));
});

t.test('several problems: every one, sorted by line, globals and groups alike', async (t) => {
  const text = `${GLOBAL}stop_timeout = 0

[b]
listen = text://127.0.0.1:9000
handler = missing.js
cuont = 2

[a]
listen = frame://127.0.0.1:9000
handler = echo.js
count = abc
reloadable = maybe

[c]
listen = tcp://[::1:9000
handler = echo.js
handler = echo.js
`;
  expectLines(t, text, [
    ['stop_timeout', ' [loom] stop_timeout: 0 is out of range 0.1-86400'],
    ['missing.js', ` [b] handler: ${HANDLERS}/missing.js: no such file`],
    ['cuont', ' [b] cuont: unknown key; did you mean "count"?'],
    ['listen = frame', ' [a] listen: 127.0.0.1:9000 is already used by [b] (text://127.0.0.1:9000)'],
    ['count = abc', ' [a] count: "abc" is not a number'],
    ['reloadable', ' [a] reloadable: "maybe" is not a boolean (true or false)'],
    ['listen = tcp', ' [c] listen: IPv6 address "[::1:9000" lacks the closing "]"'],
    ['handler = echo.js', ` [c] handler: key repeated (first at line ${lineOf(text, 'handler = echo.js', 2)})`, 3],
  ]);
});

t.test('config.ini itself: a missing file, a device, a FIFO, a directory, a huge or binary file', async (t) => {
  const only = (file: string) => loadConfig(file).problems.map(formatProblem);
  t.same(only(join(DIR, 'nope.ini')), [`LOOM_ERR_CONFIG ${DIR}/nope.ini: no such file (use -c FILE)`]);
  t.same(only('/dev/zero'), ['LOOM_ERR_CONFIG /dev/zero: a character device, not a regular file']);
  t.same(only(DIR), [`LOOM_ERR_CONFIG ${DIR}: a directory, not a regular file`]);
  const fifo = join(DIR, 'fifo.ini');
  execFileSync('mkfifo', [fifo]);
  t.same(only(fifo), [`LOOM_ERR_CONFIG ${fifo}: a FIFO, not a regular file`], 'refused without waiting for a writer');
  const big = join(DIR, 'big.ini');
  writeFileSync(big, `${GLOBAL}\n${group('text://127.0.0.1:9000')}`.padEnd(MAX_FILE_BYTES + 1, ';'));
  t.same(only(big), [`LOOM_ERR_CONFIG ${big}: too large: more than ${MAX_FILE_BYTES} bytes`]);
  const binary = join(DIR, 'binary.ini');
  writeFileSync(binary, Buffer.concat([Buffer.from('[loom]\nname = x\n'), Buffer.from([0x7f, 0x45, 0x4c, 0x46, 0, 1])]));
  t.same(only(binary), [`LOOM_ERR_CONFIG ${binary}:3: a NUL byte: this is not a text file (is -c the right file?)`]);
  const link = join(DIR, 'link.ini');
  symlinkSync('/dev/zero', link);
  t.same(only(link), [`LOOM_ERR_CONFIG ${link}: a character device, not a regular file`], 'a symlink is judged by what it points to');
});

t.test('bytes of a hostile config are escaped in the lines that echo them', async (t) => {
  // An OSC sequence would end at ";", which starts a comment: the value is cut there as ini cuts it.
  const text = `${GLOBAL}\n${group('text://127.0.0.1:9000', 'co\x07unt = 1\ncount = \x1b[2J\x1b]0;owned\x07\nreloadable = \u202eeurt\n')}[bad\x1b[31m]\n`;
  expectLines(t, text, [
    ['co\x07unt', ' [echo] co\\x07unt: unknown key; did you mean "count"?'],
    ['count = ', ' [echo] count: "\\x1b[2J\\x1b]0" is not a number'],
    ['reloadable', ' [echo] reloadable: "\\u{202e}eurt" is not a boolean (true or false)'],
    ['[bad', ' [bad\\x1b[31m]: section name "bad\\x1b[31m" may contain only letters, digits, _ and -'],
    ['[bad', ' [bad\\x1b[31m] handler: missing: every group needs a handler file (an http group with root may go without)'],
  ]);
});

t.test('a valid config: the LoomConfig with every default, paths resolved', async (t) => {
  const text = `${GLOBAL}name = svc\n\n${group('text://127.0.0.1:9000', 'count = 2\nmax_package_size = 100\n')}\n[web]\r\nlisten = http://127.0.0.1:9001\r\nroot = "public" ; quoted, with a comment\r\nreloadable = no\r\n\n[ticker]\nhandler = echo.js\n`;
  const { file, config, problems, loadable } = load(text);
  t.same(problems, []);
  const base = { reloadable: true, maxPackageSize: 1048576, maxSendBufferSize: 1048576, headerTimeout: 10, idleTimeout: 60, permessageDeflate: false, tls: null, root: null, count: 1,
    model: 'worker', businessCount: 1, pingInterval: 0, pingNotResponseLimit: 0, pingData: '', pushListen: null, pushToken: '', bus: 'local' };
  const echo = { ...base, name: 'echo', line: lineOf(text, '[echo]'), listen: { url: 'text://127.0.0.1:9000', protocol: 'text', transport: 'tcp', host: '127.0.0.1', port: 9000, path: '' }, handler: join(HANDLERS, 'echo.js'), count: 2, maxPackageSize: 100 };
  const web = { ...base, name: 'web', line: lineOf(text, '[web]'), listen: { url: 'http://127.0.0.1:9001', protocol: 'http', transport: 'tcp', host: '127.0.0.1', port: 9001, path: '' }, handler: null, root: join(DIR, 'public'), reloadable: false };
  const ticker = { ...base, name: 'ticker', line: lineOf(text, '[ticker]'), listen: null, handler: join(HANDLERS, 'echo.js') };
  t.strictSame(config, {
    name: 'svc', watch: true, stopTimeout: 10, reloadTimeout: 30, hangTimeout: 0, bus: 'local',
    file, pidFile: `${DIR}/loom.pid`, logFile: `${DIR}/loom.log`, stdoutFile: `${DIR}/stdout.log`, handlersDir: HANDLERS,
    user: null, groups: [echo, web, ticker],
  });
  t.strictSame(loadable, { handlersDir: HANDLERS, groups: [echo, web, ticker] });
});

t.test('a valid push API: push_listen beside a udp listener on its port, IPv6, the token as written', async (t) => {
  const text = `${gateway('ws://127.0.0.1:9000', 'push_listen = [::1]:9001\npush_token = s3cr=t!\n')}\n[chat2]\nmodel = gateway\nlisten = ws://127.0.0.1:9002\nhandler = echo.js\npush_listen = 127.0.0.1:9003\npush_token = x\n\n${group('udp://127.0.0.1:9003')}`;
  const { config, problems } = load(text);
  t.same(problems, [], 'a tcp push_listen and a udp listener may share a port');
  const chat = config?.groups.find((g) => g.name === 'chat');
  t.strictSame([chat?.pushListen, chat?.pushToken], [{ url: '[::1]:9001', protocol: 'http', transport: 'tcp', host: '::1', port: 9001, path: '' }, 's3cr=t!']);
});

t.test('loadable: the groups without a problem of their own, unless handlers_dir is gone', async (t) => {
  const text = `${GLOBAL}stop_timeout = 0\n\n[good]\nhandler = echo.js\n\n[bad]\nhandler = echo.js\ncount = 0\n\n[clash]\nlisten = text://127.0.0.1:9000\nhandler = echo.js\n\n[clash2]\nlisten = text://127.0.0.1:9000\nhandler = echo.js\n`;
  const r = load(text);
  t.equal(r.config, null);
  t.same(r.loadable.groups.map((g) => g.name), ['good', 'clash'], 'a global problem does not stop the groups from being loaded');
  t.equal(r.loadable.handlersDir, HANDLERS);
  const gone = load(text.replace('stop_timeout = 0', 'handlers_dir = nope'));
  t.equal(gone.loadable.handlersDir, null, 'nothing can be loaded without handlers_dir');
});

t.test('user = needs root to switch to another uid: a config line, found before anything starts', async (t) => {
  const realGetuid = process.getuid;
  t.teardown(() => { process.getuid = realGetuid; });
  process.getuid = () => 1000;
  const text = `${GLOBAL}user = 0\n\n${group('text://127.0.0.1:9000')}`;
  expectLines(t, text, [['user = 0', ' [loom] user: workers can switch to "0" (uid 0) only when loom runs as root, and it runs as uid 1000: start it as root, or remove user']]);
  const self = load(`${GLOBAL}user = 1000\n\n${group('text://127.0.0.1:9000')}`);
  t.same(self.problems, [], 'the user loom already runs as needs no root');
  t.match(self.config?.user, { uid: 1000 });
  process.getuid = () => 0;
  t.same(load(text).config?.user, { name: 'root', uid: 0, gid: 0 }, 'root may switch to anyone');
});

t.test('user and group problems', async (t) => {
  expectLines(t, `${GLOBAL}user = no-such-user-here\n\n${group('text://127.0.0.1:9000')}`, [['user =', ' [loom] user: no such user "no-such-user-here"']]);
  expectLines(t, `${GLOBAL}user = root\ngroup = no-such-group-here\n\n${group('text://127.0.0.1:9000')}`, [['group =', ' [loom] group: no such group "no-such-group-here"']]);
  expectLines(t, `${GLOBAL}group = root\n\n${group('text://127.0.0.1:9000')}`, [['group =', ' [loom] group: group without user: set user too']]);
  // A lookup that fails (NSS unreachable) is said as such, not taken for "no such user".
  const bin = mkdtempSync(join(DIR, 'bin-'));
  writeFileSync(join(bin, 'getent'), '#!/bin/sh\nexit 3\n', { mode: 0o755 });
  const path = process.env.PATH;
  process.env.PATH = bin;
  try {
    expectLines(t, `${GLOBAL}user = someone\n\n${group('text://127.0.0.1:9000')}`, [['user =', ' [loom] user: cannot look up user "someone" (getent passwd: exit 3)']]);
  } finally {
    process.env.PATH = path;
  }
});

t.test('not clashes: another transport on the same port, IPv4 any beside IPv6 loopback, a custom protocol over unix', async (t) => {
  const text = `${GLOBAL}
[t]\nlisten = text://127.0.0.1:9000\nhandler = echo.js
[u]\nlisten = udp://127.0.0.1:9000\nhandler = echo.js
[v4]\nlisten = frame://0.0.0.0:9001\nhandler = echo.js
[v6]\nlisten = frame://[::1]:9001\nhandler = echo.js
[j]\nlisten = jsonnl+unix://${DIR}/j.sock\nhandler = echo.js
`;
  t.same(load(text).problems, []);
});
