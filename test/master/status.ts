// status and connections: every field of DESIGN.md, with live values.
import t from 'tap';
import { spawn } from 'node:child_process';
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
  t.match(text.stdout, /^Loom \d+\.\d+\.\d+ +Node\.js v20/m);
  t.match(text.stdout, /load average/);
  t.match(text.stdout, /pid +group +id +listen +memory +cpu% +conns +requests +qps +send_fail +errors +timers +state/);

  // --watch redraws every second until stopped.
  const watch = spawn(process.execPath, [LOOM, 'status', '--watch', '-c', sb.config], { stdio: ['ignore', 'pipe', 'ignore'] });
  let out = '';
  watch.stdout.on('data', (d) => { out += d; });
  await waitFor(() => (out.match(/master pid/g) ?? []).length >= 2, 'two redraws of status --watch', 5000);
  watch.kill();
  c.socket.destroy();
});
