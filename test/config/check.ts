// `loom check`: validates config.ini and loads every handler and protocol module without
// starting anything; exit 0, or exit 2 naming each file and line at fault.
import t from 'tap';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { freePort, loom, ROOT, sandbox } from '../helpers/loom';

const ECHO = `module.exports = { onMessage(c, d) { c.send(d); } };`;

async function checkGroup(handler: string, files: Record<string, string>, listen?: string) {
  const port = await freePort();
  const sb = sandbox({
    groups: `[g]\n${listen ? `listen = ${listen.replace(':P', `:${port}`)}\n` : ''}handler = ${handler}\n`,
    files,
  });
  const run = await loom(['check', '-c', sb.config], { timeoutMs: 15000 });
  return { sb, run };
}

t.test('a valid config passes', async (t) => {
  const { sb, run } = await checkGroup('echo.js', { 'echo.js': ECHO }, 'text://127.0.0.1:P');
  t.equal(run.code, 0, run.stderr);
  t.match(run.stdout, /OK/);
  t.equal(run.stderr, '');
  t.notOk(existsSync(sb.pidFile), 'nothing started');
});

t.test('the repository config.ini passes', async (t) => {
  const run = await loom(['check', '-c', join(ROOT, 'config.ini')]);
  t.equal(run.code, 0, run.stderr);
  t.match(run.stdout, /OK/);
});

t.test('a .js handler with a syntax error: exit 2, handler file and line', async (t) => {
  const { sb, run } = await checkGroup('bad.js', { 'bad.js': `module.exports = {\n  onMessage(c, d) {\n    c.send(d;\n  },\n};\n` });
  t.equal(run.code, 2);
  t.match(run.stderr, `${join(sb.handlers, 'bad.js')}:3: SyntaxError`);
  t.match(run.stderr, /\[g\]/, 'names the group');
  t.notMatch(run.stderr, /^\s+at /m, 'no stack trace');
});

t.test('a .ts handler with a syntax error: exit 2, handler file and line', async (t) => {
  const { sb, run } = await checkGroup('bad.ts', { 'bad.ts': `const n: number = 1;\nexport default {\n  onMessage(c: { send(d: string): void }, d: string) {\n    c.send(d;\n  },\n};\n` });
  t.equal(run.code, 2);
  t.match(run.stderr, `${join(sb.handlers, 'bad.ts')}:4: SyntaxError`);
});

t.test('an .mjs handler with a syntax error: exit 2, handler file and line', async (t) => {
  const { sb, run } = await checkGroup('bad.mjs', { 'bad.mjs': `export default {\n  onMessage(c, d) {\n    c.send(d;\n  },\n};\n` });
  t.equal(run.code, 2);
  t.match(run.stderr, `${join(sb.handlers, 'bad.mjs')}:3: SyntaxError`);
});

t.test('a handler that throws while loading: exit 2, file and line', async (t) => {
  const { sb, run } = await checkGroup('throws.js', { 'throws.js': `const x = 1;\nthrow new Error('boom at load');\n` });
  t.equal(run.code, 2);
  t.match(run.stderr, `${join(sb.handlers, 'throws.js')}:2`);
  t.match(run.stderr, /boom at load/);
});

t.test('a .ts handler with type annotations loads', async (t) => {
  const { run } = await checkGroup('typed.ts', {
    'typed.ts': `interface Conn { send(data: string): boolean | null }
type Msg = string;
const prefix: string = 'ts:';
export default {
  onMessage(conn: Conn, data: Msg): void { conn.send(prefix + data); },
};
`,
  }, 'text://127.0.0.1:P');
  t.equal(run.code, 0, run.stderr);
});

t.test('an .mjs handler loads', async (t) => {
  const { run } = await checkGroup('esm.mjs', { 'esm.mjs': `export default { onMessage(c, d) { c.send(d); } };\n` }, 'text://127.0.0.1:P');
  t.equal(run.code, 0, run.stderr);
});

t.test('a .cjs handler with named exports loads', async (t) => {
  const { run } = await checkGroup('named.cjs', { 'named.cjs': `exports.onMessage = (c, d) => c.send(d);\n` }, 'text://127.0.0.1:P');
  t.equal(run.code, 0, run.stderr);
});

t.test('a callback that is not a function is reported', async (t) => {
  const { sb, run } = await checkGroup('odd.js', { 'odd.js': `module.exports = { onMessage: 'reply' };\n` });
  t.equal(run.code, 2);
  t.match(run.stderr, `${join(sb.handlers, 'odd.js')}: onMessage is string, not a function`);
});

t.test('custom protocol modules are loaded and checked too', async (t) => {
  const good = `module.exports = { input: (b) => b.length, decode: (b) => b, encode: (d) => d };\n`;
  const ok = await checkGroup('echo.js', { 'echo.js': ECHO, 'protocols/raw.js': good }, 'raw://127.0.0.1:P');
  t.equal(ok.run.code, 0, ok.run.stderr);

  const incomplete = await checkGroup('echo.js', { 'echo.js': ECHO, 'protocols/half.js': `module.exports = { input: (b) => b.length, decode: (b) => b };\n` }, 'half://127.0.0.1:P');
  t.equal(incomplete.run.code, 2);
  t.match(incomplete.run.stderr, `${join(incomplete.sb.handlers, 'protocols', 'half.js')}: exports no encode() function`);

  const broken = await checkGroup('echo.js', { 'echo.js': ECHO, 'protocols/broken.ts': `export function input(b: Buffer): number {\n  return b.length\n}}\n` }, 'broken://127.0.0.1:P');
  t.equal(broken.run.code, 2);
  t.match(broken.run.stderr, `${join(broken.sb.handlers, 'protocols', 'broken.ts')}:3: SyntaxError`);
});

t.test('a handler that leaves a timer running does not keep check alive', async (t) => {
  const started = Date.now();
  const { run } = await checkGroup('timer.js', { 'timer.js': `setInterval(() => {}, 1000);\n${ECHO}\n` });
  t.equal(run.code, 0, run.stderr);
  t.ok(Date.now() - started < 10000, 'check returned');
});
