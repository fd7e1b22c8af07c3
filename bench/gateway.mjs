// Gateway-group benchmark (issue 9, "Performance"): Loom's `model = gateway` against plain `ws`
// servers, in one run, rounds alternating which server goes first:
//   (a) round trips per second: GW_CONNECTIONS WebSocket clients with one message in flight
//       each, client -> gateway -> business -> gateway -> client, against ws + node:cluster
//       echo (bench/baseline-web.mjs) with as many processes; server CPU per round trip;
//   (b) broadcast fan-out: from the trigger of one sendToAll to the last of GW_CLIENTS
//       connected WebSocket clients receiving it (clients in GW_CLIENT_PROCS processes, on
//       source addresses 127.0.0.2-127.0.0.9), against one plain ws process looping over its
//       own clients (bench/gateway-baseline.mjs);
//   (c) RSS growth per idle connected WebSocket client of the gateway processes, against the
//       workers of ws + node:cluster with as many processes, measured as bench/idle-memory.mjs
//       does (minimum summed RSS over GW_SETTLE seconds, before and after).
// Prints a markdown table with medians and ratios (Loom / plain ws), writes every round to
// bench/results/gateway-<timestamp>.json. See bench/README.md.
//
//   node bench/gateway.mjs                                  (needs dist/loom.cjs; about 6 minutes)
//   GW_ROUNDS=1 GW_SECONDS=2 GW_CLIENTS=2000 GW_SETTLE=3 GW_BROADCASTS=3 node bench/gateway.mjs
import { existsSync, copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import WebSocket from 'ws';
import {
  BENCH, LOOM, Mailbox, ROOT, envNum, establishedByPid, fmt, forkNode, freePort, median, nofileLimits,
  resultMeta, run, runMain, sampleMemory, sleep, stamp, treeCpuSeconds, treePids, withTimeout,
} from './lib.mjs';

// What GatewayWorker 4.0 got when measured the same way (issue 9), and the targets.
const WORKERMAN = { rr: 0.5, rrCpu: 2.8, fanout: 0.83, idle: 0.94 };
const TARGET = { rr: 0.7, fanout: 0.7, idle: 0.8 };

// ---- settings (environment) ------------------------------------------------------------
const [portLow, portHigh] = readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'latin1').trim().split(/\s+/).map(Number);
const S = {
  parts: (process.env.GW_PARTS || 'rr,fanout,idle').split(',').map((x) => x.trim()).filter(Boolean),
  rounds: Math.round(envNum('GW_ROUNDS', 3, 1, 20)),
  // (a)
  seconds: envNum('GW_SECONDS', 5, 1, 60),
  warmup: envNum('GW_WARMUP', 1, 0, 60),
  connections: Math.round(envNum('GW_CONNECTIONS', 50, 1, 1000)),
  rrGateways: Math.round(envNum('GW_RR_GATEWAYS', 1, 1, 16)),
  rrBusiness: Math.round(envNum('GW_RR_BUSINESS', 1, 1, 16)),
  // (b) and (c)
  clients: Math.round(envNum('GW_CLIENTS', 10000, 1, 8 * Math.max(1, portHigh - portLow - 1000))),
  clientProcs: Math.round(envNum('GW_CLIENT_PROCS', 8, 1, 32)),
  gateways: Math.round(envNum('GW_GATEWAYS', 1, 1, 16)),
  business: Math.round(envNum('GW_BUSINESS', 1, 1, 16)),
  broadcasts: Math.round(envNum('GW_BROADCASTS', 10, 1, 200)),
  broadcastWarmup: Math.round(envNum('GW_BROADCAST_WARMUP', 1, 0, 20)),
  gapMs: Math.round(envNum('GW_GAP_MS', 500, 0, 60000)),
  payloadBytes: Math.round(envNum('GW_PAYLOAD_BYTES', 64, 40, 125)),
  // A diagnostic: how the ws baseline sends its broadcast (bench/gateway-baseline.mjs).
  baselineSend: process.env.GW_BASELINE_SEND || 'buffer',
  settle: envNum('GW_SETTLE', 20, 0.1, 600),
  sampleMs: Math.round(envNum('GW_SAMPLE_MS', 1000, 10, 60000)),
};
const PART_NAMES = ['rr', 'fanout', 'idle'];
if (!['buffer', 'buffer-cb', 'string', 'string-cb'].includes(S.baselineSend)) {
  console.error(`bench: GW_BASELINE_SEND=${S.baselineSend} is not one of buffer, buffer-cb, string, string-cb`);
  process.exit(2);
}
if (S.parts.length === 0 || S.parts.some((p) => !PART_NAMES.includes(p))) {
  console.error(`bench: GW_PARTS=${process.env.GW_PARTS} is not a comma list of ${PART_NAMES.join(', ')}`);
  process.exit(2);
}
const SOURCES = ['127.0.0.2', '127.0.0.3', '127.0.0.4', '127.0.0.5', '127.0.0.6', '127.0.0.7', '127.0.0.8', '127.0.0.9'];
// A server process may hold every client (one gateway, one ws process); each client process its share.
const SERVER_NOFILE = S.clients + 512;
const clientShare = (i) => Math.floor(S.clients / S.clientProcs) + (i < S.clients % S.clientProcs ? 1 : 0);
const CLIENT_NOFILE = clientShare(0) + 256;

