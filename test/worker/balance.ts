// Long-lived connections spread over the workers of a group, whether they arrive one by one
// or in a burst (worker/balance.ts): no worker holds them all. (Without the balancer one
// worker took 40 of 40; the exact thresholds are unit tests, test/unit/balance.ts.)
import t from 'tap';
import { connect } from 'node:net';
import WebSocket from 'ws';
import { freePort, sandbox, startDaemon, statusJson, waitFor } from '../helpers/loom';
import { textClient, type StreamClient } from '../helpers/clients';

t.test('held connections spread over the workers', async (t) => {
  const port = await freePort();
  const sb = sandbox({
    groups: `[w]\nlisten = text://127.0.0.1:${port}\ncount = 2\nhandler = w.js\n`,
    global: 'watch = false',
    files: { 'w.js': `module.exports = { onMessage(c, d) { c.send(d + ':' + c.worker.id); } };` },
  });
  await startDaemon(t, sb);
  const held: StreamClient[] = [];
  t.teardown(() => { for (const c of held) c.socket.destroy(); });
  const open = async () => {
    const c = await textClient(port);
    held.push(c);
    c.write('who\n');
    return (await c.messages.next()).toString().split(':')[1];
  };

  const sequential: Record<string, number> = {};
  for (let i = 0; i < 40; i++) {
    const id = await open();
    sequential[id] = (sequential[id] ?? 0) + 1;
  }
  t.ok((sequential['0'] ?? 0) >= 4 && (sequential['1'] ?? 0) >= 4, `one by one: ${JSON.stringify(sequential)}`);

  const burst: Record<string, number> = {};
  for (const id of await Promise.all(Array.from({ length: 40 }, open))) burst[id] = (burst[id] ?? 0) + 1;
  t.ok((burst['0'] ?? 0) >= 4 && (burst['1'] ?? 0) >= 4, `in a burst: ${JSON.stringify(burst)}`);

  // Handed-over connections are ordinary ones: counted, and they work both ways.
  const s = await waitFor(async () => {
    const st = await statusJson(sb);
    return st.processes.reduce((n, p) => n + p.connections, 0) === 80 ? st : null;
  }, 'status to count 80 connections');
  t.equal(s.processes.length, 2);
  held[0].write('again\n');
  t.match((await held[0].messages.next()).toString(), /^again:[01]$/);
});

t.test('held http:// and ws:// connections spread over the workers too', async (t) => {
  const [httpPort, wsPort] = [await freePort(), await freePort()];
  const sb = sandbox({
    groups: `[h]\nlisten = http://127.0.0.1:${httpPort}\ncount = 2\nhandler = h.js\n\n[s]\nlisten = ws://127.0.0.1:${wsPort}\ncount = 2\nhandler = s.js\n`,
    global: 'watch = false',
    files: {
      'h.js': `module.exports = { onMessage(c) { c.send(String(c.worker.id)); } };`,
      's.js': `module.exports = { onMessage(c, d) { c.send(d + ':' + c.worker.id); } };`,
    },
  });
  await startDaemon(t, sb);
  const held: { destroy(): void }[] = [];
  t.teardown(() => { for (const c of held) c.destroy(); });

  // A keep-alive request each, the connection held open: which worker answered.
  const http = () => new Promise<string>((resolve, reject) => {
    const s = connect(httpPort, '127.0.0.1');
    held.push(s);
    let got = '';
    s.on('error', reject);
    s.on('data', (d: Buffer) => { got += d.toString(); const m = /\r\n\r\n([01])$/.exec(got); if (m) resolve(m[1]); });
    s.on('connect', () => s.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n'));
  });
  const ws = () => new Promise<string>((resolve, reject) => {
    const c = new WebSocket(`ws://127.0.0.1:${wsPort}/`);
    held.push({ destroy: () => c.terminate() });
    c.once('error', reject);
    c.once('open', () => c.send('who'));
    c.once('message', (d: Buffer) => resolve(d.toString().split(':')[1]));
  });
  for (const [name, open] of [['http://', http], ['ws://', ws]] as const) {
    const sequential: Record<string, number> = {};
    for (let i = 0; i < 40; i++) { const id = await open(); sequential[id] = (sequential[id] ?? 0) + 1; }
    t.ok((sequential['0'] ?? 0) >= 4 && (sequential['1'] ?? 0) >= 4, `${name} one by one: ${JSON.stringify(sequential)}`);
    const burst: Record<string, number> = {};
    for (const id of await Promise.all(Array.from({ length: 40 }, open))) burst[id] = (burst[id] ?? 0) + 1;
    t.ok((burst['0'] ?? 0) >= 4 && (burst['1'] ?? 0) >= 4, `${name} in a burst: ${JSON.stringify(burst)}`);
  }
});

t.test("a gateway group's ws:// clients spread over its gateways, and are served wherever they land", async (t) => {
  const port = await freePort();
  const sb = sandbox({
    groups: `[g]\nmodel = gateway\nlisten = ws://127.0.0.1:${port}\ncount = 2\nbusiness_count = 1\nhandler = g.js\n`,
    global: 'watch = false',
    files: { 'g.js': `module.exports = { onConnect(c) { c.send('id ' + c.id); }, onMessage(c, d) { c.send('echo ' + d); } };` },
  });
  await startDaemon(t, sb);
  const held: WebSocket[] = [];
  t.teardown(() => { for (const c of held) c.terminate(); });
  const open = () => new Promise<WebSocket>((resolve, reject) => {
    const c = new WebSocket(`ws://127.0.0.1:${port}/`);
    held.push(c);
    c.once('error', reject);
    c.once('message', (d: Buffer) => (d.toString().startsWith('id ') ? resolve(c) : reject(new Error(`first message: ${d.toString()}`))));
  });
  for (let i = 0; i < 40; i++) await open();
  await Promise.all(Array.from({ length: 40 }, open));
  const gateways = await waitFor(async () => {
    const g = (await statusJson(sb)).processes.filter((p) => p.group === 'g/gateway');
    return g.reduce((n, p) => n + p.connections, 0) === 80 ? g : null;
  }, 'the gateways to count 80 clients');
  t.ok(gateways.every((p) => p.connections >= 8), `each gateway holds a share: ${gateways.map((p) => p.connections).join('/')}`);
  // Every client, handed over or not, is served both ways.
  const echoes = await Promise.all(held.map((c, i) => new Promise<string>((resolve) => {
    c.once('message', (d: Buffer) => resolve(d.toString()));
    c.send(String(i));
  })));
  t.ok(echoes.every((e, i) => e === `echo ${i}`), 'every client answered');
});
