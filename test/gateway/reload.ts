// A business reload keeps every client: 200 WebSocket clients stream messages to each other
// (through the business processes, across the two gateways) while the business processes are
// reloaded three times: nobody is disconnected, every message arrives exactly once, in order.
// A business process SIGKILLed mid-stream is respawned; what it had been sent and not handled is
// lost, at most once, and counted: the test checks the count against what did not arrive.
import t from 'tap';
import { readFileSync, writeFileSync } from 'node:fs';
import { WebSocket } from 'ws';
import { freePort, loom, sandbox, startDaemon, statusJson, waitFor, type Sandbox } from '../helpers/loom';

/** Forwards each message to the client it names: `{"to": id, "seq": n}` becomes `from seq`. */
const RELAY = `module.exports = {
  onConnect(client) { client.send('id ' + client.id); },
  onMessage(client, text) {
    const m = JSON.parse(text);
    client.gateway.sendToClient(m.to, client.id + ' ' + m.seq);
  },
};
`;

type GatewayStatus = { processes: { pid: number; group: string; gateway?: { lost: number; held?: number; inFlight?: number } }[] };

interface Peer {
  ws: WebSocket;
  id: string;
  /** Highest seq received from each sender, and any out-of-order or repeated arrival. */
  last: Map<string, number>;
  received: number;
  problems: string[];
  closed: boolean;
}

function peer(port: number, sb: Sandbox): Promise<Peer> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`ws://127.0.0.1:${port}/`);
    const p: Peer = { ws, id: '', last: new Map(), received: 0, problems: [], closed: false };
    // A client that never hears its id fails here, with what it saw and what the gateways hold,
    // rather than stalling the file.
    const deadline = setTimeout(() => {
      const saw = `open: ${ws.readyState === WebSocket.OPEN}, closed: ${p.closed}`;
      statusJson(sb).then(
        (s) => JSON.stringify((s as unknown as GatewayStatus).processes.map((x) => ({ pid: x.pid, group: x.group, gateway: x.gateway }))),
        (err: Error) => `no status: ${err.message}`,
      ).then((status) => reject(new Error(`no id within 20 s (${saw}); processes: ${status}; log: ${sb.log().split('\n').slice(-20).join(' | ')}`)));
    }, 20000);
    ws.on('message', (data) => {
      const [a, b] = data.toString().split(' ');
      if (a === 'id') { clearTimeout(deadline); p.id = b; resolve(p); return; }
      const seq = Number(b);
      const prev = p.last.get(a) ?? 0;
      if (seq <= prev) p.problems.push(`${a} ${seq} after ${prev}`);
      p.last.set(a, seq);
      p.received++;
    });
    ws.on('close', () => { p.closed = true; });
    ws.once('error', (err) => { clearTimeout(deadline); reject(err); });
  });
}

async function relaySandbox(): Promise<{ sb: Sandbox; port: number }> {
  const port = await freePort();
  const sb = sandbox({
    groups: `[relay]\nmodel = gateway\nlisten = ws://127.0.0.1:${port}\ncount = 2\nbusiness_count = 2\nhandler = relay.js\n`,
    global: 'watch = false\nreload_timeout = 10',
    files: { 'relay.js': RELAY },
  });
  return { sb, port };
}

/**
 * Every client sends a message to its neighbour each tick, at least `min` of them and until
 * `done()` says so (bounded by `max`); resolves with how many each sent.
 */
async function stream(peers: Peer[], min: number, done: () => boolean, max = 5000): Promise<number> {
  let seq = 0;
  while (seq < max && (seq < min || !done())) {
    seq++;
    for (let i = 0; i < peers.length; i++) peers[i].ws.send(JSON.stringify({ to: peers[(i + 1) % peers.length].id, seq }));
    await new Promise((r) => setTimeout(r, 10));
  }
  return seq;
}

t.test('three business reloads under a stream of messages: no disconnect, all delivered once, in order', async (t) => {
  const { sb, port } = await relaySandbox();
  await startDaemon(t, sb);
  const gatewayPids = (await statusJson(sb)).processes.filter((p) => p.group === 'relay/gateway').map((p) => p.pid);
  const peers: Peer[] = [];
  for (let i = 0; i < 200; i++) peers.push(await peer(port, sb));
  t.teardown(() => { for (const p of peers) p.ws.terminate(); });

  let reloaded = false;
  // The stream goes on until the reloads are over, and 50 ticks more.
  let after = 0;
  const sending = stream(peers, 50, () => reloaded && ++after > 50);
  await waitFor(() => peers.some((p) => p.received > 0), 'messages to flow');
  for (let i = 1; i <= 3; i++) {
    const r = await loom(['reload', '-c', sb.config]);
    t.equal(r.code, 0, `reload ${i} (${r.stderr.trim()})`);
  }
  reloaded = true;
  const PER_CLIENT = await sending;
  t.comment(`${peers.length} clients sent ${PER_CLIENT} messages each`);
  await waitFor(() => peers.every((p) => p.received === PER_CLIENT), 'every message to arrive', 60000);
  t.equal(peers.filter((p) => p.closed).length, 0, 'no client was disconnected');
  t.same(peers.flatMap((p) => p.problems), [], 'no message twice, none out of order');
  t.ok(peers.every((p) => p.last.size === 1 && [...p.last.values()][0] === PER_CLIENT), 'each client got all of its neighbour\'s messages');

  const s = (await statusJson(sb)) as unknown as GatewayStatus;
  t.same(s.processes.filter((p) => p.group === 'relay/gateway').map((p) => p.pid).sort(), gatewayPids.sort(), 'the gateways were not restarted');
  t.equal(s.processes.filter((p) => p.group === 'relay/gateway').reduce((n, p) => n + (p.gateway?.lost ?? 0), 0), 0, 'nothing lost');
});