// ---- handlers --------------------------------------------------------------------------------
// (a): the echo of the issue. (b), (c): the trigger "go:ID" broadcasts to every client; anything
// else is echoed (the start probe). The broadcast is made as bench/gateway-baseline.mjs makes it.
const ECHO_HANDLER = 'module.exports = { onMessage(client, m) { client.send(m); } };\n';
const BROADCAST_HANDLER = `const BYTES = ${S.payloadBytes};
function payloadOf(id, t) {
  const s = \`b:\${id}:\${t}:\`;
  return s + 'x'.repeat(Math.max(0, BYTES - s.length));
}
module.exports = {
  onMessage(client, m) {
    if (typeof m === 'string' && m.startsWith('go:')) {
      const t = process.hrtime.bigint();
      client.gateway.sendToAll(payloadOf(m.slice(3), t));
      return;
    }
    client.send(m);
  },
};
`;

// ---- servers, clients and their cleanup ------------------------------------------------------
/** Everything started: stopped by cleanup() on success, error and signals (runMain). */
class Bench {
  constructor() {
    this.looms = new Set();
    this.baselines = new Set();
    this.clients = new Set();
    this.sockets = new Set();
    /** Set on an error: Loom sandboxes are kept for inspection. */
    this.failed = false;
  }

  track(child) {
    this.clients.add(child);
    child.once('exit', () => this.clients.delete(child));
    return child;
  }

  async stopLoom(loom) {
    if (!this.looms.has(loom)) return;
    this.looms.delete(loom);
    const stop = await run(process.execPath, [loom.cli, 'stop', '-c', loom.config], 30000);
    if (stop.code !== 0) {
      console.error(`bench: loom stop failed (${stop.code}): ${stop.stderr.trim()}; killing`);
      await run(process.execPath, [loom.cli, 'kill', '-c', loom.config], 10000);
    }
    if (this.failed) console.error(`bench: Loom sandbox kept for inspection: ${loom.dir}`);
    else rmSync(loom.dir, { recursive: true, force: true });
  }

  async stopBaseline(child) {
    if (!this.baselines.has(child)) return;
    this.baselines.delete(child);
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
    await exited;
    clearTimeout(timer);
  }

  async cleanup() {
    for (const ws of this.sockets) ws.terminate();
    this.sockets.clear();
    for (const c of this.clients) c.kill('SIGKILL');
    this.clients.clear();
    for (const b of [...this.baselines]) await this.stopBaseline(b);
    for (const l of [...this.looms]) await this.stopLoom(l);
  }
}

const bench = new Bench();

/** A WebSocket client of the bench process itself (probe, broadcast trigger). */
function wsOpen(port) {
  return withTimeout(new Promise((resolve, reject) => {
    const ws = new WebSocket(`ws://127.0.0.1:${port}/`, { perMessageDeflate: false });
    bench.sockets.add(ws);
    ws.once('close', () => bench.sockets.delete(ws));
    ws.once('open', () => resolve(ws));
    ws.once('error', reject);
  }), 10000, `a WebSocket to port ${port}`);
}

/** One message through the server and back: it works (for Loom: gateway -> business -> gateway). */
async function probe(port) {
  const ws = await wsOpen(port);
  try {
    const text = 'loom gateway bench probe \u00e9\u4e16';
    await withTimeout(new Promise((resolve, reject) => {
      ws.once('message', (d) => (String(d) === text ? resolve() : reject(new Error(`bad echo: ${String(d)}`))));
      ws.once('error', reject);
      ws.send(text);
    }), 15000, `echo probe on port ${port}`);
  } finally {
    ws.terminate();
  }
}

