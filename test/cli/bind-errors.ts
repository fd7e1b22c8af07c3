// start -d fails loudly and cleanly when a listener cannot be bound or a file cannot be
// written: exit non-zero, one line naming the address or key at fault, and no daemon or
// pidfile left behind.
import t from 'tap';
import { createServer, type Server } from 'node:net';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { networkInterfaces } from 'node:os';
import { freePort, loom, sandbox, waitFor, type Run, type Sandbox } from '../helpers/loom';
import { daemonPids, killAll } from '../helpers/procs';

function echoSandbox(listen: string, count = 2): Sandbox {
  return sandbox({
    groups: `[echo]\nlisten = ${listen}\ncount = ${count}\nhandler = echo.js\n`,
    files: { 'echo.js': `module.exports = { onMessage(c, d) { c.send(d); } };` },
  });
}

/** start -d, with a teardown that removes whatever it might have left running. */
async function startFails(t: { teardown(fn: () => unknown): void }, sb: Sandbox): Promise<Run> {
  t.teardown(() => killAll(daemonPids(sb.config)));
  return loom(['start', '-d', '-c', sb.config], { timeoutMs: 20000 });
}

/**
 * The common expectations of a failed start: exit code, a single line carrying the error's
 * code (the detached master's, passed on by start -d), nothing left behind.
 */
async function failedCleanly(t: tap.Test, run: Run, sb: Sandbox, code: string, pidFile = sb.pidFile): Promise<string> {
  t.equal(run.code, 1, 'start -d exits 1');
  const lines = run.stderr.trim().split('\n');
  t.equal(lines.length, 1, `one line, not a stack trace: ${JSON.stringify(run.stderr)}`);
  t.match(lines[0], new RegExp(`^loom: ${code} `), `the line carries ${code}`);
  t.notOk(existsSync(pidFile), 'no pidfile left behind');
  await waitFor(() => daemonPids(sb.config).length === 0, 'the failed daemon to be gone', 20000);
  t.pass('no daemon process left behind');
  return lines[0];
}

t.test('port already taken by another process: EADDRINUSE named with the address', async (t) => {
  const port = await freePort();
  const holder: Server = createServer((s) => s.end('holder\n'));
  await new Promise<void>((r) => holder.listen(port, '127.0.0.1', r));
  t.teardown(() => new Promise<void>((r) => holder.close(() => r())));

  const sb = echoSandbox(`text://127.0.0.1:${port}`);
  const run = await startFails(t, sb);
  const line = await failedCleanly(t, run, sb, 'LOOM_ERR_BIND');
  t.match(line, `127.0.0.1:${port}`, 'names the address');
  t.match(line, 'EADDRINUSE', 'names the error');
  t.equal(run.stdout, '', 'no listeners table: nothing started');

  // The same in the foreground.
  const fg = await loom(['start', '-c', sb.config], { timeoutMs: 10000 });
  t.not(fg.code, 0, 'foreground start exits non-zero');
  t.not(fg.code, null, 'foreground start exits by itself');
  t.match(fg.stderr, new RegExp(`^loom: LOOM_ERR_BIND .*127\\.0\\.0\\.1:${port}.*EADDRINUSE.*$`, 'm'), 'one line names the address and EADDRINUSE');
  t.notMatch(fg.stderr, /^\s+at /m, 'no stack trace');
  t.notOk(existsSync(sb.pidFile), 'no pidfile left behind');
});

const FOREIGN = '10.255.255.1';
const foreignIsLocal = Object.values(networkInterfaces()).flat().some((i) => i?.address === FOREIGN);

t.test('address not on this machine: EADDRNOTAVAIL named with the address', { skip: foreignIsLocal && `${FOREIGN} is an address of this machine` }, async (t) => {
  const host = FOREIGN;
  // Binding sends no traffic: the address only has to be absent from this machine.
  const sb = echoSandbox(`text://${host}:${await freePort()}`);
  const run = await startFails(t, sb);
  const line = await failedCleanly(t, run, sb, 'LOOM_ERR_BIND');
  t.match(line, host, 'names the address');
  t.match(line, 'EADDRNOTAVAIL', 'names the error');
});

t.test('a second listener failing after a first one bound: nothing left behind', async (t) => {
  const good = await freePort();
  const taken = await freePort();
  const holder = createServer();
  await new Promise<void>((r) => holder.listen(taken, '127.0.0.1', r));
  t.teardown(() => new Promise<void>((r) => holder.close(() => r())));
  const sb = sandbox({
    groups: `[a]\nlisten = text://127.0.0.1:${good}\nhandler = echo.js\n[b]\nlisten = frame://127.0.0.1:${taken}\nhandler = echo.js\n`,
    files: { 'echo.js': `module.exports = { onMessage(c, d) { c.send(d); } };` },
  });
  const run = await startFails(t, sb);
  const line = await failedCleanly(t, run, sb, 'LOOM_ERR_BIND');
  t.match(line, `127.0.0.1:${taken}`, 'names the taken address');
  // The first listener was released: binding it again works.
  const probe = createServer();
  await new Promise<void>((resolve, reject) => { probe.once('error', reject); probe.listen(good, '127.0.0.1', resolve); });
  await new Promise<void>((r) => probe.close(() => r()));
  t.pass(`127.0.0.1:${good} was released`);
});

/** Rewrites one [loom] key of the sandbox config. */
function setGlobal(sb: Sandbox, key: string, value: string): void {
  const text = readFileSync(sb.config, 'utf8').replace(new RegExp(`^${key} = .*$`, 'm'), `${key} = ${value}`);
  writeFileSync(sb.config, text);
}

// /proc exists but takes no new files, even from root. (Not /proc/DIR/FILE: Node's recursive
// mkdir spins forever on /proc's ENOENT.)
for (const [key, value] of [['pid_file', '/proc/loom.pid'], ['log_file', '/proc/loom.log'], ['stdout_file', '/proc/loom-stdout.log']]) {
  t.test(`${key} under an unwritable path: one line naming ${key}`, async (t) => {
    const sb = echoSandbox(`text://127.0.0.1:${await freePort()}`);
    setGlobal(sb, key, value);
    const run = await startFails(t, sb);
    const line = await failedCleanly(t, run, sb, key === 'pid_file' ? 'LOOM_ERR_PIDFILE' : 'LOOM_ERR_LOG_FILE', key === 'pid_file' ? value : sb.pidFile);
    t.match(line, value, 'names the file');
    t.match(line, key, `names the key ${key} to set`);
  });
}

t.test('a handler that cannot load: one line with its code', async (t) => {
  const sb = sandbox({
    groups: `[bad]\ncount = 1\nhandler = bad.js\n`,
    files: { 'bad.js': 'module.exports = { onWorkerStart( };\n' },
  });
  const run = await startFails(t, sb);
  const line = await failedCleanly(t, run, sb, 'LOOM_ERR_HANDLER_LOAD');
  t.match(line, /bad\.js:1: SyntaxError/, 'names the file and line');
  t.notMatch(line, /LOOM_ERR_.*LOOM_ERR_/, 'one code, not two');
});
