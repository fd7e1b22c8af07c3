// Pidfile semantics: the running master is found however its process title reads and even
// when it cannot answer; a pidfile naming anything else (a dead pid, a live foreign process, a
// pid reused after a crash) is stale: replaced by start, its process never signalled.
import t from 'tap';
import { spawn } from 'node:child_process';
import { chownSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { freePort, loom, masterPid, sandbox, startDaemon, waitFor, type Run, type Sandbox } from '../helpers/loom';
import { textClient } from '../helpers/clients';
import { childPids, copyLoom, daemonPids, killAll, running, waitGone } from '../helpers/procs';

async function echoSandbox(name = 'loomtest'): Promise<{ sb: Sandbox; port: number }> {
  const port = await freePort();
  const sb = sandbox({
    groups: `[echo]\nlisten = text://127.0.0.1:${port}\ncount = 1\nhandler = echo.js\n`,
    global: 'watch = false',
    files: { 'echo.js': `module.exports = { onMessage(c, d) { c.send('echo:' + d); } };` },
  });
  if (name !== 'loomtest') writeFileSync(sb.config, readFileSync(sb.config, 'utf8').replace('name = loomtest', `name = ${name}`));
  t.teardown(() => killAll(daemonPids(sb.config)));
  return { sb, port };
}

async function echoes(port: number): Promise<boolean> {
  const c = await textClient(port);
  try {
    c.write('ping\n');
    return (await c.messages.next(10000)).toString() === 'echo:ping';
  } finally {
    c.socket.destroy();
  }
}

const cmdline = (pid: number) => readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ').trim();

/** Runs a copy of the CLI (see copyLoom) to completion. */
function runBundle(file: string, args: string[]): Promise<Run> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [file, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c) => { stdout += c; });
    child.stderr.on('data', (c) => { stderr += c; });
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

/** A process that is not Loom but whose title reads like a daemon's worker, as nginx's do. */
async function nginxLookalike(t: tap.Test): Promise<number> {
  const child = spawn('bash', ['-c', 'exec -a "nginx: worker process" sleep 60'], { stdio: 'ignore' });
  t.teardown(() => { child.kill('SIGKILL'); });
  const pid = child.pid!;
  await waitFor(() => running(pid) && cmdline(pid).startsWith('nginx: worker process'), 'the lookalike to exec');
  return pid;
}

/** stop and kill refuse a pidfile that names no master of ours, and signal no one. */
async function refuseStale(t: tap.Test, sb: Sandbox, pid: number, why: string): Promise<void> {
  const runs = await Promise.all(['stop', 'kill'].map((cmd) => loom([cmd, '-c', sb.config])));
  for (const [i, cmd] of ['stop', 'kill'].entries()) {
    const run = runs[i];
    t.equal(run.code, 1, `${cmd} exits 1`);
    t.equal(run.stderr, `loom: LOOM_ERR_NOT_RUNNING loom is not running (stale pid file ${sb.pidFile}: pid ${pid} ${why})\n`, `${cmd}: one line, stale pidfile`);
    if (why !== 'is gone') t.ok(running(pid), `${cmd} left pid ${pid} alone`);
  }
}

