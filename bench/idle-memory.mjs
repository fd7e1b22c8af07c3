// Idle-connection memory benchmark: memory per idle connection of Loom (text://, frame://,
// http:// keep-alive after one request, ws:// after its handshake; count = IDLE_WORKERS, echo
// handler, watch = false) against plain Node on node:cluster with as many workers (net echo,
// bench/baseline-echo.mjs; node:http and ws, bench/baseline-web.mjs), at each of IDLE_COUNTS
// connections (10,000 and 50,000). Each measurement starts a fresh server, reads the summed RSS
// of its worker processes (minimum over IDLE_SETTLE seconds of samples), opens the idle
// connections from separate client processes (bench/idle-client.mjs, at most
// IDLE_PER_CLIENT each, spread over the source addresses 127.0.0.2-127.0.0.9 past one
// address's ephemeral ports), waits until the workers hold them all, samples the RSS again for
// IDLE_SETTLE seconds and reports (after - before) / connections. With IDLE_WARM (1,000) it
// first opens that many and samples too, and also reports (after - warm) / (N - IDLE_WARM):
// what one more connection costs, without what the first ones cost once (code paged in,
// compiled, pools filled). Medians of IDLE_ROUNDS rounds.
// See bench/README.md; bench/idle-breakdown.mjs shows where the bytes go.
//
//   npm run bench                          (builds dist/loom.cjs first, then every benchmark)
//   IDLE_COUNTS=2000 IDLE_ROUNDS=1 IDLE_SETTLE=5 node bench/idle-memory.mjs
import { cpus, loadavg } from 'node:os';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  BENCH, LOOM, Mailbox, ROOT, Servers, envNum, establishedByPid, forkNode, median, nofileLimits, runMain,
  sampleMemory, sleep, stamp, sumMemory, withTimeout, resultMeta
} from './lib.mjs';

// Reference figures measured by the CEO (Workerman 5 on PHP 8.2; a node:http-style server).
const REFERENCE = { workerman: 2.3, nodeHttp: 7.6 };
/** Loopback addresses the clients connect from once one address's ports would not do. */
const SOURCES = Array.from({ length: 8 }, (_, i) => `127.0.0.${i + 2}`);

// ---- settings (environment) ------------------------------------------------------------
const [portLow, portHigh] = readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'latin1').trim().split(/\s+/).map(Number);
const PORTS = Math.max(1, portHigh - portLow - 1000);
const list = (name, def) => (process.env[name] || def).split(',').map((x) => x.trim()).filter(Boolean);
const S = {
  // IDLE_CONNS (one count) is still understood.
  counts: list('IDLE_COUNTS', process.env.IDLE_CONNS || '10000,50000').map((x) => Number(x)),
  protocols: list('IDLE_PROTOCOLS', 'text,frame,http,websocket'),
  rounds: Math.round(envNum('IDLE_ROUNDS', 3, 1, 50)),
  // IDLE_SERVERS=loom (or baseline): measure one only, e.g. while working on it.
  servers: list('IDLE_SERVERS', 'loom,baseline'),
  workers: Math.round(envNum('IDLE_WORKERS', 2, 1, 64)),
  perClient: Math.round(envNum('IDLE_PER_CLIENT', 10000, 100, 1000000)),
  // Seconds of idle sampling, once the server has started and once it holds every
  // connection: V8 gives memory back late (its memory reducer runs some 8-25 s after the
  // last busy moment, if at all), so the minimum over this window is kept.
  settle: envNum('IDLE_SETTLE', 15, 0.1, 600),
  sampleMs: Math.round(envNum('IDLE_SAMPLE_MS', 1000, 10, 60000)),
  // Connections opened (and RSS sampled) before the rest: 0 for none.
  warm: Math.round(envNum('IDLE_WARM', 1000, 0, 1000000)),
};
if (S.servers.length === 0 || S.servers.some((x) => x !== 'loom' && x !== 'baseline')) {
  console.error(`bench: IDLE_SERVERS=${process.env.IDLE_SERVERS} is not a comma list of loom, baseline`);
  process.exit(2);
}
if (S.protocols.length === 0 || S.protocols.some((x) => !['text', 'frame', 'http', 'websocket'].includes(x))) {
  console.error(`bench: IDLE_PROTOCOLS=${process.env.IDLE_PROTOCOLS} is not a comma list of text, frame, http, websocket`);
  process.exit(2);
}
if (S.counts.some((n) => !Number.isInteger(n) || n < 1 || n > PORTS * (SOURCES.length + 1))) {
  console.error(`bench: IDLE_COUNTS must be whole numbers in 1..${PORTS * (SOURCES.length + 1)}`);
  process.exit(2);
}
/** Every fd a worker may need: the kernel need not spread the accepts, so all of them, and a few. */
const nofileFor = (n) => n + 256;
/**
 * Workers of each server for n connections: IDLE_WORKERS, or more when the open-file hard limit
 * (which only a privileged process may raise) cannot hold n in one: both balance their
 * connections, so each holds at most 60 % of the limit.
 */
