// user/group: workers run as that user and still serve the socket the master (root) bound;
// the control socket (mode 0600) refuses any other user.
import t from 'tap';
import { spawn } from 'node:child_process';
import { chmodSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { freePort, LOOM, loom, sandbox, startDaemon, statusJson } from '../helpers/loom';
import { textClient } from '../helpers/clients';

const isRoot = process.getuid?.() === 0;

function uidOf(pid: number): number {
  const line = readFileSync(`/proc/${pid}/status`, 'utf8').split('\n').find((l) => l.startsWith('Uid:'));
  return Number(line?.split(/\s+/)[1]);
}

function runAs(uid: number, args: string[]): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, args, { uid, gid: uid, stdio: ['ignore', 'ignore', 'pipe'], cwd: '/' });
    let stderr = '';
    child.stderr.on('data', (c) => { stderr += c; });
    child.on('close', (code) => resolve({ code, stderr }));
  });
}

t.test('workers drop to user = nobody; the control socket refuses nobody', { skip: !isRoot && 'needs root' }, async (t) => {
  const port = await freePort();
  const sb = sandbox({
    groups: `[echo]\nlisten = text://127.0.0.1:${port}\ncount = 2\nhandler = echo.js\n`,
    global: 'watch = false\nuser = nobody\ngroup = nogroup',
    files: { 'echo.js': `module.exports = { onMessage(c, d) { c.send(process.getuid() + ':' + d); } };` },
  });
  // mkdtemp makes the sandbox private to root; nobody must be able to read the handlers.
  chmodSync(sb.dir, 0o755);
  chmodSync(sb.handlers, 0o755);
  chmodSync(join(sb.handlers, 'echo.js'), 0o644);
  await startDaemon(t, sb);

  const s = await statusJson(sb);
  t.equal(s.processes.length, 2);
  for (const p of s.processes) t.equal(uidOf(p.pid), 65534, `worker ${p.pid} runs as nobody`);
  t.equal(uidOf(s.masterPid), 0, 'the master keeps root');

  const c = await textClient(port);
  c.write('hi\n');
  t.equal((await c.messages.next()).toString(), '65534:hi', 'a worker running as nobody serves the port bound by root');
  c.socket.destroy();

  // The CLI itself, run as nobody: one clear line, non-zero exit.
  const asNobody = await runAs(65534, [LOOM, 'status', '-c', sb.config]);
  t.not(asNobody.code, 0);
  t.match(asNobody.stderr, /permission denied/);
  const own = await loom(['status', '-c', sb.config]);
  t.equal(own.code, 0, 'root, the owner, is answered');
});

t.test('a user that does not exist is a config error', async (t) => {
  const sb = sandbox({
    groups: `[echo]\nlisten = text://127.0.0.1:1\nhandler = echo.js\n`,
    global: 'user = no-such-user-here',
    files: { 'echo.js': 'module.exports = {};' },
  });
  const r = await loom(['check', '-c', sb.config]);
  t.equal(r.code, 2);
  t.match(r.stderr, /config\.ini:\d+ \[loom\] user: no such user "no-such-user-here"/);
});