t.test('the running master is found however its title reads, and when it cannot answer', async (t) => {
  // Linux gives process.title only the bytes of the original command line (and, on newer
  // Node.js, of the environment): a short one (`node /tmp/lXXXXXX/l.cjs start`) and a long name
  // cut the title, on Node.js 20 before "master process". Loom no longer reads titles at all.
  const short = copyLoom(t, 'l.cjs');
  const { sb, port } = await echoSandbox('payments-gateway-production-eu');
  const start = async () => {
    const run = await runBundle(short, ['start', '-d', '-c', sb.config]);
    t.equal(run.code, 0, `start -d (stderr: ${run.stderr})`);
    const pid = masterPid(sb);
    t.comment(`the master's title reads "${cmdline(pid)}"`);
    return { pid, workers: childPids(pid) };
  };

  const first = await start();
  for (const args of [['start', '-d'], ['start']]) {
    const run = await loom([...args, '-c', sb.config], { timeoutMs: 15000 });
    t.equal(run.code, 1, `${args.join(' ')} exits 1`);
    t.equal(run.stderr, `loom: LOOM_ERR_ALREADY_RUNNING loom is already running, pid ${first.pid} (pid file ${sb.pidFile})\n`, `${args.join(' ')}: one line, says who runs`);
  }
  t.equal(masterPid(sb), first.pid, 'pidfile untouched');
  t.ok(await echoes(port), 'the running master still serves');
  t.same(daemonPids(sb.config).sort(), [first.pid, ...first.workers].sort(), 'no second daemon was left behind');
  const stop = await loom(['stop', '-c', sb.config]);
  t.equal(stop.code, 0, `stop finds it (stderr: ${stop.stderr})`);
  t.same([first.pid, ...first.workers].filter(running), [], 'stop: master and worker gone');

  // Stopped, the master answers nothing on its control socket: the start time recorded
  // beside the pidfile still proves it is ours.
  const second = await start();
  process.kill(second.pid, 'SIGSTOP');
  const again = await loom(['start', '-d', '-c', sb.config]);
  t.match(again.stderr, `loom is already running, pid ${second.pid}`, 'start -d refuses while the master hangs');
  const kill = await loom(['kill', '-c', sb.config]);
  t.equal(kill.code, 0, `kill finds the hung master (stderr: ${kill.stderr})`);
  t.same([second.pid, ...second.workers].filter(running), [], 'kill: master and worker gone');
  t.notOk(existsSync(sb.pidFile), 'pidfile removed');
});

t.test('stale pidfiles: a dead pid, a lookalike, a pid reused after a crash', async (t) => {
  const { sb, port } = await echoSandbox();
  const dead = spawn(process.execPath, ['-e', '0'], { stdio: 'ignore' });
  const deadPid = dead.pid!;
  await new Promise((r) => dead.once('exit', r));
  await waitFor(() => !running(deadPid), 'the short-lived process to be reaped');
  writeFileSync(sb.pidFile, `${deadPid}\n`);
  await t.test('dead pid', (t) => refuseStale(t, sb, deadPid, 'is gone'));

  const nginx = await nginxLookalike(t);
  writeFileSync(sb.pidFile, `${nginx}\n`);
  await t.test('a live process that is not loom', (t) => refuseStale(t, sb, nginx, 'is not this loom\'s master'));

  await startDaemon(t, sb);
  const crashed = masterPid(sb);
  t.not(crashed, nginx, 'start -d replaced the stale pidfile');
  t.ok(await echoes(port), 'the new daemon serves');
  t.ok(running(nginx), 'start left the lookalike alone');

  // The master dies without cleaning up: pidfile, start time record and socket stay behind,
  // and (simulated) its pid now names the lookalike.
  const workers = childPids(crashed);
  killAll([crashed, ...workers]);
  await waitGone([crashed, ...workers], 'the crashed daemon to be gone');
  const sidecar = sb.pidFile.replace(/\.pid$/, '.start');
  const recorded = JSON.parse(readFileSync(sidecar, 'utf8')) as { pid: number };
  t.equal(recorded.pid, crashed, 'the master recorded its start time beside the pidfile');
  writeFileSync(sidecar, JSON.stringify({ ...recorded, pid: nginx }));
  writeFileSync(sb.pidFile, `${nginx}\n`);
  await t.test('a pid reused after a crash', (t) => refuseStale(t, sb, nginx, 'is not this loom\'s master'));

  // Whoever may write the pid directory can copy the lookalike's true start time; a record
  // that is not its process's user's own proves nothing.
  if (process.getuid?.() === 0) {
    const stat = readFileSync(`/proc/${nginx}/stat`, 'utf8');
    const startTime = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19]);
    const bootId = readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
    writeFileSync(sidecar, JSON.stringify({ pid: nginx, startTime, bootId }));
    chownSync(sidecar, 65534, 65534);
    await t.test('a record planted by another user', (t) => refuseStale(t, sb, nginx, 'is not this loom\'s master'));
  }

  await startDaemon(t, sb);
  const pid = masterPid(sb);
  t.ok(await echoes(port), 'a new daemon starts over the leftovers and serves');
  const stop = await loom(['stop', '-c', sb.config]);
  t.equal(stop.code, 0, 'stop stops it');
  t.notOk(running(pid));
  t.ok(running(nginx), 'nothing signalled the lookalike');
});
