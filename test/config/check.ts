// `loom check` through the real CLI: validates config.ini and loads every handler and protocol
// module without starting anything; exit 0, or exit 2 with one line per problem, each with
// its code and the file and line at fault. (Config problems one by one: test/unit/config-*.ts.)
import t from 'tap';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { loom, ROOT, sandbox } from '../helpers/loom';

const ECHO = `module.exports = { onMessage(c, d) { c.send(d); } };`;
const PROTOCOL = `module.exports = { input: (b) => b.length, decode: (b) => b, encode: (d) => d };\n`;

/** Group sections: [NAME] with handler FILE and, if given, a listen address (check binds nothing). */
const groups = (list: [name: string, handler: string, listen?: string][]) =>
  list.map(([name, handler, listen]) => `[${name}]\n${listen ? `listen = ${listen}\n` : ''}handler = ${handler}\n`).join('\n');

const stderrLines = (stderr: string) => stderr.split('\n').filter((l) => l !== '');

t.test('a valid config passes and starts nothing', async (t) => {
  const sb = sandbox({ groups: groups([['g', 'echo.js', 'text://127.0.0.1:19000']]), files: { 'echo.js': ECHO } });
  const run = await loom(['check', '-c', sb.config]);
  t.equal(run.code, 0, run.stderr);
  t.equal(run.stdout, 'configuration and handlers OK\n');
  t.equal(run.stderr, '');
  t.notOk(existsSync(sb.pidFile), 'nothing started');
});

t.test('the repository config.ini passes', async (t) => {
  const run = await loom(['check', '-c', join(ROOT, 'config.ini')]);
  t.equal(run.code, 0, run.stderr);
});

t.test('handlers and protocols of every kind load: .ts with types, .mjs, .cjs named exports, a custom protocol', async (t) => {
  const sb = sandbox({
    groups: groups([['ts', 'typed.ts'], ['esm', 'esm.mjs'], ['cjs', 'named.cjs'], ['raw', 'echo.js', 'raw://127.0.0.1:19000']]),
    files: {
      'typed.ts': `interface Conn { send(data: string): boolean | null }\ntype Msg = string;\nconst prefix: string = 'ts:';\nexport default {\n  onMessage(conn: Conn, data: Msg): void { conn.send(prefix + data); },\n};\n`,
      'esm.mjs': `export default { onMessage(c, d) { c.send(d); } };\n`,
      'named.cjs': `exports.onMessage = (c, d) => c.send(d);\n`,
      'echo.js': ECHO,
      'protocols/raw.js': PROTOCOL,
    },
  });
  const run = await loom(['check', '-c', sb.config]);
  t.equal(run.code, 0, run.stderr);
});

t.test('every broken handler and protocol module: one line each, with its code, file and line', async (t) => {
  const sb = sandbox({
    groups: groups([
      ['js', 'bad.js'], ['ts', 'bad.ts'], ['mjs', 'bad.mjs'], ['throws', 'throws.js'], ['odd', 'odd.js'],
      ['half', 'echo.js', 'half://127.0.0.1:19000'], ['broken', 'echo.js', 'broken://127.0.0.1:19001'],
    ]),
    files: {
      'bad.js': `module.exports = {\n  onMessage(c, d) {\n    c.send(d;\n  },\n};\n`,
      'bad.ts': `const n: number = 1;\nexport default {\n  onMessage(c: { send(d: string): void }, d: string) {\n    c.send(d;\n  },\n};\n`,
      'bad.mjs': `export default {\n  onMessage(c, d) {\n    c.send(d;\n  },\n};\n`,
      'throws.js': `const x = 1;\nthrow new Error('boom at load');\n`,
      'odd.js': `module.exports = { onMessage: 'reply' };\n`,
      'echo.js': ECHO,
      'protocols/half.js': `module.exports = { input: (b) => b.length, decode: (b) => b };\n`,
      'protocols/broken.ts': `export function input(b: Buffer): number {\n  return b.length\n}}\n`,
    },
  });
  const run = await loom(['check', '-c', sb.config]);
  t.equal(run.code, 2);
  const h = (f: string) => join(sb.handlers, f);
  const expected = [
    `LOOM_ERR_HANDLER_LOAD ${h('bad.js')}:3: SyntaxError: `,
    `LOOM_ERR_HANDLER_LOAD ${h('bad.ts')}:4: SyntaxError: `,
    `LOOM_ERR_HANDLER_LOAD ${h('bad.mjs')}:3: SyntaxError: `,
    `LOOM_ERR_HANDLER_LOAD ${h('throws.js')}:2`,
    `LOOM_ERR_HANDLER_LOAD ${h('odd.js')}: onMessage is string, not a function (group [odd])`,
    `LOOM_ERR_PROTOCOL ${h('protocols/half.js')}: exports no encode() function (group [half])`,
    `LOOM_ERR_PROTOCOL ${h('protocols/broken.ts')}:3: SyntaxError: `,
  ];
  const lines = stderrLines(run.stderr);
  t.equal(lines.length, expected.length, 'one line per problem, nothing else', { stderr: run.stderr });
  expected.forEach((start, i) => t.ok(lines[i]?.startsWith(start), `line ${i + 1} starts with ${start}`, { found: lines[i] }));
  t.match(lines[3], /boom at load \(group \[throws\]\)$/);
  t.notMatch(run.stderr, /^\s+at /m, 'no stack trace');
});

t.test('config problems do not hide handler problems: both are reported', async (t) => {
  const sb = sandbox({
    global: 'reload_timeout = 0',
    groups: groups([['good', 'echo.js'], ['broken', 'bad.js'], ['invalid', 'bad.js', 'text://127.0.0.1:0']]),
    files: { 'echo.js': ECHO, 'bad.js': `module.exports = {\n  onMessage(c, d) {\n    c.send(d;\n  },\n};\n` },
  });
  const run = await loom(['check', '-c', sb.config]);
  t.equal(run.code, 2);
  const lines = stderrLines(run.stderr);
  t.match(lines, [
    /^LOOM_ERR_CONFIG \S+config\.ini:\d+ \[loom\] reload_timeout: 0 is out of range 0\.1-86400$/,
    /^LOOM_ERR_CONFIG \S+config\.ini:\d+ \[invalid\] listen: port 0 is out of range 1-65535$/,
    new RegExp(`^LOOM_ERR_HANDLER_LOAD ${join(sb.handlers, 'bad.js')}:3: SyntaxError: .* \\(group \\[broken\\]\\)$`),
  ]);
  t.equal(lines.length, 3, 'bad.js is reported once, for the valid group that uses it', { stderr: run.stderr });
});

t.test('a handler that leaves a timer running does not keep check alive', async (t) => {
  const sb = sandbox({ groups: groups([['g', 'timer.js']]), files: { 'timer.js': `setInterval(() => {}, 1000);\n${ECHO}\n` } });
  // loom() kills the process at the deadline, which would leave code null.
  const run = await loom(['check', '-c', sb.config], { timeoutMs: 20000 });
  t.equal(run.code, 0, run.stderr);
});
