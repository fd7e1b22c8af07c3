// Idle-connection memory benchmark: memory per idle TCP connection of Loom (text:// group,
// count = IDLE_WORKERS, echo handler, watch = false) against the node:cluster + net echo
// baseline (bench/baseline-echo.mjs) with as many workers. Each round starts a fresh server,
// reads the summed RSS of its worker processes (minimum over IDLE_SETTLE seconds of samples),
// opens IDLE_CONNS idle connections from a separate client process (bench/idle-client.mjs),
// waits until the workers hold them all, samples the RSS again for IDLE_SETTLE seconds and
// reports (after - before) / IDLE_CONNS. Median of IDLE_ROUNDS rounds. See bench/README.md;
// bench/idle-breakdown.mjs shows where the bytes go.
//
//   npm run bench                          (builds dist/loom.cjs first, then both benchmarks)
//   IDLE_CONNS=2000 IDLE_ROUNDS=1 node bench/idle-memory.mjs
import { cpus, loadavg } from 'node:os';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  BENCH, LOOM, Mailbox, ROOT, Servers, envNum, establishedByPid, forkNode, median, nofileLimits, runMain,
  sampleMemory, sleep, stamp, sumMemory, withTimeout, resultMeta
} from './lib.mjs';

// Reference figures measured by the CEO (Workerman 5 on PHP 8.2; a node:http-style server).
const REFERENCE = { workerman: 2.3, nodeHttp: 7.6 };

// ---- settings (environment) ------------------------------------------------------------
const [portLow, portHigh] = readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'latin1').trim().split(/\s+/).map(Number);
const S = {
  connections: Math.round(envNum('IDLE_CONNS', 10000, 1, Math.max(1, portHigh - portLow - 1000))),
  rounds: Math.round(envNum('IDLE_ROUNDS', 3, 1, 50)),
  // IDLE_SERVERS=loom (or baseline): measure one only, e.g. while working on it.
  servers: (process.env.IDLE_SERVERS || 'loom,baseline').split(',').map((x) => x.trim()).filter(Boolean),
  workers: Math.round(envNum('IDLE_WORKERS', 2, 1, 64)),
  // Seconds of idle sampling, once the server has started and once it holds every
  // connection: V8 gives memory back late (its memory reducer runs some 8-25 s after the
  // last busy moment, if at all), so the minimum over this window is kept.
  settle: envNum('IDLE_SETTLE', 20, 0.1, 600),
  sampleMs: Math.round(envNum('IDLE_SAMPLE_MS', 1000, 10, 60000)),
};
if (S.servers.length === 0 || S.servers.some((x) => x !== 'loom' && x !== 'baseline')) {
  console.error(`bench: IDLE_SERVERS=${process.env.IDLE_SERVERS} is not a comma list of loom, baseline`);
  process.exit(2);
}
// Every fd of the client, and possibly of one worker (the kernel need not spread the accepts).
const NOFILE = S.connections + 256;

const servers = new Servers({ workers: S.workers, nofile: NOFILE });

// ---- measurement -------------------------------------------------------------------------

/**
 * Connections each worker holds (open fds of established sockets on the port, from /proc:
 * asks the server nothing, so polling it does not disturb what is measured): Map pid -> count.
 */
function heldByWorker(server) {
  const held = establishedByPid(server.pid, server.port);
  return new Map(server.workerPids.map((pid) => [pid, held.get(pid) ?? 0]));
}

