import t from 'tap';
import { writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { freePort, loom, masterPid, sandbox, startDaemon, statusJson, waitFor } from '../helpers/loom';
import { textClient } from '../helpers/clients';

/** One short connection: connect, send a line, read the reply line, close. */
function shortRequest(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = connect(port, '127.0.0.1');
    let buf = '';
    s.setTimeout(5000, () => { s.destroy(); reject(new Error('timeout')); });
    s.on('connect', () => s.write('ping\n'));
    s.on('data', (d) => {
      buf += d;
      if (buf.includes('\n')) { s.end(); resolve(buf.trim()); }
    });
    s.on('error', reject);
    s.on('close', () => { if (!buf.includes('\n')) reject(new Error('closed without a reply')); });
  });
}

const pidsOf = async (sb: ReturnType<typeof sandbox>, group: string) =>
  (await statusJson(sb)).processes.filter((p) => p.group === group && p.state === 'running').map((p) => p.pid).sort();

t.test('three reloads in a row under a connect storm: no refused, reset or failed request', async (t) => {
  const [port, fixedPort] = [await freePort(), await freePort()];
  const sb = sandbox({
    groups: `[echo]\nlisten = text://127.0.0.1:${port}\ncount = 2\nhandler = echo.js\n\n` +
      `[fixed]\nlisten = text://127.0.0.1:${fixedPort}\ncount = 1\nhandler = echo.js\nreloadable = false\n`,
    global: 'watch = false\nreload_timeout = 10',
    files: { 'echo.js': `module.exports = { onMessage(c, d) { c.send('pong'); } };` },
  });
  await startDaemon(t, sb);
  const echoBefore = await pidsOf(sb, 'echo');
  const fixedBefore = await pidsOf(sb, 'fixed');

  let ok = 0;
  const failures: string[] = [];
  let running = true;
  const deadline = Date.now() + 60000;
  const loop = async () => {
    for (let i = 0; running && i < 5000 && Date.now() < deadline; i++) {
      try {
        const r = await shortRequest(port);
        if (r === 'pong') ok++; else failures.push(`bad reply ${r}`);
      } catch (err) {
        failures.push((err as Error).message);
      }
    }
  };
  // 32 loops of connect, line, reply, close: as fast as this machine makes connections.
  const loops = Array.from({ length: 32 }, loop);
  await waitFor(() => ok > 50, 'load to flow');
  for (let i = 0; i < 3; i++) {
    const r = await loom(['reload', '-c', sb.config]);
    t.equal(r.code, 0, `reload ${i + 1} exit 0 ${r.stderr}`);
  }
  const atReloadEnd = ok;
  await waitFor(() => ok > atReloadEnd + 50, 'load to flow after the reloads');
  running = false;
  await Promise.all(loops);
  t.same(failures, [], 'no refused (ECONNREFUSED), reset (ECONNRESET) or unanswered connection');
  t.ok(ok > 100, `requests served: ${ok}`);

  const echoAfter = await pidsOf(sb, 'echo');
  t.equal(echoAfter.length, 2);
  t.notOk(echoAfter.some((p) => echoBefore.includes(p)), 'reloadable group has new pids');
  t.same(await pidsOf(sb, 'fixed'), fixedBefore, 'reloadable = false group untouched');
});

