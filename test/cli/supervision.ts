// Supervision: a worker that exits is respawned in its slot (same worker id); a crash loop
// backs off instead of spinning; workers never outlive a SIGKILLed master. One daemon serves
// all three, each on its own group; the master's death comes last.
import t from 'tap';
import { freePort, masterPid, sandbox, startDaemon, statusJson, waitFor, type StatusJson } from '../helpers/loom';
import { textClient } from '../helpers/clients';
import { daemonPids, killAll, logLineTime, running, waitGone, whoListens, within, portReleased } from '../helpers/procs';

/** The live process of group/workerId, from status. */
function proc(st: StatusJson, group: string, workerId: number): StatusJson['processes'][number] | undefined {
  return st.processes.find((p) => p.group === group && p.workerId === workerId);
}

t.test('supervision', async (t) => {
  const port = await freePort();
  const sb = sandbox({
    groups: `[svc]\nlisten = text://127.0.0.1:${port}\ncount = 2\nhandler = svc.js\n` +
      `[crash]\ncount = 1\nhandler = crash.js\n` +
      `[ticker]\ncount = 1\nhandler = ticker.js\n`,
    global: 'watch = false',
    files: {
      'svc.js': `module.exports = {
  onMessage(c, d) {
    if (d === 'die') process.exit(3);
    c.send(c.worker.id + ':' + process.pid);
  },
};`,
      'crash.js': `module.exports = { onWorkerStart() { setTimeout(() => process.exit(1), 20); } };`,
      // A timer keeps the event loop busy: the worker must still notice its master is gone.
      'ticker.js': `module.exports = { onWorkerStart(w) { w.timers.add(0.05, () => undefined); } };`,
    },
  });
  t.teardown(() => killAll(daemonPids(sb.config)));
  await startDaemon(t, sb);
  const master = masterPid(sb);

  await t.test('a worker that calls process.exit() is respawned with the same worker id', async (t) => {
    const before = await statusJson(sb);
    const c = await textClient(port);
    c.write('who\n');
    const [idText, pidText] = (await c.messages.next(10000)).toString().split(':');
    const id = Number(idText);
    const victim = Number(pidText);
    t.equal(proc(before, 'svc', id)?.pid, victim, 'status names the worker that answered');
    const other = proc(before, 'svc', 1 - id)!;

    c.write('die\n');
    await within(c.closed, 15000, 'the dying worker\'s connection to close');
    await waitGone([victim], 'the worker to exit', 15000);

    const after = await waitFor(async () => {
      const st = await statusJson(sb);
      const p = proc(st, 'svc', id);
      return p && p.pid !== victim && p.state === 'running' ? st : null;
    }, `worker #${id} to be respawned`, 20000);
    const respawned = proc(after, 'svc', id)!;
    t.ok(running(respawned.pid), `worker #${id} runs under a new pid`);
    t.equal(proc(after, 'svc', 1 - id)?.pid, other.pid, 'the other worker was not touched');
    t.equal(after.processes.filter((p) => p.group === 'svc').length, 2, 'still two processes');
    const g = after.groups.find((x) => x.name === 'svc')!;
    t.equal(g.deaths, 1, 'one death counted');
    t.same(g.exitStatuses, { 3: 1 }, 'exit status 3 counted once');
    t.match(sb.log(), new RegExp(`worker #${id} pid ${victim} exited with status 3`), 'the log tells');

    // The group serves after the respawn; whoever answers is one of the two live workers.
    const expected = new Set([`${id}:${respawned.pid}`, `${1 - id}:${other.pid}`]);
    for (let i = 0; i < 6; i++) {
      const d = await textClient(port);
      d.write('who\n');
      const who = (await d.messages.next(10000)).toString();
      d.socket.destroy();
      t.ok(expected.has(who), `connection ${i} answered by a live worker (${who})`);
    }
    c.socket.destroy();
  });

  await t.test('a crash loop backs off', async (t) => {
    // The master logs each young death with the delay it chose; its own timestamps show
    // whether it kept to them, however slow the machine (a slow one only adds to each gap).
    const backoff = () => [...sb.log().matchAll(/^.*\[crash\] worker #0 died young (\d+) time\(s\) in a row; restarting in (\d+) ms.*$/gm)]
      .map((m) => ({ n: Number(m[1]), ms: Number(m[2]), at: logLineTime(m[0])! }));
    const delays = await waitFor(() => { const d = backoff(); return d.length >= 4 ? d : null; }, 'four restarts of the crashing worker', 30000);
    t.same(delays.map((d) => d.n), delays.map((_, i) => i + 1), 'young deaths counted 1, 2, 3...');
    t.ok(delays.every((d, i) => i === 0 || d.ms > delays[i - 1].ms), `growing delays: ${delays.map((d) => d.ms).join(', ')} ms`);
    // Log times have millisecond resolution and a timer may be due a millisecond early.
    const gaps = delays.slice(1).map((d, i) => d.at - delays[i].at);
    t.ok(gaps.every((gap, i) => gap >= delays[i].ms - 2), `no restart came before its delay: gaps ${gaps.join(', ')} ms`);

    t.ok(running(master), 'the master lives on');
    const g = (await statusJson(sb)).groups.find((x) => x.name === 'crash')!;
    t.equal(g.exitStatuses['1'], g.deaths, 'every death counted with exit status 1');
  });

  await t.test('master SIGKILLed: every worker exits on its own', async (t) => {
    const workers = (await statusJson(sb)).processes.map((p) => p.pid);
    t.ok(workers.length >= 3, 'the svc and ticker workers run');
    const c = await textClient(port);
    c.write('x\n');
    await c.messages.next(10000);

    process.kill(master, 'SIGKILL');
    await waitGone([master], 'the master to die', 20000);
    await waitGone(workers, 'every worker to exit after its master died', 20000);
    // A crashing worker started after the status above goes the same way.
    await waitFor(() => daemonPids(sb.config).length === 0, 'no process of this daemon to be left', 20000);
    t.ok(await portReleased(port), `nobody holds the port any more ${whoListens(port)}`);
    c.socket.destroy();
  });
});
