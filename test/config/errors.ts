// Every class of config.ini error: `loom check` and `loom start -d` both exit 2, print one
// line `FILE:LINE [section] key: message` with the right line, and start nothing.
import t, { type Test } from 'tap';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { freePort, loom, sandbox, type Sandbox } from '../helpers/loom';

const HANDLERS = {
  'echo.js': `module.exports = { onMessage(c, d) { c.send(d); } };`,
  'protocols/jsonnl.js': `module.exports = { input(b) { const i = b.indexOf(10); return i < 0 ? 0 : i + 1; }, decode(b) { return b.toString(); }, encode(d) { return d + '\\n'; } };`,
};

/** The [loom] section every case starts from: only the paths, inside the sandbox. */
function globalSection(sb: Sandbox, extra = ''): string {
  return `[loom]\npid_file = ${sb.pidFile}\nlog_file = ${sb.logFile}\nstdout_file = ${sb.stdoutFile}\n${extra}`;
}

/** 1-based number of the line that contains `needle`; exactly one must. */
function lineOf(text: string, needle: string, nth = 1): number {
  const hits = text.split('\n').map((l, i) => (l.includes(needle) ? i + 1 : 0)).filter((n) => n > 0);
  if (hits.length < nth) throw new Error(`"${needle}" not in config:\n${text}`);
  return hits[nth - 1];
}

