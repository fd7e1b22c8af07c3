// Supervision: workers never outlive a SIGKILLed master; a worker that exits is respawned in
// its slot (same worker id); a crash loop backs off instead of spinning.
import t from 'tap';
import { freePort, masterPid, sandbox, startDaemon, statusJson, waitFor, type StatusJson } from '../helpers/loom';
import { textClient } from '../helpers/clients';
import { daemonPids, killAll, running, waitGone, whoListens, within, portReleased } from '../helpers/procs';

t.test('master SIGKILLed: every worker exits on its own', async (t) => {
  const port = await freePort();
  const sb = sandbox({
    groups: `[echo]\nlisten = text://127.0.0.1:${port}\ncount = 2\nhandler = echo.js\n` +
      `[ticker]\ncount = 1\nhandler = ticker.js\n`,
    files: {
      'echo.js': `module.exports = { onMessage(c, d) { c.send('echo:' + d); } };`,
      // A timer keeps the event loop busy: the worker must still notice its master is gone.
      'ticker.js': `module.exports = { onWorkerStart(w) { w.timers.add(0.05, () => undefined); } };`,
    },
  });
  t.teardown(() => killAll(daemonPids(sb.config)));
  await startDaemon(t, sb);
  const pid = masterPid(sb);
  const st = await statusJson(sb);
  const workers = st.processes.map((p) => p.pid);
  t.equal(workers.length, 3, 'three workers in two groups');
  t.teardown(() => killAll(workers));
  const c = await textClient(port);
  c.write('x\n');
  t.equal((await c.messages.next()).toString(), 'echo:x');

  process.kill(pid, 'SIGKILL');
  await waitGone([pid], 'the master to die', 5000);
  await waitGone(workers, 'every worker to exit after its master died', 5000);
  t.pass('no worker outlived the master');
  t.same(daemonPids(sb.config), [], 'no process of this daemon left');
  t.ok(await portReleased(port), `nobody holds the port any more ${whoListens(port)}`);
  c.socket.destroy();
});

/** The live process of group/workerId, from status. */
function proc(st: StatusJson, group: string, workerId: number): StatusJson['processes'][number] | undefined {
  return st.processes.find((p) => p.group === group && p.workerId === workerId);
}

t.test('a worker that calls process.exit() is respawned with the same worker id', async (t) => {
  const port = await freePort();
  const sb = sandbox({
    groups: `[svc]\nlisten = text://127.0.0.1:${port}\ncount = 2\nhandler = svc.js\n`,
    files: {
      'svc.js': `module.exports = {
  onMessage(c, d) {
    if (d === 'die') process.exit(3);
    c.send(c.worker.id + ':' + process.pid);
  },
};`,
    },
  });
  t.teardown(() => killAll(daemonPids(sb.config)));
  await startDaemon(t, sb);
  const before = await statusJson(sb);
  t.equal(before.processes.length, 2);

  const c = await textClient(port);
  c.write('who\n');
  const [idText, pidText] = (await c.messages.next()).toString().split(':');
  const id = Number(idText);
  const victim = Number(pidText);
  t.equal(proc(before, 'svc', id)?.pid, victim, 'status names the worker that answered');
  const other = proc(before, 'svc', 1 - id)!;

  c.write('die\n');
  await within(c.closed, 5000, 'the dying worker\'s connection to close');
  await waitGone([victim], 'the worker to exit', 5000);

  const after = await waitFor(async () => {
    const st = await statusJson(sb);
    const p = proc(st, 'svc', id);
    return p && p.pid !== victim && p.state === 'running' ? st : null;
  }, `worker #${id} to be respawned`, 10000);
  const respawned = proc(after, 'svc', id)!;
  t.not(respawned.pid, victim, `worker #${id} runs under a new pid`);
  t.ok(running(respawned.pid));
  t.equal(proc(after, 'svc', 1 - id)?.pid, other.pid, 'the other worker was not touched');
  t.equal(after.processes.length, 2, 'still two processes');
  const g = after.groups.find((x) => x.name === 'svc')!;
  t.equal(g.deaths, 1, 'one death counted');
  t.same(g.exitStatuses, { 3: 1 }, 'exit status 3 counted once');
  t.match(sb.log(), new RegExp(`worker #${id} pid ${victim} exited with status 3`), 'the log tells');

  // The group serves after the respawn; whoever answers is one of the two live workers.
  const expected = new Set([`${id}:${respawned.pid}`, `${1 - id}:${other.pid}`]);
  for (let i = 0; i < 6; i++) {
    const d = await textClient(port);
    d.write('who\n');
    const who = (await d.messages.next()).toString();
    d.socket.destroy();
    t.ok(expected.has(who), `connection ${i} answered by a live worker (${who})`);
  }
  c.socket.destroy();
});

t.test('a crash loop backs off', async (t) => {
  const sb = sandbox({
    groups: `[crash]\ncount = 1\nhandler = crash.js\n`,
    files: { 'crash.js': `module.exports = { onWorkerStart() { setTimeout(() => process.exit(1), 20); } };` },
  });
  t.teardown(() => killAll(daemonPids(sb.config)));
  await startDaemon(t, sb);
  const pid = masterPid(sb);

  // An observation window of 3 s (longer only if a loaded machine is slow to show three
  // restarts): without backoff a 20 ms crash loop would restart some 15 times in it.
  const t0 = Date.now();
  const backoffLines = () => sb.log().match(/restarting in \d+ ms/g)?.length ?? 0;
  await waitFor(() => backoffLines() >= 3, 'three restarts of the crashing worker', 10000);
  await new Promise((r) => setTimeout(r, Math.max(0, t0 + 3000 - Date.now())));
  const WINDOW_MS = Date.now() - t0;

  t.ok(running(pid), 'the master lives on');
  const st = await statusJson(sb);
  const g = st.groups.find((x) => x.name === 'crash')!;
  t.ok(g.deaths >= 3, `it did crash repeatedly (${g.deaths} deaths)`);
  t.ok(g.deaths < 10, `few restarts in ${WINDOW_MS} ms (${g.deaths} deaths)`);
  t.equal(g.exitStatuses['1'], g.deaths, 'every death counted with exit status 1');

  const delays = [...sb.log().matchAll(/worker #0 died young (\d+) time\(s\) in a row; restarting in (\d+) ms/g)]
    .map((m) => ({ n: Number(m[1]), ms: Number(m[2]) }));
  t.ok(delays.length >= 3, `the log shows the backoff (${JSON.stringify(delays)})`);
  t.same(delays.map((d) => d.n), delays.map((_, i) => i + 1), 'young deaths counted 1, 2, 3...');
  t.ok(delays.every((d, i) => i === 0 || d.ms > delays[i - 1].ms), `growing delays: ${delays.map((d) => d.ms).join(', ')} ms`);
});