function workersFor(n) {
  const hard = nofileLimits().hard;
  return hard >= nofileFor(n) ? S.workers : Math.max(S.workers, Math.ceil(n / (0.6 * (hard - 256))));
}

const servers = new Servers({ workers: S.workers });

// ---- measurement -------------------------------------------------------------------------

/**
 * Connections each worker holds (open fds of established sockets on the port, from /proc:
 * asks the server nothing, so polling it does not disturb what is measured): Map pid -> count.
 */
function heldByWorker(server) {
  const held = establishedByPid(server.pid, server.port);
  return new Map(server.workerPids.map((pid) => [pid, held.get(pid) ?? 0]));
}

async function startServer(name) {
  if (name === 'loom') {
    const server = await servers.startLoomChecked();
    const st = await servers.loomStatus();
    server.workerPids = st.processes.map((p) => p.pid);
    server.stop = () => servers.stopLoom();
    return server;
  }
  const server = await servers.startBaselineChecked();
  server.workerPids = server.pids.filter((p) => p !== server.pid);
  server.stop = () => servers.stopBaseline();
  return server;
}

/** The client processes' shares of n connections, at most S.perClient each. */
function shares(n) {
  const procs = Math.ceil(n / S.perClient);
  return Array.from({ length: procs }, (_, i) => Math.floor(n / procs) + (i < n % procs ? 1 : 0));
}

