// start -d / stop / restart -d / kill / version through the real CLI.
import t from 'tap';
import { spawn } from 'node:child_process';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { LOOM, ROOT, freePort, loom, masterPid, sandbox, startDaemon, statusJson, type Sandbox } from '../helpers/loom';
import { textClient } from '../helpers/clients';
import { childPids, daemonPids, killAll, running, whoListens, portReleased } from '../helpers/procs';

// Echoes with the worker's pid; onWorkerStop leaves a marker file, so a test can tell a
// graceful stop (marker written) from SIGKILL (none).
const ECHO = `
const { writeFileSync } = require('node:fs');
const { join } = require('node:path');
module.exports = {
  onMessage(c, d) { c.send('echo:' + d + ':' + process.pid); },
  onWorkerStop() { writeFileSync(join(__dirname, '..', 'stopped-' + process.pid), ''); },
};`;

async function echoSandbox(): Promise<{ sb: Sandbox; port: number }> {
  const port = await freePort();
  const sb = sandbox({
    groups: `[echo]\nlisten = text://127.0.0.1:${port}\ncount = 2\nhandler = echo.js\n`,
    files: { 'echo.js': ECHO },
  });
  return { sb, port };
}

/** One round trip; resolves with the pid of the worker that answered. */
async function roundTrip(port: number, msg: string): Promise<number> {
  const c = await textClient(port);
  try {
    c.write(msg + '\n');
    const reply = (await c.messages.next(5000)).toString();
    const m = new RegExp(`^echo:${msg}:(\\d+)$`).exec(reply);
    if (!m) throw new Error(`unexpected reply ${JSON.stringify(reply)}`);
    return Number(m[1]);
  } finally {
    c.socket.destroy();
  }
}

function stopMarkers(sb: Sandbox): number[] {
  return readdirSync(sb.dir).filter((f) => f.startsWith('stopped-')).map((f) => Number(f.slice('stopped-'.length)));
}

/** Kills whatever this sandbox's daemon left running (teardown safety net). */
function reap(t: { teardown(fn: () => unknown): void }, sb: Sandbox): void {
  t.teardown(() => killAll(daemonPids(sb.config)));
}

t.test('version prints the Loom and Node.js versions', async (t) => {
  const run = await loom(['version']);
  t.equal(run.code, 0);
  const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string };
  t.match(run.stdout, new RegExp(`^loom ${pkg.version.replace(/\./g, '\\.')}$`, 'mi'), 'Loom version from package.json');
  t.match(run.stdout, new RegExp(`Node\\.js ${process.version.replace(/\./g, '\\.')}`), 'Node.js version');
  t.equal(run.stderr, '');
});

t.test('start -d returns once bound; stop is graceful and leaves nothing behind', async (t) => {
  const { sb, port } = await echoSandbox();
  reap(t, sb);
  const run = await startDaemon(t, sb);
  // No retry, no wait: the listener must already accept when start -d returns.
  const answeredBy = await roundTrip(port, 'first');
  t.match(run.stdout, `127.0.0.1:${port}`, 'start -d prints the listeners table');

  const pid = masterPid(sb);
  t.ok(running(pid), 'pidfile holds a live pid');
  const workers = childPids(pid).sort();
  t.equal(workers.length, 2, 'master has two worker processes');
  t.ok(workers.includes(answeredBy), 'a worker of that master answered');
  const st = await statusJson(sb);
  t.equal(st.masterPid, pid, 'status agrees: the pidfile holds the master pid');
  t.same(st.processes.map((p) => p.pid).sort(), workers, 'status lists those workers');
  t.same(st.processes.map((p) => p.workerId).sort(), [0, 1]);

  const stop = await loom(['stop', '-c', sb.config]);
  t.equal(stop.code, 0, `stop exits 0 (stderr: ${stop.stderr})`);
  t.match(stop.stdout, /stopped/);
  // stop returns only once the master is gone, and the master waits for its workers.
  t.notOk(running(pid), 'master gone when stop returns');
  t.same(workers.filter(running), [], 'workers gone when stop returns');
  t.notOk(existsSync(sb.pidFile), 'pidfile removed');
  t.same(stopMarkers(sb).sort(), workers, 'every worker ran onWorkerStop (graceful)');
  t.ok(await portReleased(port), `port no longer accepts ${whoListens(port)}`);
  t.same(daemonPids(sb.config), [], 'no process of this daemon left');
});

