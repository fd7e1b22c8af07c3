// user/group: workers run as that user and still serve the socket the master (root) bound;
// the control socket (mode 0600) refuses any other user, and so do stop and kill.
import t from 'tap';
import { chmodSync, mkdirSync, readFileSync } from 'node:fs';
import { connect as tlsConnect } from 'node:tls';
import { join } from 'node:path';
import { freePort, loom, sandbox, startDaemon, statusJson } from '../helpers/loom';
import { textClient } from '../helpers/clients';
import { hasOpenssl, makeCert } from '../helpers/tls';
import { copyLoom, running, runAs } from '../helpers/procs';

const isRoot = process.getuid?.() === 0;

function uidOf(pid: number): number {
  const line = readFileSync(`/proc/${pid}/status`, 'utf8').split('\n').find((l) => l.startsWith('Uid:'));
  return Number(line?.split(/\s+/)[1]);
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

  // The CLI itself, run as nobody: one clear line, exit 1, and nothing done.
  const cli = copyLoom(t);
  for (const cmd of ['status', 'stop', 'kill']) {
    const r = await runAs(65534, 65534, cli, [cmd, '-c', sb.config]);
    t.equal(r.code, 1, `${cmd} as nobody exits 1`);
    t.match(r.stderr, /^loom: LOOM_ERR_PERMISSION .*permission denied.*\n$/, `${cmd} as nobody: one line, permission denied`);
  }
  t.ok(running(s.masterPid), 'the master still runs');
  t.same(s.processes.map((p) => p.pid).filter((p) => !running(p)), [], 'every worker still runs');
  const own = await loom(['status', '-c', sb.config]);
  t.equal(own.code, 0, 'root, the owner, is answered');
});

t.test('a TLS key readable by root alone serves workers running as nobody (the master reads it)', { skip: (!isRoot && 'needs root') || (!hasOpenssl && 'needs openssl') }, async (t) => {
  const port = await freePort();
  const sb = sandbox({
    groups: `[tls]\nlisten = text://127.0.0.1:${port}\nhandler = echo.js\nssl_cert = certs/cert.pem\nssl_key = certs/key.pem\n`,
    global: 'watch = false\nuser = nobody\ngroup = nogroup',
    files: { 'echo.js': `module.exports = { onMessage(c, d) { c.send('tls:' + d); } };` },
  });
  chmodSync(sb.dir, 0o755);
  chmodSync(sb.handlers, 0o755);
  chmodSync(join(sb.handlers, 'echo.js'), 0o644);
  const certs = join(sb.dir, 'certs');
  mkdirSync(certs, { mode: 0o700 });
  const { cert } = makeCert(certs);
  chmodSync(join(certs, 'key.pem'), 0o600);
  await startDaemon(t, sb);
  const reply = await new Promise<string>((resolve, reject) => {
    const s = tlsConnect({ port, host: '127.0.0.1', ca: readFileSync(cert), servername: 'localhost' }, () => s.write('hi\n'));
    s.on('data', (d) => { resolve(d.toString().trim()); s.destroy(); });
    s.on('error', reject);
  });
  t.equal(reply, 'tls:hi', 'a worker running as nobody serves TLS with the root-only key');
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