/** One measurement: a fresh server, before, n idle connections, after. */
async function measure({ server: name, protocol, count: N }) {
  const W = S.warm < N ? S.warm : 0;
  servers.protocol = protocol;
  servers.workers = workersFor(N);
  servers.nofile = Math.min(nofileFor(N), nofileLimits().hard);
  const server = await startServer(name);
  if (server.workerPids.length !== servers.workers) throw new Error(`${name}: expected ${servers.workers} worker pids, got ${server.workerPids.join(', ')}`);
  const masterPids = [server.pid];
  const before = await sampleMemory(server.workerPids, { settleS: S.settle, sampleMs: S.sampleMs });
  const masterBefore = sumMemory(masterPids);

  // Past one address's ephemeral ports, every client spreads its connections over SOURCES.
  const sources = N > PORTS ? SOURCES : [];
  const clients = [];
  let held = new Map();
  /** Opens n more idle connections from new client processes; resolves once they are open. */
  const openIdle = async (n) => {
    const batch = shares(n).map((k) => {
      const child = servers.track(forkNode(join(BENCH, 'idle-client.mjs'), [JSON.stringify({ port: server.port, connections: k, sources, protocol })], { nofile: k + 256 }));
      return { child, n: k, box: new Mailbox(child, `${name}: idle client ${clients.length + 1}`) };
    });
    clients.push(...batch);
    // One after the other would be as fast: the server accepts on two cores at most.
    const opened = await Promise.all(batch.map((c) => c.box.next('open', 60000 + c.n * 5)));
    const open = opened.reduce((a, o) => a + o.open, 0);
    const failed = opened.reduce((a, o) => a + o.failed, 0);
    if (failed > 0 || open !== n) throw new Error(`${name}: the clients opened ${open} of ${n} connections (${failed} failed)`);
  };
  /**
   * Until the workers hold `want` connections (connected at the client may still sit in the
   * backlog); returns how many they hold. node:cluster's primary, which accepts and hands over,
   * has been seen to leave up to 1 % of 50,000 connections with no worker; that is noted, not
   * fatal, and the figures are divided by what the workers came to hold. Loom must hold all.
   */
  const waitHeld = async (want, t0) => {
    const deadline = Date.now() + 60000 + want * 5;
    let last = -1;
    let stuckSince = Date.now();
    for (;;) {
      held = heldByWorker(server);
      const total = [...held.values()].reduce((a, b) => a + b, 0);
      if (total === want) return total;
      if (total > want) throw new Error(`${name}: workers hold ${total} connections, expected ${want}`);
      if (total !== last) { last = total; stuckSince = Date.now(); }
      if (name !== 'loom' && total >= want * 0.98 && Date.now() - stuckSince > 30000) {
        console.log(`  note: ${caseName({ server: name, protocol })} workers hold ${total} of ${want} connections and no more come; measured per connection held`);
        return total;
      }
      if (Date.now() > deadline) throw new Error(`${name}: workers hold only ${total} of ${want} connections after ${Date.now() - t0} ms`);
      await sleep(want > 20000 ? 1000 : 250);
    }
  };
  try {
    // IDLE_WARM connections first: what the first connections cost once (code paged in, the
    // handshake's code compiled) is then in `warm`, and (after - warm) / (N - W) is the cost of
    // one more connection.
    let warm = null;
    let warmHeld = 0;
    if (W > 0) {
      await openIdle(W);
      warmHeld = await waitHeld(W, Date.now());
      warm = await sampleMemory(server.workerPids, { settleS: S.settle, sampleMs: S.sampleMs });
    }
    const t0 = Date.now();
    await openIdle(N - W);
    const holding = await waitHeld(N, t0);
    const acceptMs = Date.now() - t0;
    const after = await sampleMemory(server.workerPids, { settleS: S.settle, sampleMs: S.sampleMs });
    const masterAfter = sumMemory(masterPids);
    // Still all there (nothing was closed under us while sampling), and Loom counts them all?
    const stillHeld = [...heldByWorker(server).values()].reduce((a, b) => a + b, 0);
    const status = name === 'loom' ? await servers.loomStatus() : null;
    const reported = status ? status.processes.reduce((a, p) => a + p.connections, 0) : null;
    for (const c of clients) c.child.send({ t: 'close' });
    const closed = await Promise.all(clients.map((c) => c.box.next('closed', 15000)));
    const unexpected = closed.reduce((a, c) => a + c.unexpectedCloses, 0);
    if (stillHeld !== holding || unexpected > 0) {
      throw new Error(`${name}: connections dropped while idle (workers hold ${stillHeld} of ${holding}, clients saw ${unexpected} closes)`);
    }
    if (reported !== null && reported !== N) throw new Error(`${name}: status reports ${reported} connections, the workers hold ${N}`);
    const kib = (a, b) => (a - b) / holding; // /proc's kB are 1024 bytes, as KB here
    return {
      rssPerConnKB: kib(after.rss, before.rss),
      marginalKB: warm === null ? null : (after.rss - warm.rss) / (holding - warmHeld),
      anonPerConnKB: kib(after.anon, before.anon),
      filePerConnKB: kib(after.file, before.file),
      masterPerConnKB: kib(masterAfter.rss, masterBefore.rss),
      // Loom's own estimate (status --json, memoryPerConnection of the group), read once.
      statusPerConnKB: status ? (status.groups.find((g) => g.name === 'echo')?.memoryPerConnection ?? NaN) / 1024 : null,
      before, warm, after, masterBefore, masterAfter,
      spread: [...held.values()].sort((a, b) => b - a).join('/'),
      acceptMs,
      workers: servers.workers,
      clientProcesses: clients.length,
      sources: sources.length || 1,
      status: status?.processes ?? null, // Loom: its processes as `status --json` shows them after the measurement
    };
  } finally {
    for (const c of clients) if (c.child.exitCode === null && c.child.signalCode === null) c.child.kill('SIGKILL');
    await Promise.all(clients.map((c) => withTimeout(c.box.exited, 5000, 'idle client to exit').catch(() => undefined)));
    await server.stop();
  }
}

