// status and connections: every field of DESIGN.md, with live values.
import t from 'tap';
import { spawn } from 'node:child_process';
import { connect, type Socket } from 'node:net';
import { freePort, LOOM, loom, sandbox, startDaemon, statusJson, waitFor } from '../helpers/loom';
import { textClient } from '../helpers/clients';

t.test('status --json, status, status --watch, connections', async (t) => {
  const port = await freePort();
  const sb = sandbox({
    groups: `[echo]\nlisten = text://127.0.0.1:${port}\ncount = 2\nhandler = echo.js\n\n[ticker]\nhandler = tick.js\n`,
    global: 'watch = false',
    files: {
      'echo.js': `module.exports = { onMessage(c, d) { c.send(d); } };`,
      'tick.js': `module.exports = { onWorkerStart(w) { w.timers.add(60, () => {}); } };`,
    },
  });
  await startDaemon(t, sb);
  const raw = JSON.parse((await loom(['status', '--json', '-c', sb.config])).stdout) as Record<string, unknown>;
  for (const k of ['version', 'node', 'masterPid', 'startedAt', 'uptime', 'loadavg', 'groups', 'processCount', 'processes']) t.ok(k in raw, `global field ${k}`);
  const groups = raw.groups as Record<string, unknown>[];
  for (const k of ['name', 'listen', 'count', 'deaths', 'exitStatuses', 'reloads', 'lastReloadError']) t.ok(k in groups[0], `group field ${k}`);
  const procs = raw.processes as Record<string, unknown>[];
  t.equal(procs.length, 3);
  for (const k of ['pid', 'group', 'workerId', 'listen', 'memory', 'cpu', 'connections', 'totalRequests', 'qps', 'sendFailures', 'handlerErrors', 'timers', 'state']) {
    t.ok(k in procs[0], `process field ${k}`);
  }
  t.ok(procs.every((p) => (p.memory as number) > 1e6), 'memory (RSS) is measured');
  t.equal(procs.find((p) => p.group === 'ticker')?.timers, 1, 'timers counted');
  t.equal(raw.version, JSON.parse((await import('node:fs')).readFileSync(`${__dirname}/../../package.json`, 'utf8')).version, 'version is package.json\'s');

  const c = await textClient(port);
  for (let i = 0; i < 25; i++) {
    c.write(`m${i}\n`);
    await c.messages.next();
  }
  const s = await waitFor(async () => {
    const st = await statusJson(sb);
    const echo = st.processes.filter((p) => p.group === 'echo');
    return echo.reduce((n, p) => n + p.totalRequests, 0) === 25 && echo.reduce((n, p) => n + p.connections, 0) === 1 ? st : null;
  }, 'requests and the connection to show in status');
  t.ok(s, 'total requests rose to 25 and one connection is live');

  const conns = JSON.parse((await loom(['connections', '--json', '-c', sb.config])).stdout) as { remote: string; group: string; bytesIn: number; protocol: string }[];
  t.equal(conns.length, 1);
  t.equal(conns[0].remote, `127.0.0.1:${c.socket.localPort}`, 'the test connection, by its remote port');
  t.equal(conns[0].protocol, 'text');
  t.ok(conns[0].bytesIn > 0, 'bytes in counted');
  const table = await loom(['connections', '-c', sb.config]);
  t.match(table.stdout, new RegExp(`127\\.0\\.0\\.1:${c.socket.localPort}`));

  const text = await loom(['status', '-c', sb.config]);
  t.match(text.stdout, new RegExp(`^Loom \\d+\\.\\d+\\.\\d+ +Node\\.js ${process.version.replace(/\./g, '\\.')}`, 'm'), 'the runtime the tests run on');
  t.match(text.stdout, /load average/);
  t.match(text.stdout, /pid +group +id +listen +memory +cpu% +conns +requests +qps +send_fail +errors +fds +timers +handler +state/);

  // --watch redraws every second until stopped.
  const watch = spawn(process.execPath, [LOOM, 'status', '--watch', '-c', sb.config], { stdio: ['ignore', 'pipe', 'ignore'] });
  let out = '';
  watch.stdout.on('data', (d) => { out += d; });
  await waitFor(() => (out.match(/master pid/g) ?? []).length >= 2, 'two redraws of status --watch', 5000);
  watch.kill();
  c.socket.destroy();
});