t.test('restart -d gives a new master that serves', async (t) => {
  const { sb, port } = await echoSandbox();
  reap(t, sb);
  await startDaemon(t, sb);
  const pid1 = masterPid(sb);
  const workers1 = childPids(pid1);
  await roundTrip(port, 'before');

  const run = await loom(['restart', '-d', '-c', sb.config]);
  t.equal(run.code, 0, `restart -d exits 0 (stderr: ${run.stderr})`);
  const pid2 = masterPid(sb);
  t.not(pid2, pid1, 'a new master pid in the pidfile');
  t.notOk(running(pid1), 'old master gone');
  t.same(workers1.filter(running), [], 'old workers gone');
  t.ok(running(pid2), 'new master runs');
  const by = await roundTrip(port, 'after');
  t.ok(childPids(pid2).includes(by), 'a worker of the new master answers');
  t.equal((await statusJson(sb)).masterPid, pid2);
});

t.test('kill stops master and workers at once (SIGKILL) and removes the pidfile', async (t) => {
  const { sb, port } = await echoSandbox();
  reap(t, sb);
  await startDaemon(t, sb);
  const pid = masterPid(sb);
  const workers = childPids(pid);
  t.equal(workers.length, 2);
  await roundTrip(port, 'hi');

  const started = Date.now();
  const run = await loom(['kill', '-c', sb.config]);
  const took = Date.now() - started;
  t.equal(run.code, 0, `kill exits 0 (stderr: ${run.stderr})`);
  t.ok(took < 4000, `kill is immediate (${took} ms)`);
  t.notOk(running(pid), 'master gone when kill returns');
  t.same(workers.filter(running), [], 'workers gone when kill returns');
  t.notOk(existsSync(sb.pidFile), 'pidfile removed');
  t.same(stopMarkers(sb), [], 'no onWorkerStop ran: the workers were killed, not stopped');
  t.ok(await portReleased(port), `port no longer accepts ${whoListens(port)}`);
  t.same(daemonPids(sb.config), [], 'no process of this daemon left');
});

t.test('stop and kill when not running: non-zero and one clear line', async (t) => {
  const { sb } = await echoSandbox();
  for (const cmd of ['stop', 'kill']) {
    const run = await loom([cmd, '-c', sb.config]);
    t.not(run.code, 0, `${cmd} exits non-zero`);
    t.not(run.code, null, `${cmd} exits by itself`);
    const lines = run.stderr.trim().split('\n');
    t.equal(lines.length, 1, `${cmd}: one line, not a stack trace: ${JSON.stringify(run.stderr)}`);
    t.equal(lines[0], `loom: LOOM_ERR_NOT_RUNNING loom is not running (no pid file ${sb.pidFile})`, `${cmd}: says loom is not running, with the code`);
  }
});

t.test('restart -d when not running just starts', async (t) => {
  const { sb, port } = await echoSandbox();
  reap(t, sb);
  t.teardown(() => loom(['kill', '-c', sb.config]));
  const run = await loom(['restart', '-d', '-c', sb.config]);
  t.equal(run.code, 0, `restart -d exits 0 (stderr: ${run.stderr})`);
  t.ok(running(masterPid(sb)), 'a master runs');
  await roundTrip(port, 'fresh');
  t.pass('and serves');
});

t.test('restart -d into a reader that leaves early: no stack trace, exit status kept', async (t) => {
  const { sb, port } = await echoSandbox();
  reap(t, sb);
  await startDaemon(t, sb);
  const pid1 = masterPid(sb);
  // head takes the first line ("… stopped") and exits; the listeners table then meets a
  // closed pipe.
  const shell = `"${process.execPath}" "${LOOM}" restart -d -c "${sb.config}" 2>"${sb.dir}/err" | head -1; echo "status \${PIPESTATUS[0]}"`;
  const out = await new Promise<string>((resolve) => {
    const child = spawn('bash', ['-c', shell], { stdio: ['ignore', 'pipe', 'inherit'] });
    let text = '';
    child.stdout.on('data', (c) => { text += c; });
    child.on('close', () => resolve(text));
  });
  t.equal(out, 'loomtest stopped\nstatus 0\n', 'the first line reached the reader; loom exited 0');
  t.equal(readFileSync(join(sb.dir, 'err'), 'utf8'), '', 'nothing on stderr');
  const pid2 = masterPid(sb);
  t.not(pid2, pid1, 'a new master runs');
  await roundTrip(port, 'after');
});
