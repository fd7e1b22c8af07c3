// Text-echo benchmark: Loom (text:// group, count = WORKERS, echo handler) against a plain
// node:cluster + net echo server (bench/baseline-echo.mjs) with the same process count, in
// one run. Three scenarios, each run for BENCH_ROUNDS rounds alternating the two servers;
// the median of each is reported with the ratio Loom / baseline. The floor (bench/floor.c, an
// epoll loop writing back what it reads, when a C compiler is there) runs beside them: what
// the kernel and the load generator leave to any server. See bench/README.md.
//
//   npm run bench                          (builds dist/loom.cjs first)
//   BENCH_SECONDS=2 BENCH_ROUNDS=1 node bench/run.mjs
import { cpus, loadavg } from 'node:os';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  BENCH, HOST, LOOM, ROOT, Servers, connectionSpread, envNum, floorBinary, fmt, forkNode, freePort, median, runMain, stamp, startFloor, treeCpuSeconds, withTimeout, resultMeta
} from './lib.mjs';

// ---- settings (environment) ------------------------------------------------------------
const S = {
  rounds: Math.round(envNum('BENCH_ROUNDS', 3, 1, 50)),
  seconds: envNum('BENCH_SECONDS', 5, 0.5, 600),
  warmup: envNum('BENCH_WARMUP', 1, 0, 60),
  workers: Math.round(envNum('BENCH_WORKERS', 2, 1, 64)),
  clients: Math.round(envNum('BENCH_CLIENTS', 1, 1, 16)),
  connections: Math.round(envNum('BENCH_CONNECTIONS', 50, 1, 5000)),
  depth: Math.round(envNum('BENCH_DEPTH', 16, 2, 1024)),
  shortConcurrency: Math.round(envNum('BENCH_SHORT_CONCURRENCY', 50, 1, 5000)),
  lineBytes: Math.round(envNum('BENCH_LINE_BYTES', 64, 2, 65536)),
};
const ALL_SCENARIOS = [
  { id: 'long-rr', title: `long connections, request/response (${S.connections} conns)`, unit: 'req/s', mode: 'long', connections: S.connections, depth: 1, target: 0.95 },
  { id: 'long-pipelined', title: `long connections, pipelined (${S.connections} conns x ${S.depth} in flight)`, unit: 'req/s', mode: 'long', connections: S.connections, depth: S.depth, target: 0.95 },
  { id: 'short', title: `short connections (${S.shortConcurrency} concurrent loops)`, unit: 'conn/s', mode: 'short', connections: S.shortConcurrency, depth: 1, target: 0.9 },
];
const only = (process.env.BENCH_SCENARIOS ?? '').split(',').map((s) => s.trim()).filter(Boolean);
const SCENARIOS = only.length ? ALL_SCENARIOS.filter((s) => only.includes(s.id)) : ALL_SCENARIOS;
if (SCENARIOS.length === 0) {
  console.error(`bench: BENCH_SCENARIOS matches none of ${ALL_SCENARIOS.map((s) => s.id).join(', ')}`);
  process.exit(2);
}

const servers = new Servers({ workers: S.workers });
// The short-connection goal compares server CPU with node:cluster's SCHED_NONE too (workers
// accept on the shared socket themselves, as Loom's do): a second baseline, for `short` only.
const noneServers = new Servers({ workers: S.workers, sched: 'none' });