/** Tries up to 3 free ports: one found free can be taken before the server binds it. */
async function onFreePort(name, start) {
  for (let attempt = 1; ; attempt++) {
    const port = await freePort();
    try {
      return await start(port);
    } catch (err) {
      if (attempt >= 3) throw err;
      console.error(`bench: ${name} on port ${port} failed (${err.message}); retrying on another port`);
    }
  }
}

/**
 * A Loom daemon in a temporary sandbox with one gateway group; proven by an echo probe.
 * Returns { name, port, pid (master), gatewayPids, businessPids, stop }.
 */
function startLoom({ gateways, business, handler, nofile = 0 }) {
  return onFreePort('Loom', async (port) => {
    const dir = mkdtempSync(join(tmpdir(), 'loom-gwbench-'));
    mkdirSync(join(dir, 'handlers'));
    const cli = join(dir, 'loom.cjs');
    copyFileSync(LOOM, cli); // a private copy: start and stop run the same build
    writeFileSync(join(dir, 'handlers', 'h.js'), handler);
    const config = join(dir, 'config.ini');
    writeFileSync(config, `[loom]
name = loomgwbench
pid_file = ${dir}/loom.pid
log_file = ${dir}/loom.log
stdout_file = ${dir}/stdout.log
handlers_dir = handlers
watch = false
stop_timeout = 5

[g]
model = gateway
listen = ws://127.0.0.1:${port}
count = ${gateways}
business_count = ${business}
handler = h.js
`);
    const loom = { dir, cli, config };
    bench.looms.add(loom);
    const stop = () => bench.stopLoom(loom);
    try {
      const r = await run(process.execPath, [cli, 'start', '-d', '-c', config], 30000, { nofile });
      if (r.code !== 0) throw new Error(`loom start -d failed (${r.code}): ${r.stderr.trim() || r.stdout.trim()}`);
      const pid = Number(readFileSync(join(dir, 'loom.pid'), 'utf8').trim());
      await probe(port);
      const procs = (await loomStatus(loom)).processes;
      const gatewayPids = procs.filter((p) => p.gateway).map((p) => p.pid);
      const businessPids = procs.filter((p) => !p.gateway).map((p) => p.pid);
      if (gatewayPids.length !== gateways || businessPids.length !== business) {
        throw new Error(`Loom runs ${gatewayPids.length} gateway and ${businessPids.length} business processes, expected ${gateways} and ${business}`);
      }
      return { name: 'loom', port, pid, gatewayPids, businessPids, loom, stop };
    } catch (err) {
      await stop();
      throw err;
    }
  });
}

async function loomStatus(loom) {
  const r = await run(process.execPath, [loom.cli, 'status', '--json', '-c', loom.config], 15000);
  if (r.code !== 0) throw new Error(`loom status failed (${r.code}): ${r.stderr.trim() || r.stdout.trim()}`);
  return JSON.parse(r.stdout);
}

/** A plain ws server (node:cluster primary + workers) from `script`; proven by an echo probe. */
function startBaseline(script, args, { nofile = 0 } = {}) {
  return onFreePort('baseline', async (port) => {
    const child = forkNode(join(BENCH, script), args(port), { nofile });
    bench.baselines.add(child);
    const stop = () => bench.stopBaseline(child);
    try {
      await withTimeout(new Promise((resolve, reject) => {
        child.on('message', (m) => { if (m?.t === 'ready') resolve(m); });
        child.once('exit', (code, sig) => reject(new Error(`baseline exited with ${sig ?? code} while starting`)));
      }), 15000, 'baseline to listen');
      await probe(port);
      const workerPids = treePids(child.pid).filter((p) => p !== child.pid);
      return { name: 'baseline', port, pid: child.pid, workerPids, stop };
    } catch (err) {
      await stop();
      throw err;
    }
  });
}

/** CPU seconds (user + system) of one process so far (0 if gone). */
function cpuOf(pid) {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(f[11]) + Number(f[12])) / 100;
  } catch {
    return 0;
  }
}

/** Established connections on `port` held by `pids`, summed (from /proc: asks the server nothing). */
function heldBy(server, pids) {
  const held = establishedByPid(server.pid, server.port);
  return pids.map((p) => held.get(p) ?? 0);
}

