// start -d / stop / restart -d / kill / version through the real CLI. The subtests follow
// one daemon's life in one sandbox: each starts from the state the previous one left.
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


/** One round trip; resolves with the pid of the worker that answered. */
async function roundTrip(port: number, msg: string): Promise<number> {
  const c = await textClient(port);
  try {
    c.write(msg + '\n');
    const reply = (await c.messages.next(10000)).toString();
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

/** Runs the CLI under bash with its stdout piped into `reader`; resolves with the reader's output. */
function piped(args: string[], reader: string, errFile: string): Promise<{ out: string; status: number }> {
  const quoted = [process.execPath, LOOM, ...args].map((a) => `'${a}'`).join(' ');
  const shell = `${quoted} 2>'${errFile}' | ${reader}; echo "status \${PIPESTATUS[0]}"`;
  return new Promise((resolve) => {
    const child = spawn('bash', ['-c', shell], { stdio: ['ignore', 'pipe', 'inherit'] });
    let text = '';
    child.stdout.on('data', (c) => { text += c; });
    child.on('close', () => {
      const m = /status (\d+)\n$/.exec(text);
      resolve({ out: text.slice(0, m?.index ?? text.length), status: Number(m?.[1] ?? -1) });
    });
  });
}

t.test('version prints the Loom and Node.js versions', async (t) => {
  const run = await loom(['version']);
  t.equal(run.code, 0);
  const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string };
  t.match(run.stdout, new RegExp(`^loom ${pkg.version.replace(/\./g, '\\.')}$`, 'mi'), 'Loom version from package.json');
  t.match(run.stdout, new RegExp(`Node\\.js ${process.version.replace(/\./g, '\\.')}`), 'Node.js version');
  t.equal(run.stderr, '');
});

t.test('one daemon from start to kill', async (t) => {
  const port = await freePort();
  const sb = sandbox({
    groups: `[echo]\nlisten = text://127.0.0.1:${port}\ncount = 2\nhandler = echo.js\n`,
    global: 'watch = false',
    files: { 'echo.js': ECHO },
  });
  t.teardown(() => killAll(daemonPids(sb.config)));

  await t.test('stop and kill when not running: exit 1 and one line with the code', async (t) => {
    for (const cmd of ['stop', 'kill']) {
      const run = await loom([cmd, '-c', sb.config]);
      t.equal(run.code, 1, `${cmd} exits 1`);
      t.equal(run.stderr, `loom: LOOM_ERR_NOT_RUNNING loom is not running (no pid file ${sb.pidFile})\n`, `${cmd}: one line`);
    }
  });

  await t.test('start -d returns once bound; stop is graceful and leaves nothing behind', async (t) => {
    const run = await startDaemon(t, sb);
    // No retry, no wait: the listener must already accept when start -d returns.
    const answeredBy = await roundTrip(port, 'first');
    t.match(run.stdout, `127.0.0.1:${port}`, 'start -d prints the listeners table');

    const pid = masterPid(sb);
    const workers = childPids(pid).sort();
    t.equal(workers.length, 2, 'master has two worker processes');
    t.ok(workers.includes(answeredBy), 'a worker of that master answered');
    const st = await statusJson(sb);
    t.equal(st.masterPid, pid, 'status agrees: the pidfile holds the master pid');
    t.same(st.processes.map((p) => p.pid).sort(), workers, 'status lists those workers');
    t.same(st.processes.map((p) => p.workerId).sort(), [0, 1]);

    const stop = await loom(['stop', '-c', sb.config]);
    t.equal(stop.code, 0, `stop exits 0 (stderr: ${stop.stderr})`);
    t.equal(stop.stdout, 'loomtest stopped\n');
    // stop returns only once the master is gone, and the master waits for its workers.
    t.notOk(running(pid), 'master gone when stop returns');
    t.same(workers.filter(running), [], 'workers gone when stop returns');
    t.notOk(existsSync(sb.pidFile), 'pidfile removed');
    t.same(stopMarkers(sb).sort(), workers, 'every worker ran onWorkerStop (graceful)');
    t.ok(await portReleased(port), `port no longer accepts ${whoListens(port)}`);
    t.same(daemonPids(sb.config), [], 'no process of this daemon left');
  });

  await t.test('restart -d when not running just starts', async (t) => {
    const run = await loom(['restart', '-d', '-c', sb.config]);
    t.equal(run.code, 0, `restart -d exits 0 (stderr: ${run.stderr})`);
    t.ok(running(masterPid(sb)), 'a master runs');
    await roundTrip(port, 'fresh');
  });

  await t.test('restart -d gives a new master, also into a reader that leaves early', async (t) => {
    const pid1 = masterPid(sb);
    const workers1 = childPids(pid1);
    // head takes the first line ("… stopped") and exits: the listeners table that follows
    // meets a closed pipe, which must not turn into a stack trace or a failure.
    const errFile = join(sb.dir, 'restart.err');
    const run = await piped(['restart', '-d', '-c', sb.config], 'head -1', errFile);
    t.equal(run.out, 'loomtest stopped\n', 'the first line reached the reader');
    t.equal(run.status, 0, 'restart -d exits 0');
    t.equal(readFileSync(errFile, 'utf8'), '', 'nothing on stderr');

    const pid2 = masterPid(sb);
    t.not(pid2, pid1, 'a new master pid in the pidfile');
    t.notOk(running(pid1), 'old master gone');
    t.same(workers1.filter(running), [], 'old workers gone');
    const by = await roundTrip(port, 'after');
    t.ok(childPids(pid2).includes(by), 'a worker of the new master answers');
    t.equal((await statusJson(sb)).masterPid, pid2);
  });

  await t.test('kill stops master and workers at once (SIGKILL) and removes the pidfile', async (t) => {
    const pid = masterPid(sb);
    const workers = childPids(pid);
    t.equal(workers.length, 2);
    await roundTrip(port, 'hi');

    const run = await loom(['kill', '-c', sb.config]);
    t.equal(run.code, 0, `kill exits 0 (stderr: ${run.stderr})`);
    t.equal(run.stdout, 'loomtest killed (3 process(es))\n');
    t.notOk(running(pid), 'master gone when kill returns');
    t.same(workers.filter(running), [], 'workers gone when kill returns');
    t.notOk(existsSync(sb.pidFile), 'pidfile removed');
    t.same(stopMarkers(sb).filter((p) => workers.includes(p)), [], 'no onWorkerStop ran: the workers were killed, not stopped');
    t.ok(await portReleased(port), `port no longer accepts ${whoListens(port)}`);
    t.same(daemonPids(sb.config), [], 'no process of this daemon left');
  });
});