// ---- one measurement ---------------------------------------------------------------------
/** Runs the load against one server; returns the summed rate and server CPU efficiency. */
async function measure(server, scenario) {
  const perClient = Math.max(1, Math.round(scenario.connections / S.clients));
  const job = {
    mode: scenario.mode, port: server.port, connections: perClient, depth: scenario.depth,
    warmupMs: Math.round(S.warmup * 1000), durationMs: Math.round(S.seconds * 1000), lineBytes: S.lineBytes,
  };
  const clients = [];
  let cpu0 = null;
  let cpu1 = null;
  let spread = null;
  for (let i = 0; i < S.clients; i++) {
    const child = servers.track(forkNode(join(BENCH, 'client.mjs'), [JSON.stringify(job)]));
    clients.push(new Promise((resolveClient, reject) => {
      let result = null;
      child.on('message', (m) => {
        if (m.t === 'measuring' && i === 0) {
          cpu0 = { cpu: treeCpuSeconds(server.pid), t: process.hrtime.bigint() };
          if (scenario.mode === 'long') spread = connectionSpread(server.pid, server.port);
        } else if (m.t === 'result') {
          if (i === 0) cpu1 = { cpu: treeCpuSeconds(server.pid), t: process.hrtime.bigint() };
          result = m;
        } else if (m.t === 'error') reject(new Error(`client: ${m.message}`));
      });
      child.once('exit', (code, sig) => {
        if (result) resolveClient(result);
        else reject(new Error(`client exited with ${sig ?? code} before reporting`));
      });
    }));
  }
  const bound = (S.warmup + S.seconds) * 1000 + 30000;
  const results = await withTimeout(Promise.all(clients), bound, `${scenario.id} load on ${server.name}`);
  const rate = results.reduce((a, r) => a + r.rate, 0);
  const serverCpu = cpu0 && cpu1 ? (cpu1.cpu - cpu0.cpu) / (Number(cpu1.t - cpu0.t) / 1e9) : null;
  return {
    rate,
    errors: results.reduce((a, r) => a + r.errors, 0),
    unexpectedCloses: results.reduce((a, r) => a + r.unexpectedCloses, 0),
    clientCpu: results.reduce((a, r) => a + r.clientCpu, 0),
    serverCpu, // cores busy in the server's process tree during the window
    perServerCpuSecond: serverCpu ? rate / serverCpu : null,
    spread, // long connections per worker process, e.g. "26/24"
  };
}