/** Waits until `pids` hold `n` connections on the server's port together. */
async function waitHeld(server, pids, n, what) {
  const t0 = Date.now();
  const deadline = t0 + 60000 + n * 5;
  for (;;) {
    const held = heldBy(server, pids);
    const total = held.reduce((a, b) => a + b, 0);
    if (total === n) return { held, ms: Date.now() - t0 };
    if (total > n) throw new Error(`${what}: hold ${total} connections, expected ${n}`);
    if (Date.now() > deadline) throw new Error(`${what}: hold only ${total} of ${n} connections after ${Date.now() - t0} ms`);
    await sleep(250);
  }
}

/** GW_CLIENTS WebSocket clients in GW_CLIENT_PROCS processes (bench/gateway-fanout-client.mjs). */
async function openClients(server) {
  const procs = [];
  for (let i = 0; i < S.clientProcs; i++) {
    const n = clientShare(i);
    if (n === 0) continue;
    // Each process cycles over every source address, starting at a different one.
    const addresses = SOURCES.map((_, j) => SOURCES[(i + j) % SOURCES.length]);
    const child = bench.track(forkNode(join(BENCH, 'gateway-fanout-client.mjs'),
      [JSON.stringify({ port: server.port, connections: n, addresses, payloadBytes: S.payloadBytes })], { nofile: CLIENT_NOFILE }));
    procs.push({ child, n, mb: new Mailbox(child, `${server.name}: client process ${i}`) });
  }
  const t0 = Date.now();
  const opened = await Promise.all(procs.map((p) => p.mb.next('open', 60000 + S.clients * 10)));
  opened.forEach((o, i) => {
    if (o.failed > 0 || o.open !== procs[i].n) throw new Error(`${server.name}: client process ${i} opened ${o.open} of ${procs[i].n} WebSockets (${o.failed} failed)`);
  });
  return { procs, openMs: Date.now() - t0 };
}

/** Resets every client (RST: no TIME_WAIT); throws if any had been closed by the server. */
async function closeClients(server, clients) {
  let unexpected = 0;
  // Not through the Mailbox: the child exits right after its answer, and its 'exit' event may
  // come before the message does; a message listener still gets it.
  const answers = clients.procs.map((p) => withTimeout(new Promise((resolve) => {
    p.child.on('message', (m) => { if (m?.t === 'closed') resolve(m); });
  }), 15000, `${server.name}: client process ${p.child.pid} to close its connections`));
  for (const p of clients.procs) p.child.send({ t: 'close' });
  for (const a of answers) unexpected += (await a).unexpectedCloses;
  await Promise.all(clients.procs.map((p) => withTimeout(p.mb.exited, 5000, 'client process to exit').catch(() => p.child.kill('SIGKILL'))));
  if (unexpected > 0) throw new Error(`${server.name}: ${unexpected} client(s) were closed by the server`);
}

// ---- (a) round trips --------------------------------------------------------------------------
async function roundTrips(who) {
  const processes = S.rrGateways + S.rrBusiness;
  const server = who === 'loom'
    ? await startLoom({ gateways: S.rrGateways, business: S.rrBusiness, handler: ECHO_HANDLER })
    : await startBaseline('baseline-web.mjs', (port) => ['ws', String(port), String(processes)]);
  try {
    const child = bench.track(forkNode(join(BENCH, 'gateway-rr-client.mjs'),
      [JSON.stringify({ port: server.port, connections: S.connections, payloadBytes: S.payloadBytes })]));
    const mb = new Mailbox(child, `${who}: round-trip client`);
    await mb.next('ready', 30000);
    await sleep(S.warmup * 1000);
    const roles = who === 'loom'
      ? { master: [server.pid], gateway: server.gatewayPids, business: server.businessPids }
      : { primary: [server.pid], workers: server.workerPids };
    const cpuRoles = () => Object.fromEntries(Object.entries(roles).map(([k, pids]) => [k, pids.reduce((a, p) => a + cpuOf(p), 0)]));
    const c0 = { server: treeCpuSeconds(server.pid), client: cpuOf(child.pid), roles: cpuRoles(), t: process.hrtime.bigint() };
    child.send({ t: 'start' });
    await sleep(S.seconds * 1000);
    const c1 = { server: treeCpuSeconds(server.pid), client: cpuOf(child.pid), roles: cpuRoles(), t: process.hrtime.bigint() };
    child.send({ t: 'stop' });
    const r = await mb.next('result', 10000);
    const spread = heldBy(server, who === 'loom' ? server.gatewayPids : server.workerPids).join('/');
    child.send({ t: 'close' });
    await withTimeout(mb.exited, 5000, 'round-trip client to exit').catch(() => child.kill('SIGKILL'));
    const wall = Number(c1.t - c0.t) / 1e9;
    const serverCpu = c1.server - c0.server;
    return {
      rate: r.count / r.seconds,
      count: r.count,
      seconds: r.seconds,
      serverCpuSeconds: serverCpu,
      serverCpuPercent: (serverCpu / wall) * 100,
      cpuPerMessageUs: (serverCpu / r.count) * 1e6,
      cpuByRoleUsPerMessage: Object.fromEntries(Object.keys(roles).map((k) => [k, ((c1.roles[k] - c0.roles[k]) / r.count) * 1e6])),
      clientCpuPercent: ((c1.client - c0.client) / wall) * 100,
      spread,
    };
  } finally {
    await server.stop();
  }
}