t.test('config.ini edits + reload: add, remove, scale 2 → 3, move to a new port', async (t) => {
  const [pa, pb, pc, pc2, pd] = [await freePort(), await freePort(), await freePort(), await freePort(), await freePort()];
  const echo = { 'echo.js': `module.exports = { onMessage(c, d) { c.send(c.worker.name + ':' + d); } };` };
  const groups = (extra: string) => `[a]\nlisten = text://127.0.0.1:${pa}\ncount = 2\nhandler = echo.js\n\n${extra}`;
  const sb = sandbox({
    groups: groups(`[b]\nlisten = text://127.0.0.1:${pb}\nhandler = echo.js\n\n[c]\nlisten = text://127.0.0.1:${pc}\nhandler = echo.js\n`),
    global: 'watch = false',
    files: echo,
  });
  await startDaemon(t, sb);
  const text = (await import('node:fs')).readFileSync(sb.config, 'utf8');
  writeFileSync(sb.config, text
    .replace(`[a]\nlisten = text://127.0.0.1:${pa}\ncount = 2`, `[a]\nlisten = text://127.0.0.1:${pa}\ncount = 3`)
    .replace(`[b]\nlisten = text://127.0.0.1:${pb}\nhandler = echo.js\n`, '')
    .replace(`text://127.0.0.1:${pc}`, `text://127.0.0.1:${pc2}`)
    + `\n[d]\nlisten = text://127.0.0.1:${pd}\nhandler = echo.js\n`);
  const r = await loom(['reload', '-c', sb.config]);
  t.equal(r.code, 0, r.stderr);
  const s = await statusJson(sb);
  const count = (g: string) => s.processes.filter((p) => p.group === g && p.state === 'running').length;
  t.equal(count('a'), 3, 'a scaled to 3');
  t.equal(count('b'), 0, 'b removed');
  t.equal(count('d'), 1, 'd added');
  const d = await textClient(pd);
  d.write('x\n');
  t.equal((await d.messages.next()).toString(), 'd:x');
  d.socket.destroy();
  const c = await textClient(pc2);
  c.write('y\n');
  t.equal((await c.messages.next()).toString(), 'c:y', 'c answers on its new port');
  c.socket.destroy();
  await waitFor(() => new Promise<boolean>((resolve) => {
    const probe = connect(pb, '127.0.0.1');
    probe.on('connect', () => { probe.destroy(); resolve(false); });
    probe.on('error', () => resolve(true));
  }), 'the removed group to stop listening');
});

t.test('an invalid config.ini aborts the reload and leaves everything running', async (t) => {
  const port = await freePort();
  const sb = sandbox({
    groups: `[a]\nlisten = text://127.0.0.1:${port}\nhandler = echo.js\n`,
    global: 'watch = false',
    files: { 'echo.js': `module.exports = { onMessage(c, d) { c.send(d); } };` },
  });
  await startDaemon(t, sb);
  const before = await pidsOf(sb, 'a');
  const good = (await import('node:fs')).readFileSync(sb.config, 'utf8');
  writeFileSync(sb.config, good + '\ncuont = 3\n');
  const r = await loom(['reload', '-c', sb.config]);
  t.equal(r.code, 2, 'exit 2 on a bad config');
  t.match(r.stderr, /config\.ini:\d+ \[a\] cuont: unknown key/);
  // SIGHUP goes straight to the master, which must refuse the bad file itself.
  process.kill(masterPid(sb), 'SIGHUP');
  await waitFor(() => /reload aborted, config invalid: .*cuont: unknown key/.test(sb.log()), 'the master to log the aborted reload');
  writeFileSync(sb.config, good);
  t.same(await pidsOf(sb, 'a'), before, 'same processes');
});

t.test('count = 1: connections made while the only worker restarts wait for it, none refused', async (t) => {
  const port = await freePort();
  const sb = sandbox({
    groups: `[one]\nlisten = text://127.0.0.1:${port}\ncount = 1\nhandler = echo.js\n`,
    global: 'watch = false',
    files: { 'echo.js': `module.exports = { onMessage(c, d) { c.send('pong:' + process.pid); } };` },
  });
  await startDaemon(t, sb);
  const before = (await statusJson(sb)).processes[0].pid;
  process.kill(before, 'SIGKILL');
  // The master holds the listening socket: the kernel queues these until a worker accepts.
  const replies = await Promise.all(Array.from({ length: 20 }, () => shortRequest(port)));
  t.ok(replies.every((r) => /^pong:\d+$/.test(r)), 'every connection made during the restart is answered');
  t.ok(replies.some((r) => r !== `pong:${before}`), 'by the new worker');
});