t.test('connections lists async clients too, with their direction', async (t) => {
  const port = await freePort();
  const sb = sandbox({
    groups: `[echo]\nlisten = text://127.0.0.1:${port}\nhandler = echo.js\n\n[bg]\nhandler = bg.js\n`,
    global: 'watch = false',
    files: {
      'echo.js': `module.exports = { onMessage(c, d) { c.send(d); } };`,
      'bg.js': `module.exports = { onWorkerStart(w) { const c = w.connect('text://127.0.0.1:${port}', { reconnectInterval: 0.2 }); c.onConnect = () => c.send('hello'); } };`,
    },
  });
  await startDaemon(t, sb);
  type Row = { group: string; direction: string; protocol: string; local: string; remote: string; bytesOut: number };
  const rows = await waitFor(async () => {
    const r = JSON.parse((await loom(['connections', '--json', '-c', sb.config])).stdout) as Row[];
    return r.length === 2 && r.every((x) => x.bytesOut > 0) ? r : null;
  }, 'both ends of the client connection to be listed');
  const out = rows.find((r) => r.group === 'bg')!;
  const inbound = rows.find((r) => r.group === 'echo')!;
  t.equal(out.direction, 'out', 'the async client is an outgoing connection');
  t.equal(out.protocol, 'text');
  t.equal(out.remote, `127.0.0.1:${port}`);
  t.equal(inbound.direction, 'in');
  t.equal(inbound.remote, out.local, 'the two rows are the two ends of one connection');
  const table = await loom(['connections', '-c', sb.config]);
  t.match(table.stdout, /\bout\s+text\s+127\.0\.0\.1:\d+\s+127\.0\.0\.1:\d+/);
});

t.test('status shows per group its connections, memory and an estimate of memory per connection', async (t) => {
  const port = await freePort();
  const sb = sandbox({
    groups: `[echo]\nlisten = text://127.0.0.1:${port}\ncount = 2\nhandler = echo.js\n`,
    global: 'watch = false',
    files: { 'echo.js': `module.exports = { onMessage(c, d) { c.send(d); } };` },
  });
  await startDaemon(t, sb);
  type Group = { name: string; connections: number; memory: number; memoryPerConnection: number | null };
  const groupOf = async () => (JSON.parse((await loom(['status', '--json', '-c', sb.config])).stdout) as { groups: Group[] }).groups.find((g) => g.name === 'echo')!;
  const idle = await groupOf();
  t.equal(idle.connections, 0);
  t.ok(idle.memory > 1e6, 'the group\'s RSS, summed');
  t.equal(idle.memoryPerConnection, null, 'no estimate without connections');
  t.match((await loom(['status', '-c', sb.config])).stdout, /^echo +text:\/\/\S+ +2 +0 +\d+\.\dM +- /m, 'the table: no connections, no estimate');

  const N = 200;
  const sockets: Socket[] = [];
  t.teardown(() => { for (const s of sockets) s.destroy(); });
  await Promise.all(Array.from({ length: N }, () => new Promise<void>((resolve, reject) => {
    const s = connect({ port, host: '127.0.0.1' }, () => resolve());
    s.on('error', reject);
    sockets.push(s);
  })));
  const busy = await waitFor(async () => { const g = await groupOf(); return g.connections === N ? g : null; }, `${N} idle connections in status`);
  t.type(busy.memoryPerConnection, 'number');
  t.ok(busy.memoryPerConnection! > 0, `an estimate of bytes per connection (${busy.memoryPerConnection})`);
  t.ok(busy.memoryPerConnection! < 1048576, 'of a plausible size (under 1 MB)');
  t.match((await loom(['status', '-c', sb.config])).stdout, new RegExp(`^echo +text://\\S+ +2 +${N} +\\d+\\.\\dM +~\\d+\\.\\dK `, 'm'), 'the table shows it in KB');

  for (const s of sockets) s.destroy();
  await waitFor(async () => (await groupOf()).memoryPerConnection === null, 'the estimate to go once the connections closed');
});