// ---- (b) broadcast fan-out ----------------------------------------------------------------------
async function fanout(who) {
  const N = S.clients;
  const server = who === 'loom'
    ? await startLoom({ gateways: S.gateways, business: S.business, handler: BROADCAST_HANDLER, nofile: SERVER_NOFILE })
    : await startBaseline('gateway-baseline.mjs', (port) => [String(port), '1', String(S.payloadBytes)], { nofile: SERVER_NOFILE });
  let clients = null;
  try {
    const holders = who === 'loom' ? server.gatewayPids : server.workerPids;
    clients = await openClients(server);
    const control = await wsOpen(server.port); // the trigger; it is a client too (N + 1 get the broadcast)
    control.on('message', () => undefined);
    const { held } = await waitHeld(server, holders, N + 1, `${who}: the server processes`);
    if (who === 'loom') {
      const st = await loomStatus(server.loom);
      const reported = st.processes.reduce((a, p) => a + (p.gateway?.clients ?? 0), 0);
      if (reported !== N + 1) throw new Error(`loom: the gateways report ${reported} clients, expected ${N + 1}`);
    }
    const broadcasts = [];
    for (let b = 0; b < S.broadcastWarmup + S.broadcasts; b++) {
      await sleep(S.gapMs);
      const id = b + 1;
      const waits = clients.procs.map((p) => p.mb.next('got', 30000 + N));
      const cpu0 = treeCpuSeconds(server.pid);
      const t0 = Number(process.hrtime.bigint());
      control.send(`go:${id}`);
      const got = await Promise.all(waits);
      const cpu1 = treeCpuSeconds(server.pid);
      if (got.some((g) => g.id !== id)) throw new Error(`${who}: expected broadcast ${id}, got ${got.map((g) => g.id).join(', ')}`);
      const last = Math.max(...got.map((g) => g.last));
      const first = Math.min(...got.map((g) => g.first));
      const tsend = got[0].tsend;
      const ms = (ns) => ns / 1e6;
      const m = {
        id,
        warmup: b < S.broadcastWarmup,
        triggerToLastMs: ms(last - t0),
        sendToLastMs: ms(last - tsend),
        triggerToSendMs: ms(tsend - t0),
        triggerToFirstMs: ms(first - t0),
        lastByProcessMs: got.map((g) => ms(g.last - t0)),
        serverCpuMs: (cpu1 - cpu0) * 1000, // /proc ticks: 10 ms resolution
      };
      if (!m.warmup) broadcasts.push(m);
    }
    control.terminate();
    const result = {
      triggerToLastMs: median(broadcasts.map((x) => x.triggerToLastMs)),
      sendToLastMs: median(broadcasts.map((x) => x.sendToLastMs)),
      triggerToSendMs: median(broadcasts.map((x) => x.triggerToSendMs)),
      triggerToFirstMs: median(broadcasts.map((x) => x.triggerToFirstMs)),
      serverCpuMsPerBroadcast: broadcasts.reduce((a, x) => a + x.serverCpuMs, 0) / broadcasts.length,
      held: held.join('/'),
      openMs: clients.openMs,
      broadcasts,
    };
    const c = clients;
    clients = null;
    await closeClients(server, c);
    return result;
  } finally {
    if (clients) for (const p of clients.procs) p.child.kill('SIGKILL');
    await server.stop();
  }
}

// ---- (c) idle memory --------------------------------------------------------------------------

