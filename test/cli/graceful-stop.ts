// Graceful stop: in-flight handler work finishes (a reply due 500 ms later still reaches the
// client), then connections close, then the daemon exits; and Ctrl+C on a foreground start.
import t from 'tap';
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { LOOM, freePort, loom, masterPid, sandbox, startDaemon, waitFor } from '../helpers/loom';
import { textClient } from '../helpers/clients';
import { childPids, daemonPids, killAll, logLineTime, running, whoListens, within, portReleased } from '../helpers/procs';

// Acknowledges at once, answers "job:MS" MS ms later, and notes in stdout_file when it sent it.
const SLOW = `
module.exports = {
  onMessage(c, d) {
    const ms = Number(String(d).split(':')[1]);
    c.send('ack:' + d);
    setTimeout(() => {
      const at = Date.now();
      c.send('late:' + d);
      console.log('late reply sent at ' + at);
    }, ms);
  },
};`;

t.test('stop lets a slow in-flight reply reach the client, then closes the connection', async (t) => {
  // The reply is due 500 ms after the message. `loom stop` is a fresh Node.js process whose
  // start-up can take most of that on a loaded machine; should the stop only begin after the
  // reply went out, the run proved nothing and is repeated once with a 2 s reply.
  let proved = false;
  for (const delay of [500, 2000]) {
    await t.test(`reply due ${delay} ms after the message`, async (t) => {
      const port = await freePort();
      const sb = sandbox({
        groups: `[slow]\nlisten = text://127.0.0.1:${port}\ncount = 1\nhandler = slow.js\n`,
        files: { 'slow.js': SLOW },
      });
      t.teardown(() => killAll(daemonPids(sb.config)));
      await startDaemon(t, sb);
      const pid = masterPid(sb);
      const workers = childPids(pid);

      const c = await textClient(port);
      const events: string[] = [];
      c.socket.on('close', () => events.push('close'));
      const job = `job:${delay}`;
      c.write(job + '\n');
      t.equal((await c.messages.next(10000)).toString(), `ack:${job}`, 'the handler has the message');
      const stopped = loom(['stop', '-c', sb.config]);

      const late = (await c.messages.next(delay + 8000)).toString();
      const lateAt = Date.now();
      events.push('late');
      t.equal(late, `late:${job}`, 'the pending reply reached the client');
      await within(c.closed, 15000, 'the server to close the connection');
      t.same(events, ['late', 'close'], 'the reply came first, then the server closed the connection');

      const stop = await stopped;
      t.equal(stop.code, 0, `stop exits 0 (stderr: ${stop.stderr})`);
      t.notOk(running(pid), 'master gone');
      t.same(workers.filter(running), [], 'worker gone');
      t.notOk(existsSync(sb.pidFile), 'pidfile removed');
      const log = sb.log();
      t.notMatch(log, /did not stop within/, 'no worker had to be killed');

      const stopping = log.split('\n').find((l) => /stopping \(/.test(l));
      t.ok(stopping, 'the master logged the stop');
      const stoppingAt = stopping ? logLineTime(stopping) : null;
      const sentAt = Number(/late reply sent at (\d+)/.exec(readFileSync(sb.stdoutFile, 'utf8'))?.[1]);
      t.ok(sentAt <= lateAt, 'sanity: sent before received');
      proved = stoppingAt !== null && stoppingAt <= sentAt;
      t.comment(`stop began at ${stoppingAt}, the reply was sent at ${sentAt} (${proved ? 'in flight' : 'too late'})`);
    });
    if (proved) return;
  }
  t.fail('the stop never began while the reply was pending');
});

t.test('foreground start stops gracefully on SIGINT (Ctrl+C)', async (t) => {
  const port = await freePort();
  const sb = sandbox({
    groups: `[echo]\nlisten = text://127.0.0.1:${port}\ncount = 2\nhandler = echo.js\n`,
    files: { 'echo.js': `module.exports = { onMessage(c, d) { c.send('echo:' + d); } };` },
  });
  const child = spawn(process.execPath, [LOOM, 'start', '-c', sb.config], { stdio: ['ignore', 'pipe', 'pipe'] });
  let workers: number[] = [];
  t.teardown(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    killAll(workers);
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => { stdout += d; });
  child.stderr.on('data', (d: Buffer) => { stderr += d; });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.once('exit', (code, signal) => resolve({ code, signal }));
  });

  await waitFor(() => /Ctrl\+C/.test(stdout) || child.exitCode !== null, 'the foreground start to report its listeners', 30000);
  t.equal(child.exitCode, null, `start is running (stderr: ${stderr})`);
  t.match(stdout, `127.0.0.1:${port}`, 'listeners table printed');
  t.equal(masterPid(sb), child.pid, 'pidfile holds the foreground master');
  workers = childPids(child.pid!);
  t.equal(workers.length, 2, 'two workers');

  const c = await textClient(port);
  c.write('hi\n');
  t.equal((await c.messages.next(10000)).toString(), 'echo:hi');

  child.kill('SIGINT');
  const result = await within(exited, 20000, 'the master to exit after SIGINT');
  t.same(result, { code: 0, signal: null }, 'the master exits 0');
  await within(c.closed, 10000, 'the client connection to close');
  t.same(workers.filter(running), [], 'workers gone');
  t.notOk(existsSync(sb.pidFile), 'pidfile removed');
  t.ok(await portReleased(port), `port no longer accepts ${whoListens(port)}`);
  t.match(sb.log(), /stopping \(SIGINT\)/, 'the log tells why it stopped');
});
