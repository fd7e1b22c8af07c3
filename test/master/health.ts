// What status tells an operator about a sick worker: a blocked event loop (unresponsive, and
// killed at hang_timeout), running out of file descriptors (connections dropped), and a group
// whose processes run different handler versions after a reload stopped part-way.
import t from 'tap';
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { connect, type Socket } from 'node:net';
import { freePort, LOOM, loom, sandbox, startDaemon, statusJson, waitFor, type Sandbox } from '../helpers/loom';
import { textClient } from '../helpers/clients';
import { daemonPids, killAll } from '../helpers/procs';

interface ProcessRow { pid: number; group: string; workerId: number; state: string; handlerVersion: string | null; fdExhausted: number; files: number | null; fileLimit: number | null }
interface GroupRow { name: string; deaths: number; handlerVersions: string[] }
async function status(sb: Sandbox): Promise<{ processes: ProcessRow[]; groups: GroupRow[] }> {
  return (await statusJson(sb)) as unknown as { processes: ProcessRow[]; groups: GroupRow[] };
}

const HANGS = `module.exports = { onMessage(c, d) { if (d === 'hang') for (;;) {} c.send('ok ' + d); } };`;

t.test('a worker in an endless loop shows as unresponsive; hang_timeout kills and restarts it', async (t) => {
  const [port1, port2] = [await freePort(), await freePort()];
  const watched = sandbox({ groups: `[spin]\nlisten = text://127.0.0.1:${port1}\nhandler = hangs.js\n`, global: 'watch = false', files: { 'hangs.js': HANGS } });
  const killed = sandbox({ groups: `[spin]\nlisten = text://127.0.0.1:${port2}\nhandler = hangs.js\n`, global: 'watch = false\nhang_timeout = 1', files: { 'hangs.js': HANGS } });
  await Promise.all([startDaemon(t, watched), startDaemon(t, killed)]);
  const before = { watched: (await status(watched)).processes[0].pid, killed: (await status(killed)).processes[0].pid };
  for (const port of [port1, port2]) (await textClient(port)).write('hang\n');

  const row = await waitFor(async () => (await status(watched)).processes.find((p) => p.state === 'unresponsive'), 'status to show the blocked worker as unresponsive', 20000);
  t.equal(row.pid, before.watched, 'hang_timeout = 0: the blocked worker is shown, not killed');
  t.match(watched.log(), /LOOM_ERR_WORKER_HUNG \[spin\] worker #0 pid \d+ has not answered for \d+ s/, 'the log says so');

  const fresh = await waitFor(async () => (await status(killed)).processes.find((p) => p.pid !== before.killed && p.state === 'running'), 'the hung worker to be replaced', 20000);
  t.equal(fresh.workerId, 0, 'the replacement keeps the worker id');
  t.match(killed.log(), /LOOM_ERR_WORKER_HUNG \[spin\] worker #0 pid \d+ did not answer for \d+ s \(hang_timeout\); killing it/);
  t.equal((await status(killed)).groups[0].deaths, 1, 'counted as a death');
  const c = await textClient(port2);
  c.write('hi\n');
  t.equal((await c.messages.next()).toString(), 'ok hi', 'the replacement serves');
  c.socket.destroy();
});

t.test('out of file descriptors: status and the log say connections are dropped', async (t) => {
  const port = await freePort();
  const sb = sandbox({ groups: `[echo]\nlisten = text://127.0.0.1:${port}\nhandler = echo.js\n`, global: 'watch = false', files: { 'echo.js': `module.exports = { onMessage(c, d) { c.send(d); } };` } });
  // The daemon inherits a limit of 64 open files: a few dozen connections exhaust a worker.
  const run = await new Promise<number | null>((resolve) => {
    spawn('prlimit', ['--nofile=64:64', process.execPath, LOOM, 'start', '-d', '-c', sb.config], { stdio: 'ignore' }).on('close', resolve);
  });
  t.teardown(() => killAll(daemonPids(sb.config)));
  t.equal(run, 0, 'started under a 64-file limit');
  const sockets: Socket[] = [];
  t.teardown(() => { for (const s of sockets) s.destroy(); });
  for (let i = 0; i < 100; i++) {
    const s = connect(port, '127.0.0.1');
    s.on('error', () => undefined);
    sockets.push(s);
  }
  const row = await waitFor(async () => (await status(sb)).processes.find((p) => p.fdExhausted > 0), 'status to count the exhaustion', 15000);
  t.equal(row.fileLimit, 64, 'status shows the limit');
  await waitFor(() => /LOOM_ERR_ACCEPT text:\/\/127\.0\.0\.1:\d+: out of file descriptors \(limit 64\).*raise LimitNOFILE/.test(sb.log()), 'the log line');
  const table = await loom(['status', '-c', sb.config]);
  t.match(table.stdout, /\d+\/64 out:\d+s/, 'the status table shows it');
  await loom(['stop', '-c', sb.config]);
});

t.test('a reload stopped part-way leaves a group on two handler versions, and status says so', async (t) => {
  const port = await freePort();
  const sb = sandbox({
    groups: `[web]\nlisten = text://127.0.0.1:${port}\ncount = 2\nhandler = app.js\n`,
    global: 'watch = false',
    files: { 'app.js': `module.exports = { onMessage(c, d) { c.send('v1'); } };` },
  });
  await startDaemon(t, sb);
  const v1 = (await status(sb)).groups[0].handlerVersions;
  t.equal(v1.length, 1, 'one version after start');
  // The new version cannot start as worker #1: the reload replaces #0, then stops.
  writeFileSync(join(sb.handlers, 'app.js'), `module.exports = { onWorkerStart(w) { if (w.id === 1) throw new Error('no'); }, onMessage(c, d) { c.send('v2'); } };`);
  const r = await loom(['reload', '-c', sb.config]);
  t.equal(r.code, 1, 'the reload reports the failure');
  const s = await status(sb);
  t.equal(s.groups[0].handlerVersions.length, 2, 'two versions in the group');
  t.ok(s.groups[0].handlerVersions.includes(v1[0]), 'one of them the old');
  const byId = new Map(s.processes.map((p) => [p.workerId, p.handlerVersion]));
  t.not(byId.get(0), byId.get(1), 'worker #0 and #1 run different versions');
  t.equal(byId.get(1), v1[0], 'worker #1 kept the old code');
  const table = await loom(['status', '-c', sb.config]);
  t.match(table.stdout, /MIXED [0-9a-f]{8} [0-9a-f]{8}/, 'the group row says MIXED');
  t.match(table.stdout, /\[web\] processes run 2 different handler versions/);
});