/** What the server says of its processes: Loom's `status --json`; the baseline has no such report. */
async function reportedStatus(server) {
  if (server.name !== 'loom') return null;
  return (await servers.loomStatus()).processes;
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

/** One round on one server: a fresh server, before, N idle connections, after. */
async function measure(name) {
  const N = S.connections;
  const server = await startServer(name);
  if (server.workerPids.length !== S.workers) throw new Error(`${name}: expected ${S.workers} worker pids, got ${server.workerPids.join(', ')}`);
  const masterPids = [server.pid];
  const before = await sampleMemory(server.workerPids, { settleS: S.settle, sampleMs: S.sampleMs });
  const masterBefore = sumMemory(masterPids);

  const child = servers.track(forkNode(join(BENCH, 'idle-client.mjs'), [JSON.stringify({ port: server.port, connections: N })], { nofile: NOFILE }));
  const client = new Mailbox(child, `${name}: idle client`);

  try {
    const t0 = Date.now();
    const opened = await client.next('open', 60000 + N * 5);
    if (opened.failed > 0 || opened.open !== N) throw new Error(`${name}: the client opened ${opened.open} of ${N} connections (${opened.failed} failed)`);
    // Until the workers hold them all: connected at the client may still sit in the backlog.
    let held = new Map();
    const deadline = Date.now() + 60000 + N * 5;
    for (;;) {
      held = heldByWorker(server);
      const total = [...held.values()].reduce((a, b) => a + b, 0);
      if (total === N) break;
      if (total > N) throw new Error(`${name}: workers hold ${total} connections, expected ${N}`);
      if (Date.now() > deadline) throw new Error(`${name}: workers hold only ${total} of ${N} connections after ${Date.now() - t0} ms`);
      await sleep(250);
    }
    const acceptMs = Date.now() - t0;
    const after = await sampleMemory(server.workerPids, { settleS: S.settle, sampleMs: S.sampleMs });
    const masterAfter = sumMemory(masterPids);
    // Still all there (nothing was closed under us while sampling), and Loom counts them all?
    const stillHeld = [...heldByWorker(server).values()].reduce((a, b) => a + b, 0);
    const status = await reportedStatus(server);
    const reported = status ? status.reduce((a, p) => a + p.connections, 0) : null;
    child.send({ t: 'close' });
    const closed = await client.next('closed', 15000);
    if (stillHeld !== N || closed.unexpectedCloses > 0) {
      throw new Error(`${name}: connections dropped while idle (workers hold ${stillHeld} of ${N}, client saw ${closed.unexpectedCloses} closes)`);
    }
    if (reported !== null && reported !== N) throw new Error(`${name}: status reports ${reported} connections, the workers hold ${N}`);
    const kib = (a, b) => (a - b) / N; // /proc's kB are 1024 bytes, as KB here
    return {
      rssPerConnKB: kib(after.rss, before.rss),
      anonPerConnKB: kib(after.anon, before.anon),
      filePerConnKB: kib(after.file, before.file),
      masterPerConnKB: kib(masterAfter.rss, masterBefore.rss),
      before, after, masterBefore, masterAfter,
      spread: [...held.values()].sort((a, b) => b - a).join('/'),
      acceptMs,
      status, // Loom: its processes as `status --json` shows them after the measurement
    };
  } finally {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await withTimeout(client.exited, 5000, 'idle client to exit').catch(() => undefined);
    await server.stop();
  }
}

// ---- main ------------------------------------------------------------------------------------
const f1 = (n) => (n === null || n === undefined || !Number.isFinite(n) ? '—' : n.toFixed(2));

async function main() {
  if (!existsSync(LOOM)) throw new Error(`${LOOM} is missing: run \`node scripts/bundle.mjs\` (npm run bench does)`);
  const lim = nofileLimits();
  if (lim.hard < NOFILE && process.getuid?.() !== 0) {
    throw new Error(`open-file hard limit ${lim.hard} is below the ${NOFILE} needed for IDLE_CONNS=${S.connections}: lower IDLE_CONNS or raise the limit`);
  }
  const started = new Date();
  console.log(`Loom idle-connection memory benchmark: ${S.connections} idle connections, ${S.workers} workers each, ${S.rounds} round(s), ` +
    `RSS: min of ${S.settle} s of samples before and after; Node ${process.version}, ${cpus().length} CPUs, load ${loadavg().map((x) => x.toFixed(2)).join(' ')}` +
    `; open files ${lim.soft}${lim.soft < NOFILE ? ` (clients and servers run under ulimit -n ${NOFILE})` : ''}\n`);

  const runs = { loom: [], baseline: [] };
  for (let round = 0; round < S.rounds; round++) {
    // Alternate which server goes first, so drift in machine state does not favour one.
    for (const name of (round % 2 === 0 ? ['loom', 'baseline'] : ['baseline', 'loom']).filter((x) => S.servers.includes(x))) {
      const m = await measure(name);
      runs[name].push(m);
      console.log(`  round ${round + 1}/${S.rounds} ${name.padEnd(8)} ${f1(m.rssPerConnKB).padStart(6)} KB/conn RSS (anon ${f1(m.anonPerConnKB)}, file ${f1(m.filePerConnKB)}; ` +
        `workers ${(m.before.rss / 1024).toFixed(1)} -> ${(m.after.rss / 1024).toFixed(1)} MiB, conns per worker ${m.spread}, ` +
        `accepted in ${m.acceptMs} ms; master/primary ${f1(m.masterPerConnKB)} KB/conn)`);
    }
  }

  const med = (name, key) => median(runs[name].map((m) => m[key]));
  const result = {};
  for (const name of ['loom', 'baseline']) {
    const rss = runs[name].map((m) => m.rssPerConnKB);
    result[name] = {
      rss: med(name, 'rssPerConnKB'), anon: med(name, 'anonPerConnKB'), file: med(name, 'filePerConnKB'), master: med(name, 'masterPerConnKB'),
      rssMin: rss.length ? Math.min(...rss) : NaN, rssMax: rss.length ? Math.max(...rss) : NaN,
    };
  }
  // The rounds can differ a lot: whether V8 gives the young generation back is up to its
  // memory reducer (see bench/README.md). The range shows it.
  const range = (r) => (S.rounds > 1 && Number.isFinite(r.rssMin) ? ` (${f1(r.rssMin)}–${f1(r.rssMax)})` : '');
  const ratio = result.baseline.rss / result.loom.rss;
  const ratioAnon = result.baseline.anon / result.loom.anon;
  const table = [
    `| server (${S.workers} workers, ${S.connections} idle connections) | KB per connection (worker RSS${S.rounds > 1 ? ', range' : ''}) | anonymous part | file-backed part | master/primary RSS |`,
    '|---|---:|---:|---:|---:|',
    `| Loom (text://, echo handler) | ${f1(result.loom.rss)}${range(result.loom)} | ${f1(result.loom.anon)} | ${f1(result.loom.file)} | ${f1(result.loom.master)} |`,
    `| node:cluster + net baseline | ${f1(result.baseline.rss)}${range(result.baseline)} | ${f1(result.baseline.anon)} | ${f1(result.baseline.file)} | ${f1(result.baseline.master)} |`,
    `| **ratio baseline / Loom** (higher is better for Loom) | **${f1(ratio)}×** | ${f1(ratioAnon)}× | | |`,
    `| reference: Workerman 5, PHP 8.2 (CEO) | ${REFERENCE.workerman} | | | |`,
    `| reference: node:http-style baseline (CEO) | ${REFERENCE.nodeHttp} | | | |`,
    `| reference ratio node:http / Workerman | ${(REFERENCE.nodeHttp / REFERENCE.workerman).toFixed(1)}× | | | |`,
  ].join('\n');
  console.log(`\nMedian of ${S.rounds} round(s); KB = 1024 bytes, (RSS after - RSS before) / connections, summed over the worker processes:\n\n${table}\n`);
  console.log(`Loom holds an idle connection in ${f1(result.loom.rss)} KB: ${f1(result.loom.rss / REFERENCE.workerman)}× Workerman's ${REFERENCE.workerman} KB; ` +
    `the node baseline here takes ${f1(result.baseline.rss)} KB (${f1(ratio)}× Loom).\n`);

  const resultsDir = join(BENCH, 'results');
  mkdirSync(resultsDir, { recursive: true });
  const file = join(resultsDir, `idle-memory-${stamp(started)}.json`);
  writeFileSync(file, `${JSON.stringify({
    ...resultMeta('idle-memory', started, S),
    baseline: 'node:cluster (default scheduling: round-robin, primary accepts) + net echo, bench/baseline-echo.mjs',
    unit: 'KB (1024 bytes) per idle connection, worker processes summed; master/primary separately',
    reference: { ...REFERENCE, source: 'CEO: Workerman 5 on PHP 8.2, and a node:http-style baseline' },
    median: { ...result, ratioBaselineOverLoom: ratio, ratioBaselineOverLoomAnon: ratioAnon },
    rounds: runs,
    table,
  }, null, 2)}\n`);
  console.log(`Results written to ${file.slice(ROOT.length + 1)}`);
}

await runMain(servers, main);