function escapeRe(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

interface Expect {
  /** Text on the offending line (the nth line containing it); null: no line, the file is at fault. */
  at: string | null;
  nth?: number;
  /** '' for a problem outside any section. */
  section: string;
  /** '' for a problem with no key (a section header). */
  key: string;
  message: RegExp;
}

/** The regexp of one reported line. */
function lineRe(file: string, line: number | null, section: string, key: string, message: RegExp): RegExp {
  const where = `${escapeRe(file)}${line === null ? '' : `:${line}`}${section ? ` \\[${escapeRe(section)}\\]` : ''}${key ? ` ${escapeRe(key)}` : ''}: `;
  return new RegExp(`^LOOM_ERR_CONFIG ${where}.*${message.source}`, 'm');
}

async function expectRejected(t: Test, sb: Sandbox, config: string, problems: Expect[]): Promise<void> {
  writeFileSync(sb.config, config);
  for (const args of [['check'], ['start', '-d']]) {
    const run = await loom([...args, '-c', sb.config]);
    const cmd = `loom ${args.join(' ')}`;
    t.equal(run.code, 2, `${cmd} exits 2`, { stderr: run.stderr, stdout: run.stdout });
    for (const p of problems) {
      const line = p.at === null ? null : lineOf(config, p.at, p.nth);
      t.match(run.stderr, lineRe(sb.config, line, p.section, p.key, p.message), `${cmd}: line ${line} [${p.section}] ${p.key}`);
    }
    t.notMatch(run.stderr, /^\s+at /m, `${cmd}: no stack trace`);
    t.notMatch(run.stdout, /started/, `${cmd}: nothing started`);
    t.notOk(existsSync(sb.pidFile), `${cmd}: no pid file`);
  }
}

interface Case extends Expect {
  name: string;
  /** Group sections (and whatever follows [loom]); P is replaced by a free port. */
  groups: string;
  /** Extra [loom] lines. */
  global?: string;
  /** Replaces the whole file. */
  whole?: (sb: Sandbox, port: number) => string;
}

const group = (listen: string, extra = '') => `[echo]\nlisten = ${listen}\nhandler = echo.js\n${extra}`;

const CASES: Case[] = [
  // unknown keys
  { name: 'typo suggests the nearest key', groups: group('text://127.0.0.1:P', 'cuont = 2\n'), at: 'cuont', section: 'echo', key: 'cuont', message: /unknown key; did you mean "count"\?/ },
  { name: 'typo in [loom]', groups: group('text://127.0.0.1:P'), global: 'stop_timout = 3\n', at: 'stop_timout', section: 'loom', key: 'stop_timout', message: /did you mean "stop_timeout"\?/ },
  { name: 'unknown key with no near match', groups: group('text://127.0.0.1:P', 'flavour = vanilla\n'), at: 'flavour', section: 'echo', key: 'flavour', message: /unknown key/ },
  // wrong section
  { name: 'global key in a group', groups: group('text://127.0.0.1:P', 'pid_file = other.pid\n'), at: 'pid_file = other.pid', section: 'echo', key: 'pid_file', message: /belongs in \[loom\]/ },
  { name: 'group key in [loom]', groups: group('text://127.0.0.1:P'), global: 'count = 4\n', at: 'count = 4', section: 'loom', key: 'count', message: /belongs in a group section/ },
  // wrong types
  { name: 'count = abc', groups: group('text://127.0.0.1:P', 'count = abc\n'), at: 'count = abc', section: 'echo', key: 'count', message: /"abc" is not a number/ },
  { name: 'count = 1.5', groups: group('text://127.0.0.1:P', 'count = 1.5\n'), at: 'count = 1.5', section: 'echo', key: 'count', message: /not a whole number/ },
  { name: 'count = 0x10', groups: group('text://127.0.0.1:P', 'count = 0x10\n'), at: 'count = 0x10', section: 'echo', key: 'count', message: /not a number/ },
  { name: 'reloadable = maybe', groups: group('text://127.0.0.1:P', 'reloadable = maybe\n'), at: 'reloadable', section: 'echo', key: 'reloadable', message: /"maybe" is not a boolean/ },
  { name: 'watch = sometimes', groups: group('text://127.0.0.1:P'), global: 'watch = sometimes\n', at: 'watch', section: 'loom', key: 'watch', message: /not a boolean/ },
  { name: 'name with a space', groups: group('text://127.0.0.1:P'), global: 'name = my loom\n', at: 'name = my loom', section: 'loom', key: 'name', message: /may contain only/ },
  // empty values
  { name: 'count with no value', groups: group('text://127.0.0.1:P', 'count =\n'), at: 'count =', section: 'echo', key: 'count', message: /empty value/ },
  { name: 'listen with no value', groups: '[echo]\nlisten =   ; nothing\nhandler = echo.js\n', at: 'listen =', section: 'echo', key: 'listen', message: /empty value/ },
  { name: 'handler with no value', groups: '[echo]\nlisten = text://127.0.0.1:P\nhandler =\n', at: 'handler =', section: 'echo', key: 'handler', message: /empty value/ },
  { name: 'key without "="', groups: group('text://127.0.0.1:P', 'reloadable\n'), at: 'reloadable', section: 'echo', key: 'reloadable', message: /expected key = value/ },
  // out of range
  { name: 'count = 0', groups: group('text://127.0.0.1:P', 'count = 0\n'), at: 'count = 0', section: 'echo', key: 'count', message: /0 is out of range 1-/ },
  { name: 'max_package_size = -1', groups: group('text://127.0.0.1:P', 'max_package_size = -1\n'), at: 'max_package_size', section: 'echo', key: 'max_package_size', message: /-1 is out of range/ },
  { name: 'max_send_buffer_size = 0', groups: group('text://127.0.0.1:P', 'max_send_buffer_size = 0\n'), at: 'max_send_buffer_size', section: 'echo', key: 'max_send_buffer_size', message: /out of range/ },
  { name: 'stop_timeout = 0', groups: group('text://127.0.0.1:P'), global: 'stop_timeout = 0\n', at: 'stop_timeout', section: 'loom', key: 'stop_timeout', message: /0 is out of range/ },
  // listen URLs
  { name: 'bad characters in the scheme', groups: group('te$t://127.0.0.1:P'), at: 'listen', section: 'echo', key: 'listen', message: /not protocol:\/\/host:port/ },
  { name: 'no scheme at all', groups: group('127.0.0.1:P'), at: 'listen', section: 'echo', key: 'listen', message: /not protocol:\/\/host:port/ },
  { name: 'missing port', groups: group('text://127.0.0.1'), at: 'listen', section: 'echo', key: 'listen', message: /missing ":port"/ },
  { name: 'missing host', groups: group('text://:P'), at: 'listen', section: 'echo', key: 'listen', message: /missing host/ },
  { name: 'port 0', groups: group('text://127.0.0.1:0'), at: 'listen', section: 'echo', key: 'listen', message: /port 0 is out of range 1-65535/ },
  { name: 'port 70000', groups: group('text://127.0.0.1:70000'), at: 'listen', section: 'echo', key: 'listen', message: /port 70000 is out of range 1-65535/ },
  { name: 'port not a number', groups: group('text://127.0.0.1:http'), at: 'listen', section: 'echo', key: 'listen', message: /port "http" is not a number/ },
  { name: 'IPv6 without brackets', groups: group('tcp://::1:P'), at: 'listen', section: 'echo', key: 'listen', message: /must be in brackets/ },
  { name: 'IPv6 missing the closing bracket', groups: group('tcp://[::1:P'), at: 'listen', section: 'echo', key: 'listen', message: /lacks the closing "\]"/ },
  { name: 'not an IPv6 address in brackets', groups: group('tcp://[1.2.3.4]:P'), at: 'listen', section: 'echo', key: 'listen', message: /not an IPv6 address/ },
  { name: 'bad host name', groups: group('tcp://bad_host!:P'), at: 'listen', section: 'echo', key: 'listen', message: /not an IP address or host name/ },
  { name: 'unix path not absolute', groups: group('unix://run/loom.sock'), at: 'listen', section: 'echo', key: 'listen', message: /must be absolute/ },
  { name: 'udp over unix', groups: group('udp+unix:///tmp/loom.sock'), at: 'listen', section: 'echo', key: 'listen', message: /udp cannot run over a unix socket/ },
  { name: 'a protocol over udp', groups: group('jsonnl+udp://127.0.0.1:P'), at: 'listen', section: 'echo', key: 'listen', message: /cannot run over udp/ },
  { name: 'three-part scheme', groups: group('text+frame+unix:///tmp/x.sock'), at: 'listen', section: 'echo', key: 'listen', message: /is not NAME/ },
  // two groups on one address
  {
    name: 'two groups on one address',
    groups: `[a]\nlisten = text://127.0.0.1:P\nhandler = echo.js\n\n[b]\nlisten = frame://127.0.0.1:P\nhandler = echo.js\n`,
    at: 'listen = frame', section: 'b', key: 'listen', message: /127\.0\.0\.1:\d+ is already used by \[a\]/,
  },
  {
    name: '0.0.0.0:P and 127.0.0.1:P clash',
    groups: `[a]\nlisten = text://0.0.0.0:P\nhandler = echo.js\n\n[b]\nlisten = text://127.0.0.1:P\nhandler = echo.js\n`,
    at: 'listen = text://127', section: 'b', key: 'listen', message: /already used by \[a\]/,
  },
  {
    name: '[::]:P and 127.0.0.1:P clash',
    groups: `[a]\nlisten = tcp://[::]:P\nhandler = echo.js\n\n[b]\nlisten = tcp://127.0.0.1:P\nhandler = echo.js\n`,
    at: 'listen = tcp://127', section: 'b', key: 'listen', message: /already used by \[a\]/,
  },
  {
    name: 'two spellings of one IPv6 address clash',
    groups: `[a]\nlisten = tcp://[::1]:P\nhandler = echo.js\n\n[b]\nlisten = tcp://[0:0::1]:P\nhandler = echo.js\n`,
    at: 'listen = tcp://[0:0', section: 'b', key: 'listen', message: /already used by \[a\]/,
  },
  {
    name: 'one unix socket path twice',
    groups: `[a]\nlisten = unix:///tmp/loom-clash.sock\nhandler = echo.js\n\n[b]\nlisten = text+unix:///tmp/loom-clash.sock\nhandler = echo.js\n`,
    at: 'text+unix', section: 'b', key: 'listen', message: /already used by \[a\]/,
  },
  {
    name: 'unix socket in a directory that does not exist',
    groups: group('unix:///no/such/dir/loom.sock'), at: 'listen', section: 'echo', key: 'listen', message: /directory \/no\/such\/dir of the socket does not exist/,
  },
  // handler files and protocols
  { name: 'missing handler file', groups: '[echo]\nlisten = text://127.0.0.1:P\nhandler = nope.js\n', at: 'nope.js', section: 'echo', key: 'handler', message: /no such file .*nope\.js/ },
  { name: 'handler with a bad extension', groups: '[echo]\nlisten = text://127.0.0.1:P\nhandler = echo.py\n', at: 'echo.py', section: 'echo', key: 'handler', message: /"echo\.py" must end in \.js, \.cjs, \.mjs, \.ts/ },
  { name: 'handler without extension suggests the file', groups: '[echo]\nlisten = text://127.0.0.1:P\nhandler = echo\n', at: 'handler = echo', section: 'echo', key: 'handler', message: /did you mean "echo\.js"\?/ },
  { name: 'group without a handler', groups: '[echo]\nlisten = text://127.0.0.1:P\ncount = 2\n', at: '[echo]', section: 'echo', key: 'handler', message: /missing/ },
  { name: 'unknown custom protocol', groups: group('nosuch://127.0.0.1:P'), at: 'listen', section: 'echo', key: 'listen', message: /unknown protocol "nosuch": no .*protocols\/nosuch/ },
  { name: 'unknown custom protocol over unix', groups: group('nosuch+unix:///tmp/loom-x.sock'), at: 'listen', section: 'echo', key: 'listen', message: /unknown protocol "nosuch"/ },
  { name: 'handlers_dir missing', groups: group('text://127.0.0.1:P'), global: 'handlers_dir = no/such/dir\n', at: 'handlers_dir', section: 'loom', key: 'handlers_dir', message: /is not a directory/ },
  // structure of the file
  {
    name: 'key outside any section',
    groups: group('text://127.0.0.1:P'),
    whole: (sb, port) => `name = early\n${globalSection(sb)}\n${group(`text://127.0.0.1:${port}`)}`,
    at: 'name = early', section: '', key: 'name', message: /key outside any section/,
  },
  { name: 'duplicate key', groups: group('text://127.0.0.1:P', 'count = 2\ncount = 3\n'), at: 'count = 3', section: 'echo', key: 'count', message: /key repeated \(first at line \d+\)/ },
  {
    name: 'duplicate section',
    groups: `${group('text://127.0.0.1:P')}\n[echo]\ncount = 2\n`,
    at: '[echo]', nth: 2, section: 'echo', key: '', message: /section repeated \(first at line \d+\)/,
  },
  { name: 'section name with a dot', groups: '[echo.v2]\nlisten = text://127.0.0.1:P\nhandler = echo.js\n', at: '[echo.v2]', section: 'echo.v2', key: '', message: /may contain only letters, digits/ },
  { name: 'unclosed section header', groups: `${group('text://127.0.0.1:P')}\n[other\n`, at: '[other', section: '', key: '', message: /not a section header/ },
  { name: 'list values', groups: group('text://127.0.0.1:P', 'count[] = 2\n'), at: 'count[]', section: 'echo', key: 'count[]', message: /not supported/ },
  { name: 'no group at all', groups: '', at: null, section: '', key: '', message: /no worker group/ },
];

t.test('each config error class: exit 2, FILE:LINE [section] key, nothing started', { jobs: 6 }, async (t) => {
  const port = await freePort();
  for (const c of CASES) {
    void t.test(c.name, async (t) => {
      const sb = sandbox({ groups: '', files: HANDLERS });
      const config = c.whole
        ? c.whole(sb, port)
        : `${globalSection(sb, c.global)}\n${c.groups.replace(/:P\b/g, `:${port}`)}`;
      await expectRejected(t, sb, config, [c]);
    });
  }
});

t.test('missing config file', async (t) => {
  const sb = sandbox({ groups: '' });
  const missing = join(sb.dir, 'nope.ini');
  for (const args of [['check'], ['start', '-d']]) {
    const run = await loom([...args, '-c', missing]);
    t.equal(run.code, 2, `loom ${args.join(' ')} exits 2`);
    t.match(run.stderr, new RegExp(`^LOOM_ERR_CONFIG ${escapeRe(missing)}: no such file`, 'm'));
    t.notMatch(run.stderr, /^\s+at /m);
  }
});

t.test('several problems in one file: all listed, sorted by line', async (t) => {
  const port = await freePort();
  const sb = sandbox({ groups: '', files: HANDLERS });
  // Problems written out of key order, so sorting is by line and not by kind.
  const config = `${globalSection(sb, 'stop_timeout = 0\n')}
[b]
listen = text://127.0.0.1:${port}
handler = missing.js
cuont = 2

[a]
listen = frame://127.0.0.1:${port}
handler = echo.js
count = abc
reloadable = maybe
max_package_size = -1

[c]
listen = tcp://[::1:${port}
handler = echo.js
handler = echo.js
`;
  const expected: Expect[] = [
    { at: 'stop_timeout', section: 'loom', key: 'stop_timeout', message: /out of range/ },
    { at: 'missing.js', section: 'b', key: 'handler', message: /no such file/ },
    { at: 'cuont', section: 'b', key: 'cuont', message: /did you mean "count"/ },
    { at: 'listen = frame', section: 'a', key: 'listen', message: /already used by \[b\]/ },
    { at: 'count = abc', section: 'a', key: 'count', message: /not a number/ },
    { at: 'reloadable', section: 'a', key: 'reloadable', message: /not a boolean/ },
    { at: 'max_package_size', section: 'a', key: 'max_package_size', message: /out of range/ },
    { at: 'listen = tcp', section: 'c', key: 'listen', message: /closing/ },
    { at: 'handler = echo.js', nth: 3, section: 'c', key: 'handler', message: /key repeated/ },
  ];
  await expectRejected(t, sb, config, expected);
  const run = await loom(['check', '-c', sb.config]);
  const lines = run.stderr.trim().split('\n');
  t.equal(lines.length, expected.length, 'one line per problem, nothing else', { stderr: run.stderr });
  const numbers = lines.map((l) => Number(l.slice(`LOOM_ERR_CONFIG ${sb.config}:`.length).split(' ')[0]));
  t.same(numbers, expected.map((e) => lineOf(config, e.at ?? "", e.nth)), "sorted by line");
});

t.test('valid configs in the same sandbox layout pass check', async (t) => {
  // Guards the cases above: they fail for their one reason, not for the common base.
  const port = await freePort();
  const sb = sandbox({ groups: '', files: HANDLERS });
  const groups = [
    group(`text://127.0.0.1:${port}`),
    `[j]\nlisten = jsonnl+unix://${sb.dir}/j.sock\nhandler = echo.js\n`,
    // Not clashes: another transport on the same port, and IPv4 any next to IPv6 loopback.
    `[u]\nlisten = udp://127.0.0.1:${port}\nhandler = echo.js\n`,
    `[v4]\nlisten = frame://0.0.0.0:${port + 1}\nhandler = echo.js\n`,
    `[v6]\nlisten = frame://[::1]:${port + 1}\nhandler = echo.js\n`,
    // Values in quotes and with comments, keys in any order, CRLF line ends.
    `[q]\r\nhandler = "echo.js" ; quoted\r\ncount = 2 # two processes\r\nreloadable = no\r\n`,
  ];
  writeFileSync(sb.config, `${globalSection(sb)}\n${groups.join('\n')}`);
  const run = await loom(['check', '-c', sb.config]);
  t.equal(run.code, 0, run.stderr);
});