async function idle(who) {
  const N = S.clients;
  const server = who === 'loom'
    ? await startLoom({ gateways: S.gateways, business: S.business, handler: BROADCAST_HANDLER, nofile: SERVER_NOFILE })
    : await startBaseline('gateway-baseline.mjs', (port) => [String(port), String(S.gateways), String(S.payloadBytes)], { nofile: SERVER_NOFILE });
  let clients = null;
  try {
    const holders = who === 'loom' ? server.gatewayPids : server.workerPids;
    if (holders.length !== S.gateways) throw new Error(`${who}: ${holders.length} client-holding processes, expected ${S.gateways}`);
    const others = who === 'loom' ? [server.pid, ...server.businessPids] : [server.pid];
    const before = await sampleMemory(holders, { settleS: S.settle, sampleMs: S.sampleMs, others });
    clients = await openClients(server);
    const { held, ms } = await waitHeld(server, holders, N, `${who}: the server processes`);
    const after = await sampleMemory(holders, { settleS: S.settle, sampleMs: S.sampleMs, others });
    const stillHeld = heldBy(server, holders).reduce((a, b) => a + b, 0);
    let reported = null;
    if (who === 'loom') reported = (await loomStatus(server.loom)).processes.reduce((a, p) => a + (p.gateway?.clients ?? 0), 0);
    const c = clients;
    clients = null;
    await closeClients(server, c);
    if (stillHeld !== N) throw new Error(`${who}: connections dropped while idle (held ${stillHeld} of ${N})`);
    if (reported !== null && reported !== N) throw new Error(`loom: the gateways report ${reported} clients, expected ${N}`);
    const per = (pids) => pids.reduce((a, p) => a + after.perProcess[p] - before.perProcess[p], 0) / N;
    return {
      rssPerClientKB: (after.rss - before.rss) / N,
      anonPerClientKB: (after.anon - before.anon) / N,
      filePerClientKB: (after.file - before.file) / N,
      masterPerClientKB: per([server.pid]),
      businessPerClientKB: who === 'loom' ? per(server.businessPids) : null,
      held: held.join('/'),
      acceptMs: c.openMs + ms,
      before, after,
    };
  } finally {
    if (clients) for (const p of clients.procs) p.child.kill('SIGKILL');
    await server.stop();
  }
}

// ---- main ------------------------------------------------------------------------------------
const f2 = (n) => (n === null || n === undefined || !Number.isFinite(n) ? '—' : n.toFixed(2));
const f1 = (n) => (n === null || n === undefined || !Number.isFinite(n) ? '—' : n.toFixed(1));
const load = () => loadavg().map((x) => x.toFixed(2)).join(' ');

async function alternate(part, fn, line) {
  const runs = { loom: [], baseline: [] };
  for (let round = 0; round < S.rounds; round++) {
    for (const who of round % 2 === 0 ? ['loom', 'baseline'] : ['baseline', 'loom']) {
      const m = await fn(who);
      runs[who].push(m);
      console.log(`  ${part} round ${round + 1}/${S.rounds} ${who.padEnd(8)} ${line(m)}`);
    }
  }
  return runs;
}