// ---- main ------------------------------------------------------------------------------------
const f1 = (n) => (n === null || n === undefined || !Number.isFinite(n) ? '—' : n.toFixed(2));
/** The plain Node server each protocol is compared with: net echo, node:http, or ws. */
const baselineOf = (protocol) => (protocol === 'http' || protocol === 'websocket' ? protocol : 'text');
const BASELINE_NAME = { text: 'node net', http: 'node:http', websocket: 'ws' };
const caseName = (c) => (c.server === 'loom' ? `Loom ${c.protocol}://` : `${BASELINE_NAME[c.protocol]} baseline`);
const caseKey = (c) => `${c.server}:${c.protocol}:${c.count}`;

async function main() {
  if (!existsSync(LOOM)) throw new Error(`${LOOM} is missing: run \`node scripts/bundle.mjs\` (npm run bench does)`);
  const lim = nofileLimits();
  const most = nofileFor(Math.max(...S.counts));
  if (lim.hard < S.perClient + 256) {
    throw new Error(`open-file hard limit ${lim.hard} is below the ${S.perClient + 256} a client process needs: lower IDLE_PER_CLIENT or raise the limit`);
  }
  // The net baseline's idle sockets never see a byte: one for text and frame.
  const baselines = [...new Set(S.protocols.map(baselineOf))];
  const cases = S.counts.flatMap((count) => [
    ...(S.servers.includes('loom') ? S.protocols.map((protocol) => ({ server: 'loom', protocol, count })) : []),
    ...(S.servers.includes('baseline') ? baselines.map((protocol) => ({ server: 'baseline', protocol, count })) : []),
  ]);
  const started = new Date();
  const minutes = (cases.length * S.rounds * ((S.warm > 0 ? 3 : 2) * S.settle + 15)) / 60;
  console.log(`Loom idle-connection memory benchmark: ${S.counts.join(' and ')} idle connections, ${S.counts.map(workersFor).join(" and ")} workers each, ${S.rounds} round(s), ` +
    `RSS: min of ${S.settle} s of samples before and after; Node ${process.version}, ${cpus().length} CPUs, load ${loadavg().map((x) => x.toFixed(2)).join(' ')}` +
    `; open files ${lim.soft}${lim.soft < most ? ' (clients and servers run under a higher ulimit -n)' : ''}; about ${Math.ceil(minutes)} minutes\n`);

  const runs = new Map(cases.map((c) => [caseKey(c), []]));
  for (let round = 0; round < S.rounds; round++) {
    // Alternate the order, so drift in machine state does not favour one server.
    for (const c of round % 2 === 0 ? cases : [...cases].reverse()) {
      const m = await measure(c);
      runs.get(caseKey(c)).push(m);
      console.log(`  round ${round + 1}/${S.rounds} ${String(c.count).padStart(6)} ${caseName(c).padEnd(20)} ${f1(m.rssPerConnKB).padStart(6)} KB/conn RSS (anon ${f1(m.anonPerConnKB)}, file ${f1(m.filePerConnKB)}; marginal ${f1(m.marginalKB)}; ` +
        `${m.workers} workers ${(m.before.rss / 1024).toFixed(1)} -> ${(m.after.rss / 1024).toFixed(1)} MiB, conns per worker ${m.spread}, ` +
        `accepted in ${m.acceptMs} ms from ${m.clientProcesses} process(es) and ${m.sources} address(es); master/primary ${f1(m.masterPerConnKB)} KB/conn` +
        `${m.statusPerConnKB !== null ? `; status estimate ${f1(m.statusPerConnKB)} KB` : ''})`);
    }
  }

  const results = cases.map((c) => {
    const ms = runs.get(caseKey(c));
    const med = (key) => median(ms.map((m) => m[key]));
    const rss = ms.map((m) => m.rssPerConnKB);
    return {
      ...c, rss: med('rssPerConnKB'), marginal: ms[0].marginalKB === null ? null : med('marginalKB'), anon: med('anonPerConnKB'), file: med('filePerConnKB'), master: med('masterPerConnKB'),
      status: c.server === 'loom' ? med('statusPerConnKB') : null, rssMin: Math.min(...rss), rssMax: Math.max(...rss),
    };
  });
  // The rounds can differ: whether V8 gives the young generation back is up to its memory
  // reducer (see bench/README.md). The range shows it.
  const range = (r) => (S.rounds > 1 ? ` (${f1(r.rssMin)}–${f1(r.rssMax)})` : '');
  const ratioOf = (r) => {
    const base = results.find((x) => x.server === 'baseline' && x.count === r.count && x.protocol === baselineOf(r.protocol));
    return r.server === 'loom' && base ? base.rss / r.rss : null;
  };
  const table = [
    `| connections (workers) | server | KB per connection (worker RSS${S.rounds > 1 ? ', range' : ''}) | anonymous part | file-backed part | one more connection (after the first ${S.warm}) | master/primary | ratio baseline / Loom | Loom's status estimate |`,
    '|---:|---|---:|---:|---:|---:|---:|---:|---:|',
    ...results.map((r) => `| ${r.count.toLocaleString('en-US')} (${workersFor(r.count)}) | ${caseName(r)} | ${f1(r.rss)}${range(r)} | ${f1(r.anon)} | ${f1(r.file)} | ${f1(r.marginal)} | ${f1(r.master)} | ${ratioOf(r) === null ? '' : `${f1(ratioOf(r))}×`} | ${r.status === null ? '' : f1(r.status)} |`),
    `| | reference: Workerman 5, PHP 8.2 (CEO), 10,000 | ${REFERENCE.workerman} | | | | | | |`,
    `| | reference: node:http-style baseline (CEO), 10,000 | ${REFERENCE.nodeHttp} | | | | | | |`,
  ].join('\n');
  console.log(`\nMedian of ${S.rounds} round(s); KB = 1024 bytes, (RSS after - RSS before) / connections, summed over the worker processes ` +
    `(ratio above 1: Loom holds a connection in less memory than the baseline):\n\n${table}\n`);

  const resultsDir = join(BENCH, 'results');
  mkdirSync(resultsDir, { recursive: true });
  const file = join(resultsDir, `idle-memory-${stamp(started)}.json`);
  writeFileSync(file, `${JSON.stringify({
    ...resultMeta('idle-memory', started, S),
    baseline: 'node:cluster (default scheduling: round-robin, primary accepts) + net echo (bench/baseline-echo.mjs) for text and frame; node:http and ws on node:cluster (bench/baseline-web.mjs) for http and websocket',
    unit: 'KB (1024 bytes) per idle connection, worker processes summed; master/primary separately',
    reference: { ...REFERENCE, source: 'CEO: Workerman 5 on PHP 8.2, and a node:http-style baseline' },
    median: results.map((r) => ({ ...r, ratioBaselineOverLoom: ratioOf(r) })),
    rounds: Object.fromEntries(runs),
    table,
  }, null, 2)}\n`);
  console.log(`Results written to ${file.slice(ROOT.length + 1)}`);
}

await runMain(servers, main);