t.test('a business process SIGKILLed mid-stream: respawned; only what it had not handled is lost, and counted', async (t) => {
  const { sb, port } = await relaySandbox();
  await startDaemon(t, sb);
  const before = (await statusJson(sb)).processes;
  const gatewayPids = before.filter((p) => p.group === 'relay/gateway').map((p) => p.pid).sort();
  const victim = before.find((p) => p.group === 'relay/business')!;
  const peers: Peer[] = [];
  for (let i = 0; i < 100; i++) peers.push(await peer(port, sb));
  t.teardown(() => { for (const p of peers) p.ws.terminate(); });

  let killed = false;
  let after = 0;
  const sending = stream(peers, 50, () => killed && ++after > 50);
  await waitFor(() => peers.some((p) => p.received > 20), 'messages to flow');
  process.kill(victim.pid, 'SIGKILL');
  killed = true;
  const PER_CLIENT = await sending;
  await waitFor(async () => {
    const s = await statusJson(sb);
    return s.processes.filter((p) => p.group === 'relay/business' && p.state === 'running').length === 2 && !s.processes.some((p) => p.pid === victim.pid);
  }, 'the business process to be respawned', 30000);

  const sent = peers.length * PER_CLIENT;
  const lostCounted = async () => ((await statusJson(sb)) as unknown as GatewayStatus).processes
    .filter((p) => p.group === 'relay/gateway').reduce((n, p) => n + (p.gateway?.lost ?? 0), 0);
  // Everything either arrives or is counted as lost (the count is final once the link closed).
  await waitFor(async () => peers.reduce((n, p) => n + p.received, 0) + (await lostCounted()) === sent, 'every message to arrive or be counted lost', 60000);
  const lost = await lostCounted();
  t.comment(`${lost} of ${sent} messages lost with the killed process`);
  t.equal(peers.filter((p) => p.closed).length, 0, 'no client was disconnected');
  t.same(peers.flatMap((p) => p.problems), [], 'nothing twice, nothing out of order');
  t.same((await statusJson(sb)).processes.filter((p) => p.group === 'relay/gateway').map((p) => p.pid).sort(), gatewayPids, 'the gateways were not restarted');
  if (lost > 0) {
    t.match(sb.log(), new RegExp(`LOOM_ERR_GATEWAY business process ${victim.pid} \\(slot \\d\\) went away with \\d+ event\\(s\\) it had not handled: lost \\(at most once\\)`), 'the loss is logged');
  }
});

t.test('a gateway reload (its settings changed): new gateways serve at once, clients of the old ones keep being served while they drain', async (t) => {
  const port = await freePort();
  const groups = (extra: string) => `[relay]\nmodel = gateway\nlisten = ws://127.0.0.1:${port}\ncount = 2\nbusiness_count = 2\nhandler = relay.js\n${extra}`;
  const sb = sandbox({ groups: groups(''), global: 'watch = false\nreload_timeout = 60', files: { 'relay.js': RELAY } });
  await startDaemon(t, sb);
  const before = (await statusJson(sb)).processes.filter((p) => p.group === 'relay/gateway').map((p) => p.pid);
  const old = await peer(port, sb);
  t.teardown(() => old.ws.terminate());
  writeFileSync(sb.config, readFileSync(sb.config, 'utf8').replace(groups(''), groups('ping_interval = 30\n')));
  const r = await loom(['reload', '-c', sb.config]);
  t.equal(r.code, 0, r.stderr);
  const fresh = (await statusJson(sb)).processes.filter((p) => p.group === 'relay/gateway' && !before.includes(p.pid));
  t.equal(fresh.length, 2, 'two new gateway processes');
  // The old gateways drain for up to 60 s: a client of a new gateway must not wait for that.
  const young = await peer(port, sb);
  t.teardown(() => young.ws.terminate());
  t.ok(young.id, 'a new client is welcomed (its business process linked to the new gateway)');
  young.ws.send(JSON.stringify({ to: old.id, seq: 1 }));
  old.ws.send(JSON.stringify({ to: young.id, seq: 1 }));
  await waitFor(() => old.received === 1 && young.received === 1, 'messages between a client of an old and of a new gateway');
  t.notOk(old.closed, 'the old gateway still serves its client');
});