// ---- main ------------------------------------------------------------------------------------
async function main() {
  if (!existsSync(LOOM)) throw new Error(`${LOOM} is missing: run \`node scripts/bundle.mjs\` (npm run bench does)`);
  const started = new Date();
  console.log(`Loom text-echo benchmark: ${S.workers} workers each, ${S.rounds} round(s) x ${S.seconds} s (+${S.warmup} s warm-up), ` +
    `${S.clients} client process(es), ${S.lineBytes}-byte lines, Node ${process.version}, ${cpus().length} CPUs, load ${loadavg().map((x) => x.toFixed(2)).join(' ')}`);
  const loom = await servers.startLoomChecked();
  const base = await servers.startBaselineChecked();
  const none = SCENARIOS.some((sc) => sc.id === 'short') ? { ...(await noneServers.startBaselineChecked()), name: 'none' } : null;
  const floor = floorBinary() === null ? null : await startFloor('echo', await freePort(), S.workers);
  stopFloor = floor?.stop ?? null;
  console.log(`Loom master pid ${loom.pid} on ${HOST}:${loom.port}; baseline primary pid ${base.pid} on ${HOST}:${base.port}` +
    `${none ? `; SCHED_NONE baseline primary pid ${none.pid} on ${HOST}:${none.port}` : ''}\n`);

  const out = [];
  for (const sc of SCENARIOS) {
    const runs = { loom: [], baseline: [], none: [], floor: [] };
    const inRun = [loom, base, ...(sc.id === 'short' && none ? [none] : []), ...(floor ? [floor] : [])];
    for (let round = 0; round < S.rounds; round++) {
      // Rotate which server goes first, so drift in machine load does not favour one.
      const order = inRun.map((_, i) => inRun[(i + round) % inRun.length]);
      for (const server of order) {
        const m = await measure(server, sc);
        runs[server.name].push(m);
        const warn = m.errors || m.unexpectedCloses ? ` (${m.errors} errors, ${m.unexpectedCloses} unexpected closes)` : '';
        console.log(`  ${sc.id.padEnd(15)} round ${round + 1}/${S.rounds} ${server.name.padEnd(8)} ${fmt(m.rate).padStart(9)} ${sc.unit}` +
          `  server CPU ${m.serverCpu?.toFixed(2) ?? '?'} cores, client CPU ${m.clientCpu.toFixed(2)} cores${m.spread ? `, conns per worker ${m.spread}` : ''}${warn}`);
      }
    }
    const loomMedian = median(runs.loom.map((m) => m.rate));
    const baseMedian = median(runs.baseline.map((m) => m.rate));
    const effL = runs.loom.every((m) => m.perServerCpuSecond) ? median(runs.loom.map((m) => m.perServerCpuSecond)) : null;
    const effB = runs.baseline.every((m) => m.perServerCpuSecond) ? median(runs.baseline.map((m) => m.perServerCpuSecond)) : null;
    const noneMedian = runs.none.length ? median(runs.none.map((m) => m.rate)) : null;
    const effN = runs.none.length && runs.none.every((m) => m.perServerCpuSecond) ? median(runs.none.map((m) => m.perServerCpuSecond)) : null;
    const floorMedian = runs.floor.length ? median(runs.floor.map((m) => m.rate)) : null;
    const effF = runs.floor.length && runs.floor.every((m) => m.perServerCpuSecond) ? median(runs.floor.map((m) => m.perServerCpuSecond)) : null;
    out.push({
      id: sc.id, title: sc.title, unit: sc.unit, mode: sc.mode, connections: sc.connections, depth: sc.depth, target: sc.target,
      loom: loomMedian, baseline: baseMedian, ratio: loomMedian / baseMedian,
      perServerCpuSecond: { loom: effL, baseline: effB, ratio: effL && effB ? effL / effB : null },
      schedNone: noneMedian === null ? null : { rate: noneMedian, perServerCpuSecond: effN },
      floor: floorMedian === null ? null : { rate: floorMedian, perServerCpuSecond: effF },
      rounds: runs,
    });
  }

  const table = [
    '| scenario | Loom | node baseline | ratio | floor | floor ÷ baseline |',
    '|---|---:|---:|---:|---:|---:|',
    ...out.map((r) => `| ${r.title} | ${fmt(r.loom)} ${r.unit} | ${fmt(r.baseline)} ${r.unit} | ${r.ratio.toFixed(2)} | ${r.floor ? `${fmt(r.floor.rate)} ${r.unit}` : '–'} | ${r.floor ? (r.floor.rate / r.baseline).toFixed(2) : '–'} |`),
  ].join('\n');
  // Server CPU-ms per 1,000 requests (connections): the unit of the issue's CPU goals.
  const ms = (eff) => (eff ? (1e6 / eff).toFixed(1) : '—');
  const effTable = [
    '| scenario | Loom | node baseline | ratio | Loom CPU-ms / 1,000 | baseline CPU-ms / 1,000 | floor CPU-ms / 1,000 |',
    '|---|---:|---:|---:|---:|---:|---:|',
    ...out.map((r) => `| ${r.id} | ${fmt(r.perServerCpuSecond.loom)} | ${fmt(r.perServerCpuSecond.baseline)} | ${r.perServerCpuSecond.ratio?.toFixed(2) ?? '—'} | ${ms(r.perServerCpuSecond.loom)} | ${ms(r.perServerCpuSecond.baseline)} | ${ms(r.floor?.perServerCpuSecond)} |`),
  ].join('\n');
  console.log(`\nMedian of ${S.rounds} round(s), ${S.seconds} s each (issue 10 goals: short >= 1.8, at no more server CPU per connection than SCHED_NONE below; long: CPU per request no more than the baseline):\n\n${table}\n`);
  console.log(`Requests (or connections) per CPU-second of the server's processes (less sensitive to other load on the machine):\n\n${effTable}\n`);
  const short = out.find((r) => r.id === 'short' && r.schedNone);
  await noneServers.cleanup();
  if (short) {
    console.log(`Short connections against node:cluster with SCHED_NONE (workers accept themselves): ${fmt(short.schedNone.rate)} conn/s, ` +
      `${ms(short.schedNone.perServerCpuSecond)} server CPU-ms per 1,000 connections; Loom ${fmt(short.loom)} conn/s (${(short.loom / short.schedNone.rate).toFixed(2)}×) at ${ms(short.perServerCpuSecond.loom)}.\n`);
  }

  const resultsDir = join(BENCH, 'results');
  mkdirSync(resultsDir, { recursive: true });
  const file = join(resultsDir, `echo-${stamp(started)}.json`);
  writeFileSync(file, `${JSON.stringify({
    ...resultMeta('text-echo', started, S),
    baseline: 'node:cluster (default scheduling: round-robin, primary accepts) + net echo, bench/baseline-echo.mjs',
    scenarios: out,
    table,
  }, null, 2)}\n`);
  console.log(`Results written to ${file.slice(ROOT.length + 1)}`);
}

/** Kills the floor (set once it runs). */
let stopFloor = null;

await runMain(servers, () => main().finally(() => Promise.all([noneServers.cleanup(), stopFloor?.()])));