async function main() {
  if (!existsSync(LOOM)) throw new Error(`${LOOM} is missing: run \`node scripts/bundle.mjs\` (npm run bench does)`);
  const needsMany = S.parts.includes('fanout') || S.parts.includes('idle');
  const lim = nofileLimits();
  if (needsMany && lim.hard < SERVER_NOFILE && process.getuid?.() !== 0) {
    throw new Error(`open-file hard limit ${lim.hard} is below the ${SERVER_NOFILE} needed for GW_CLIENTS=${S.clients}: lower GW_CLIENTS or raise the limit`);
  }
  const started = new Date();
  console.log(`Loom gateway benchmark: parts ${S.parts.join(', ')}, ${S.rounds} round(s) each, alternating; Node ${process.version}, ` +
    `${cpus().length} CPUs, load ${load()}\n`);

  const runs = {};
  const results = {};
  const rrProcs = `${S.rrGateways} gateway + ${S.rrBusiness} business`;
  const bcProcs = `${S.gateways} gateway${S.gateways > 1 ? 's' : ''} + ${S.business} business`;

  if (S.parts.includes('rr')) {
    console.log(`(a) round trips: ${S.connections} WebSocket clients, one ${S.payloadBytes}-byte message in flight each, ${S.seconds} s after ${S.warmup} s; ` +
      `Loom ${rrProcs} vs ws + node:cluster ${S.rrGateways + S.rrBusiness} workers`);
    runs.rr = await alternate('(a)', roundTrips, (m) => `${fmt(m.rate).padStart(7)} round trips/s, server CPU ${f1(m.cpuPerMessageUs)} µs/round trip ` +
      `(${Object.entries(m.cpuByRoleUsPerMessage).map(([k, v]) => `${k} ${f1(v)}`).join(', ')}; ${f1(m.serverCpuPercent)} %), client CPU ${f1(m.clientCpuPercent)} %, conns ${m.spread}`);
    const r = { loom: {}, baseline: {} };
    for (const who of ['loom', 'baseline']) {
      r[who].rate = median(runs.rr[who].map((m) => m.rate));
      r[who].cpuPerMessageUs = median(runs.rr[who].map((m) => m.cpuPerMessageUs));
    }
    r.ratio = r.loom.rate / r.baseline.rate;
    r.cpuRatio = r.loom.cpuPerMessageUs / r.baseline.cpuPerMessageUs;
    results.rr = r;
  }
  if (S.parts.includes('fanout')) {
    console.log(`(b) broadcast fan-out: ${S.clients} WebSocket clients in ${S.clientProcs} processes from ${SOURCES[0]}-${SOURCES.at(-1)}, ` +
      `${S.broadcasts} broadcasts (+${S.broadcastWarmup} warm-up) of ${S.payloadBytes} bytes, ${S.gapMs} ms apart; Loom ${bcProcs} vs one ws process` +
      `${S.baselineSend === 'buffer' ? '' : ` (diagnostic GW_BASELINE_SEND=${S.baselineSend})`}`);
    runs.fanout = await alternate('(b)', fanout, (m) => `trigger → last ${f1(m.triggerToLastMs).padStart(6)} ms (first ${f1(m.triggerToFirstMs)}; ` +
      `send → last ${f1(m.sendToLastMs)}, trigger → send ${f2(m.triggerToSendMs)}), server CPU ${f1(m.serverCpuMsPerBroadcast)} ms/broadcast, ` +
      `clients per process ${m.held}, connected in ${m.openMs} ms`);
    const r = { loom: {}, baseline: {} };
    for (const who of ['loom', 'baseline']) {
      const all = runs.fanout[who].flatMap((m) => m.broadcasts);
      for (const k of ['triggerToLastMs', 'sendToLastMs', 'triggerToSendMs', 'triggerToFirstMs']) r[who][k] = median(all.map((x) => x[k]));
      r[who].serverCpuMsPerBroadcast = median(runs.fanout[who].map((m) => m.serverCpuMsPerBroadcast));
    }
    r.ratio = r.loom.triggerToLastMs / r.baseline.triggerToLastMs;
    r.ratioFromSend = r.loom.sendToLastMs / r.baseline.sendToLastMs;
    results.fanout = r;
  }
  if (S.parts.includes('idle')) {
    console.log(`(c) idle memory: ${S.clients} idle WebSocket clients, RSS minimum over ${S.settle} s before and after; ` +
      `Loom ${bcProcs} (gateway RSS) vs ws + node:cluster ${S.gateways} worker${S.gateways > 1 ? 's' : ''} (worker RSS)`);
    runs.idle = await alternate('(c)', idle, (m) => `${f2(m.rssPerClientKB).padStart(6)} KB/client RSS (anon ${f2(m.anonPerClientKB)}, file ${f2(m.filePerClientKB)}; ` +
      `${(m.before.rss / 1024).toFixed(1)} -> ${(m.after.rss / 1024).toFixed(1)} MiB, clients per process ${m.held}, connected in ${m.acceptMs} ms; ` +
      `master/primary ${f2(m.masterPerClientKB)}${m.businessPerClientKB === null ? '' : `, business ${f2(m.businessPerClientKB)}`} KB/client)`);
    const r = { loom: {}, baseline: {} };
    for (const who of ['loom', 'baseline']) {
      const xs = runs.idle[who].map((m) => m.rssPerClientKB);
      r[who].rssPerClientKB = median(xs);
      r[who].min = Math.min(...xs);
      r[who].max = Math.max(...xs);
      r[who].anonPerClientKB = median(runs.idle[who].map((m) => m.anonPerClientKB));
      r[who].businessPerClientKB = who === 'loom' ? median(runs.idle[who].map((m) => m.businessPerClientKB)) : null;
    }
    r.ratio = r.loom.rssPerClientKB / r.baseline.rssPerClientKB;
    results.idle = r;
  }

  const range = (x) => (S.rounds > 1 ? ` (${f2(x.min)}–${f2(x.max)})` : '');
  const verdict = (ok) => (ok ? 'met' : 'not met');
  const rows = [
    '| part | processes: Loom / plain ws | Loom | plain ws | ratio Loom / ws | target | GatewayWorker 4.0 |',
    '|---|---|---:|---:|---:|---:|---:|',
  ];
  if (results.rr) {
    const r = results.rr;
    rows.push(`| (a) round trips/s, ${S.connections} WS clients, 1 in flight | ${rrProcs} / ${S.rrGateways + S.rrBusiness} workers (node:cluster) | ` +
      `${fmt(r.loom.rate)} | ${fmt(r.baseline.rate)} | **${f2(r.ratio)}×** | ≥ ${TARGET.rr}× (${verdict(r.ratio >= TARGET.rr)}) | ${WORKERMAN.rr}× |`);
    rows.push(`| (a) server CPU per round trip (all server processes) | same | ${f1(r.loom.cpuPerMessageUs)} µs | ${f1(r.baseline.cpuPerMessageUs)} µs | ` +
      `${f2(r.cpuRatio)}× | | ${WORKERMAN.rrCpu}× |`);
  }
  if (results.fanout) {
    const r = results.fanout;
    rows.push(`| (b) broadcast to ${fmt(S.clients)} WS clients: trigger sent → last received | ${bcProcs} / 1 ws process | ` +
      `${f1(r.loom.triggerToLastMs)} ms | ${f1(r.baseline.triggerToLastMs)} ms | **${f2(r.ratio)}×** | ≤ ${TARGET.fanout}× (${verdict(r.ratio <= TARGET.fanout)}) | ${WORKERMAN.fanout}× |`);
    rows.push(`| (b) the same from the send call (sendToAll / the ws loop) | same | ${f1(r.loom.sendToLastMs)} ms | ${f1(r.baseline.sendToLastMs)} ms | ${f2(r.ratioFromSend)}× | | |`);
  }
  if (results.idle) {
    const r = results.idle;
    rows.push(`| (c) RSS per idle WS client (${fmt(S.clients)}), client-holding processes | ${bcProcs} (gateway RSS) / ${S.gateways} worker${S.gateways > 1 ? 's' : ''} (node:cluster) | ` +
      `${f2(r.loom.rssPerClientKB)} KB${range(r.loom)} | ${f2(r.baseline.rssPerClientKB)} KB${range(r.baseline)} | **${f2(r.ratio)}×** | ≤ ${TARGET.idle}× (${verdict(r.ratio <= TARGET.idle)}) | ${WORKERMAN.idle}× |`);
  }
  const table = rows.join('\n');
  console.log(`\nMedians of ${S.rounds} round(s) per server${results.fanout ? ` ((b): of all ${S.rounds * S.broadcasts} broadcasts)` : ''}; KB = 1024 bytes; load at end ${load()}:\n\n${table}\n`);
  if (results.idle) console.log(`(c) not in the ratio: Loom's business process grew by ${f2(results.idle.loom.businessPerClientKB)} KB per client.`);

  const resultsDir = join(BENCH, 'results');
  mkdirSync(resultsDir, { recursive: true });
  const file = join(resultsDir, `gateway-${stamp(started)}.json`);
  writeFileSync(file, `${JSON.stringify({
    ...resultMeta('gateway', started, S),
    baselines: {
      rr: 'bench/baseline-web.mjs ws: ws + node:cluster (round-robin), echo',
      fanout: `bench/gateway-baseline.mjs with 1 worker: one ws process, broadcast = loop over wss.clients sending ${S.baselineSend.startsWith('buffer') ? 'one Buffer' : 'the string'} as a text frame${S.baselineSend.endsWith('-cb') ? ', with a write callback' : ''}`,
      idle: `bench/gateway-baseline.mjs with ${S.gateways} worker(s)`,
    },
    reference: { workermanGatewayWorker4: WORKERMAN, targets: TARGET },
    units: { rr: 'round trips/s; µs server CPU per round trip', fanout: 'ms, process.hrtime (one monotonic clock)', idle: 'KB (1024 bytes) per idle client' },
    median: results,
    rounds: runs,
    table,
  }, null, 2)}\n`);
  console.log(`Results written to ${file.slice(ROOT.length + 1)}`);
}

await runMain(bench, main);
