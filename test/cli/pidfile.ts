// Pidfile semantics: refusal while running, stale pidfiles (dead pid, live foreign pid) replaced
// and never trusted: a foreign process named by a stale pidfile is never signalled.
import t from 'tap';
import { spawn } from 'node:child_process';
import { writeFileSync, readFileSync } from 'node:fs';
import { freePort, loom, masterPid, sandbox, startDaemon, waitFor, type Sandbox } from '../helpers/loom';
import { textClient } from '../helpers/clients';
import { childPids, daemonPids, killAll, running } from '../helpers/procs';

async function echoSandbox(name = 'loomtest'): Promise<{ sb: Sandbox; port: number }> {
  const port = await freePort();
  const sb = sandbox({
    groups: `[echo]\nlisten = text://127.0.0.1:${port}\ncount = 1\nhandler = echo.js\n`,
    files: { 'echo.js': `module.exports = { onMessage(c, d) { c.send('echo:' + d); } };` },
  });
  if (name !== 'loomtest') writeFileSync(sb.config, readFileSync(sb.config, 'utf8').replace('name = loomtest', `name = ${name}`));
  return { sb, port };
}

async function echoes(port: number): Promise<boolean> {
  const c = await textClient(port);
  try {
    c.write('ping\n');
    return (await c.messages.next(5000)).toString() === 'echo:ping';
  } finally {
    c.socket.destroy();
  }
}

function reap(t: { teardown(fn: () => unknown): void }, sb: Sandbox): void {
  t.teardown(() => killAll(daemonPids(sb.config)));
}

/** A process that is certainly not Loom, killed in teardown. */
function foreignProcess(t: { teardown(fn: () => unknown): void }): number {
  const child = spawn('sleep', ['30'], { stdio: 'ignore' });
  t.teardown(() => { child.kill('SIGKILL'); });
  if (!child.pid) throw new Error('cannot spawn sleep');
  return child.pid;
}

for (const name of ['loomtest', 'webapp']) {
  // A name without "loom" in it: the running master must still be recognised by its title.
  t.test(`start is refused while running (name = ${name})`, async (t) => {
    const { sb, port } = await echoSandbox(name);
    reap(t, sb);
    await startDaemon(t, sb);
    const pid = masterPid(sb);

    for (const args of [['start', '-d'], ['start']]) {
      const run = await loom([...args, '-c', sb.config], { timeoutMs: 15000 });
      t.not(run.code, 0, `${args.join(' ')} exits non-zero`);
      t.not(run.code, null, `${args.join(' ')} exits by itself`);
      t.match(run.stderr, `loom is already running, pid ${pid}`, `${args.join(' ')}: says who runs`);
      t.equal(run.stderr.trim().split('\n').length, 1, `${args.join(' ')}: one line: ${JSON.stringify(run.stderr)}`);
    }
    t.equal(masterPid(sb), pid, 'pidfile untouched');
    t.ok(running(pid), 'the running master is untouched');
    t.ok(await echoes(port), 'and still serves');
    t.same(daemonPids(sb.config).sort(), [pid, ...childPids(pid)].sort(), 'no second daemon was left behind');

    const stop = await loom(['stop', '-c', sb.config]);
    t.equal(stop.code, 0, `stop finds the running master (stderr: ${stop.stderr})`);
    t.notOk(running(pid));
  });
}

t.test('stale pidfile holding a dead pid is replaced', async (t) => {
  const { sb, port } = await echoSandbox();
  reap(t, sb);
  const dead = spawn(process.execPath, ['-e', '0'], { stdio: 'ignore' });
  const deadPid = dead.pid!;
  await new Promise((r) => dead.once('exit', r));
  await waitFor(() => !running(deadPid), 'the short-lived process to be reaped');
  writeFileSync(sb.pidFile, `${deadPid}\n`);

  const stop = await loom(['stop', '-c', sb.config]);
  t.not(stop.code, 0, 'stop with a stale pidfile: not running');
  t.match(stop.stderr, /not running/);

  await startDaemon(t, sb);
  const pid = masterPid(sb);
  t.not(pid, deadPid, 'pidfile rewritten with the new master pid');
  t.ok(running(pid));
  t.ok(await echoes(port), 'the new daemon serves');
});

t.test('stale pidfile holding a live foreign pid is replaced; that process is never signalled', async (t) => {
  const { sb, port } = await echoSandbox();
  reap(t, sb);
  const foreign = foreignProcess(t);
  writeFileSync(sb.pidFile, `${foreign}\n`);

  for (const cmd of ['stop', 'kill']) {
    const run = await loom([cmd, '-c', sb.config]);
    t.not(run.code, 0, `${cmd}: the foreign pid is not a running loom`);
    t.match(run.stderr, /not running/);
    t.ok(running(foreign), `${cmd} left the foreign process alone`);
  }

  const run = await loom(['start', '-d', '-c', sb.config]);
  t.teardown(() => loom(['kill', '-c', sb.config]));
  t.equal(run.code, 0, `start -d replaces the stale pidfile (stderr: ${run.stderr})`);
  const pid = masterPid(sb);
  t.not(pid, foreign, 'pidfile now holds the new master');
  t.ok(await echoes(port), 'the new daemon serves');
  t.ok(running(foreign), 'start left the foreign process alone');

  const stop = await loom(['stop', '-c', sb.config]);
  t.equal(stop.code, 0, 'stop stops the new daemon');
  t.notOk(running(pid));
  t.ok(running(foreign), 'stop left the foreign process alone');
});
