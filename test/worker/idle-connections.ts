// Accepted text/frame/tcp connections sit as bare stream handles until their first byte or first
// use (core/stream.ts): everything the handler API does works on them as on any connection.
import t from 'tap';
import { freePort, loom, sandbox, startDaemon, statusJson, waitFor } from '../helpers/loom';
import { textClient, type StreamClient } from '../helpers/clients';

// Lines from the control connection (the first line it sends is "control") act on another
// connection, found by its remote port; every other connection echoes. Events are recorded per port.
const HANDLER = `
const events = new Map();
const log = (c, e) => { if (!events.has(c.remotePort)) events.set(c.remotePort, []); events.get(c.remotePort).push(e); };
let control = null;
module.exports = {
  onConnect(c) { log(c, 'connect'); },
  onError(c, err) { log(c, 'error:' + err.code); },
  onClose(c) { log(c, 'close'); },
  onMessage(c, d) {
    if (d === 'control') { control = c; return c.send('ok'); }
    if (c !== control) return c.send(d);
    const [cmd, port, arg] = d.split(' ');
    const conn = [...c.worker.connections.values()].find((x) => x.remotePort === Number(port));
    if (cmd === 'events') return c.send(JSON.stringify(events.get(Number(port)) ?? []));
    if (!conn) return c.send('none');
    if (cmd === 'info') return c.send(JSON.stringify({ remoteAddress: conn.remoteAddress, remotePort: conn.remotePort, state: conn.state, id: conn.id }));
    if (cmd === 'close') conn.close(arg);
    if (cmd === 'destroy') conn.destroy();
    if (cmd === 'send') c.send(String(conn.send(arg)));
    if (cmd === 'pause') conn.pauseRecv();
    if (cmd === 'resume') conn.resumeRecv();
    if (cmd !== 'send') c.send('done');
  },
};`;

t.test('idle connections: every part of the API before the first byte', async (t) => {
  const port = await freePort();
  const sb = sandbox({
    groups: `[idle]\nlisten = text://127.0.0.1:${port}\nhandler = idle.js\n`,
    global: 'watch = false',
    files: { 'idle.js': HANDLER },
  });
  await startDaemon(t, sb);
  const open: StreamClient[] = [];
  const ports = new Map<StreamClient, number>();
  t.teardown(() => { for (const c of open) c.socket.destroy(); });
  const client = async () => { const c = await textClient(port); open.push(c); ports.set(c, c.socket.localPort!); return c; };
  const ctl = await client();
  ctl.write('control\n');
  t.equal((await ctl.messages.next()).toString(), 'ok');
  const ask = async (line: string) => { ctl.write(line + '\n'); return (await ctl.messages.next()).toString(); };
  // By the port it had: a closed socket no longer tells its own.
  const events = async (c: StreamClient) => JSON.parse(await ask(`events ${ports.get(c)}`)) as string[];

  const a = await client();
  const info = JSON.parse(await waitFor(async () => { const r = await ask(`info ${a.socket.localPort}`); return r === 'none' ? null : r; }, 'the idle connection to be listed'));
  t.same(info, { remoteAddress: '127.0.0.1', remotePort: a.socket.localPort, state: 'established', id: info.id }, 'its peer, read without a socket');
  t.same(await events(a), ['connect'], 'onConnect ran at accept');
  const rows = JSON.parse((await loom(['connections', '--json', '-c', sb.config])).stdout) as { remote: string; local: string; bytesIn: number }[];
  const row = rows.find((r) => r.remote === `127.0.0.1:${a.socket.localPort}`);
  t.same(row && { local: row.local, bytesIn: row.bytesIn }, { local: `127.0.0.1:${port}`, bytesIn: 0 }, 'loom connections lists it');

  // The first bytes end its idle state: split anywhere, they are framed as always.
  a.write('hel');
  await new Promise((r) => setTimeout(r, 50));
  a.write('lo\nwor');
  a.write('ld\r\n');
  t.equal((await a.messages.next()).toString(), 'hello');
  t.equal((await a.messages.next()).toString(), 'world');

  const fin = await client();
  await waitFor(async () => (await events(fin)).length > 0, 'the accept');
  fin.socket.end();
  t.same(await waitFor(async () => { const e = await events(fin); return e.includes('close') ? e : null; }, 'onClose after the peer\'s FIN'), ['connect', 'close']);

  const rst = await client();
  await waitFor(async () => (await events(rst)).length > 0, 'the accept');
  rst.socket.resetAndDestroy();
  const e = await waitFor(async () => { const x = await events(rst); return x.includes('close') ? x : null; }, 'onClose after a reset');
  t.same(e, ['connect', 'error:ECONNRESET', 'close'], 'a reset is reported as on any socket');

  for (const [cmd, arg, expect] of [['close', '', null], ['close', 'bye', 'bye'], ['destroy', '', null]] as const) {
    const c = await client();
    await waitFor(async () => (await events(c)).length > 0, 'the accept');
    t.equal(await ask(`${cmd} ${c.socket.localPort} ${arg}`.trim()), 'done');
    await c.closed;
    const got: string[] = [];
    while (c.messages.length) got.push((await c.messages.next()).toString());
    t.same(got, expect === null ? [] : [expect], 'what it received before the end');
    t.same(await events(c), ['connect', 'close'], `${cmd}(${arg}) of an idle connection: closed, onClose`);
  }

  const s = await client();
  await waitFor(async () => (await events(s)).length > 0, 'the accept');
  t.equal(await ask(`send ${s.socket.localPort} hi`), 'true', 'a send to an idle connection is sent');
  t.equal((await s.messages.next()).toString(), 'hi');
  s.write('back\n');
  t.equal((await s.messages.next()).toString(), 'back', 'and the connection reads on');

  const p = await client();
  await waitFor(async () => (await events(p)).length > 0, 'the accept');
  t.equal(await ask(`pause ${p.socket.localPort}`), 'done');
  p.write('held\n');
  await new Promise((r) => setTimeout(r, 200));
  t.equal(p.messages.length, 0, 'paused before its first byte: nothing read');
  t.equal(await ask(`resume ${p.socket.localPort}`), 'done');
  t.equal((await p.messages.next()).toString(), 'held', 'resumed: read');

  const idle = await client();
  await waitFor(async () => (await events(idle)).length > 0, 'the accept');
  const st = await statusJson(sb);
  t.ok(st.processes[0].connections >= 4, 'idle connections are counted');
  const stop = await loom(['stop', '-c', sb.config]);
  t.equal(stop.code, 0, 'stop with idle connections open');
  await idle.closed;
  t.pass('the idle connection was closed by the stop');
});
