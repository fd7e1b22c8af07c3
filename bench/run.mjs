// Text-echo benchmark: Loom (text:// group, count = WORKERS, echo handler) against a plain
// node:cluster + net echo server (bench/baseline-echo.mjs) with the same process count, in
// one run. Three scenarios, each run for BENCH_ROUNDS rounds alternating the two servers;
// the median of each is reported with the ratio Loom / baseline. See bench/README.md.
//
//   npm run bench                          (builds dist/loom.cjs first)
//   BENCH_SECONDS=2 BENCH_ROUNDS=1 node bench/run.mjs
import { fork, spawn } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import { cpus, loadavg, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const BENCH = dirname(fileURLToPath(import.meta.url));
const ROOT = resolve(BENCH, '..');
// BENCH_LOOM: another bundle to measure (e.g. an experimental build), default dist/loom.cjs.
const LOOM = process.env.BENCH_LOOM ? resolve(process.env.BENCH_LOOM) : join(ROOT, 'dist', 'loom.cjs');
const HOST = '127.0.0.1';

// ---- settings (environment) ------------------------------------------------------------
function envNum(name, def, min, max) {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return def;
  const n = Number(raw);
  if (!Number.isFinite(n) || n < min || n > max) {
    console.error(`bench: ${name}=${raw} is not a number in ${min}..${max}`);
    process.exit(2);
  }
  return n;
}
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

// ---- resources to clean up ---------------------------------------------------------------
const live = { loomConfig: null, loomCli: LOOM, loomDir: null, baseline: null, clients: new Set() };
let failed = false;

async function stopLoom() {
  if (live.loomConfig) {
    const cfg = live.loomConfig;
    live.loomConfig = null;
    const stop = await run(process.execPath, [live.loomCli, 'stop', '-c', cfg], 20000);
    if (stop.code !== 0) {
      console.error(`bench: loom stop failed (${stop.code}): ${stop.stderr.trim()}; killing`);
      await run(process.execPath, [live.loomCli, 'kill', '-c', cfg], 10000);
    }
  }
  if (live.loomDir) {
    if (failed) console.error(`bench: Loom sandbox kept for inspection: ${live.loomDir}`);
    else rmSync(live.loomDir, { recursive: true, force: true });
    live.loomDir = null;
  }
}

async function stopBaseline() {
  const child = live.baseline;
  live.baseline = null;
  if (child && child.exitCode === null && child.signalCode === null) {
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
    await exited;
    clearTimeout(timer);
  }
}

async function cleanup() {
  for (const c of live.clients) c.kill('SIGKILL');
  live.clients.clear();
  await stopLoom();
  await stopBaseline();
}

let interrupted = false;
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.on(sig, () => {
    if (interrupted) return;
    interrupted = true;
    console.error(`bench: ${sig}, cleaning up`);
    cleanup().finally(() => process.exit(130));
  });
}

// ---- helpers -------------------------------------------------------------------------------
/** Runs a command to completion (bounded). */
function run(cmd, args, timeoutMs) {
  return new Promise((resolveRun) => {
    const child = spawn(cmd, args, { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c) => { stdout += c; });
    child.stderr.on('data', (c) => { stderr += c; });
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('error', (err) => { stderr += err.message; });
    child.on('close', (code, signal) => { clearTimeout(timer); resolveRun({ code: code ?? signal, stdout, stderr }); });
  });
}

/** A port free right now on 127.0.0.1: bind port 0 and let the kernel pick. */
function freePort() {
  return new Promise((resolvePort, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, HOST, () => {
      const { port } = s.address();
      s.close(() => resolvePort(port));
    });
  });
}

function withTimeout(promise, ms, what) {
  let timer;
  return Promise.race([
    promise,
    new Promise((_, reject) => { timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what}`)), ms); }),
  ]).finally(() => clearTimeout(timer));
}

/** One line through the server and back: proves it is a working echo before measuring. */
function echoOnce(port) {
  const probe = 'loom bench probe \u00e9\u4e16';
  return withTimeout(new Promise((resolveEcho, reject) => {
    const s = connect({ port, host: HOST });
    let got = '';
    s.setEncoding('utf8');
    s.on('connect', () => s.write(`${probe}\r\n${probe}\n`));
    s.on('data', (d) => {
      got += d;
      if (got.split('\n').length > 2) {
        s.destroy();
        if (got === `${probe}\n${probe}\n`) resolveEcho();
        else reject(new Error(`bad echo from port ${port}: ${JSON.stringify(got)}`));
      }
    });
    s.on('error', reject);
  }), 5000, `echo probe on port ${port}`);
}

/** CPU seconds (user + system) used so far by the process `rootPid` and its descendants. */
function treeCpuSeconds(rootPid) {
  const USER_HZ = 100; // clock ticks per second of /proc/PID/stat on Linux
  let ticks = 0;
  for (const pid of treePids(rootPid)) {
    let stat;
    try { stat = readFileSync(`/proc/${pid}/stat`, 'latin1'); } catch { continue; }
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    ticks += Number(f[11]) + Number(f[12]); // utime, stime
  }
  return ticks / USER_HZ;
}

/**
 * Established connections on `port` per process of the tree rooted at `rootPid`, as
 * "a/b/..." (processes holding none are left out): shows how evenly the workers share them.
 */
function connectionSpread(rootPid, port) {
  const inodes = new Set();
  const hex = port.toString(16).toUpperCase().padStart(4, '0');
  for (const file of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text = '';
    try { text = readFileSync(file, 'latin1'); } catch { continue; }
    for (const row of text.split('\n').slice(1)) {
      const f = row.trim().split(/\s+/);
      if (f.length > 9 && f[3] === '01' && f[1].endsWith(`:${hex}`)) inodes.add(f[9]);
    }
  }
  const counts = [];
  for (const pid of treePids(rootPid)) {
    let n = 0;
    let fds = [];
    try { fds = readdirSync(`/proc/${pid}/fd`); } catch { continue; }
    for (const fd of fds) {
      let link = '';
      try { link = readlinkSync(`/proc/${pid}/fd/${fd}`); } catch { continue; }
      const m = /^socket:\[(\d+)\]$/.exec(link);
      if (m && inodes.has(m[1])) n++;
    }
    if (n > 0) counts.push(n);
  }
  return counts.sort((a, b) => b - a).join('/');
}

function treePids(rootPid) {
  const byParent = new Map();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    let stat;
    try { stat = readFileSync(`/proc/${name}/stat`, 'latin1'); } catch { continue; }
    const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
    if (!byParent.has(ppid)) byParent.set(ppid, []);
    byParent.get(ppid).push(Number(name));
  }
  const out = [];
  const stack = [rootPid];
  while (stack.length) {
    const p = stack.pop();
    out.push(p);
    stack.push(...(byParent.get(p) ?? []));
  }
  return out;
}

function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

// ---- servers -------------------------------------------------------------------------------
async function startLoom(port) {
  const dir = mkdtempSync(join(tmpdir(), 'loom-bench-'));
  live.loomDir = dir;
  mkdirSync(join(dir, 'handlers'));
  // A private copy of the bundle: start and stop run the same build even if dist/ is rebuilt
  // meanwhile (the bundle is self-contained).
  const cli = join(dir, 'loom.cjs');
  copyFileSync(LOOM, cli);
  live.loomCli = cli;
  writeFileSync(join(dir, 'handlers', 'echo.js'), 'module.exports = {\n  onMessage(c, d) { c.send(d); },\n};\n');
  const config = join(dir, 'config.ini');
  writeFileSync(config, `[loom]
name = loombench
pid_file = ${dir}/loom.pid
log_file = ${dir}/loom.log
stdout_file = ${dir}/stdout.log
handlers_dir = handlers
watch = false
stop_timeout = 5

[echo]
listen = text://${HOST}:${port}
count = ${S.workers}
handler = echo.js
`);
  const r = await run(process.execPath, [cli, 'start', '-d', '-c', config], 30000);
  // Registered even on failure: a half-started daemon is stopped/killed by cleanup.
  live.loomConfig = config;
  if (r.code !== 0) throw new Error(`loom start -d failed (${r.code}): ${r.stderr.trim() || r.stdout.trim()}`);
  const pid = Number(readFileSync(join(dir, 'loom.pid'), 'utf8').trim());
  return { name: 'loom', port, pid };
}

async function startBaseline(port) {
  const child = fork(join(BENCH, 'baseline-echo.mjs'), [String(port), String(S.workers)], {
    cwd: ROOT, stdio: ['ignore', 'inherit', 'inherit', 'ipc'], execArgv: [],
  });
  live.baseline = child;
  const ready = new Promise((resolveReady, reject) => {
    child.on('message', (m) => { if (m?.t === 'ready') resolveReady(m); });
    child.once('exit', (code, sig) => reject(new Error(`baseline exited with ${sig ?? code} while starting`)));
  });
  await withTimeout(ready, 15000, 'baseline cluster to listen');
  return { name: 'baseline', port, pid: child.pid };
}

/**
 * Starts a server on a free port and proves it echoes. A port found free can be taken (e.g.
 * as some client's ephemeral port) before the server binds it: then retry on another.
 */
async function startChecked(name, start, stop) {
  for (let attempt = 1; ; attempt++) {
    const port = await freePort();
    try {
      const server = await start(port);
      await echoOnce(port);
      return server;
    } catch (err) {
      await stop();
      if (attempt >= 3) throw err;
      console.error(`bench: ${name} on port ${port} failed (${err.message}); retrying on another port`);
    }
  }
}

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
    const child = fork(join(BENCH, 'client.mjs'), [JSON.stringify(job)], { cwd: ROOT, stdio: ['ignore', 'inherit', 'inherit', 'ipc'], execArgv: [] });
    live.clients.add(child);
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
        live.clients.delete(child);
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
function fmt(n) {
  return n === null || n === undefined ? '—' : Math.round(n).toLocaleString('en-US');
}

async function main() {
  if (!existsSync(LOOM)) throw new Error(`${LOOM} is missing: run \`node scripts/bundle.mjs\` (npm run bench does)`);
  const started = new Date();
  console.log(`Loom text-echo benchmark: ${S.workers} workers each, ${S.rounds} round(s) x ${S.seconds} s (+${S.warmup} s warm-up), ` +
    `${S.clients} client process(es), ${S.lineBytes}-byte lines, Node ${process.version}, ${cpus().length} CPUs, load ${loadavg().map((x) => x.toFixed(2)).join(' ')}`);
  const loom = await startChecked('Loom', startLoom, stopLoom);
  const base = await startChecked('baseline', startBaseline, stopBaseline);
  console.log(`Loom master pid ${loom.pid} on ${HOST}:${loom.port}; baseline primary pid ${base.pid} on ${HOST}:${base.port}\n`);

  const out = [];
  for (const sc of SCENARIOS) {
    const runs = { loom: [], baseline: [] };
    for (let round = 0; round < S.rounds; round++) {
      // Alternate which server goes first, so drift in machine load does not favour one.
      const order = round % 2 === 0 ? [loom, base] : [base, loom];
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
    out.push({
      id: sc.id, title: sc.title, unit: sc.unit, mode: sc.mode, connections: sc.connections, depth: sc.depth, target: sc.target,
      loom: loomMedian, baseline: baseMedian, ratio: loomMedian / baseMedian,
      perServerCpuSecond: { loom: effL, baseline: effB, ratio: effL && effB ? effL / effB : null },
      rounds: runs,
    });
  }

  const table = [
    '| scenario | Loom | node baseline | ratio |',
    '|---|---:|---:|---:|',
    ...out.map((r) => `| ${r.title} | ${fmt(r.loom)} ${r.unit} | ${fmt(r.baseline)} ${r.unit} | ${r.ratio.toFixed(2)} |`),
  ].join('\n');
  const effTable = [
    '| scenario | Loom | node baseline | ratio |',
    '|---|---:|---:|---:|',
    ...out.map((r) => `| ${r.id} | ${fmt(r.perServerCpuSecond.loom)} | ${fmt(r.perServerCpuSecond.baseline)} | ${r.perServerCpuSecond.ratio?.toFixed(2) ?? '—'} |`),
  ].join('\n');
  console.log(`\nMedian of ${S.rounds} round(s), ${S.seconds} s each (targets: >= 0.95 long, >= 0.9 short):\n\n${table}\n`);
  console.log(`Requests (or connections) per CPU-second of the server's processes (less sensitive to other load on the machine):\n\n${effTable}\n`);

  const resultsDir = join(BENCH, 'results');
  mkdirSync(resultsDir, { recursive: true });
  const stamp = started.toISOString().replace(/[:.]/g, '-');
  const file = join(resultsDir, `echo-${stamp}.json`);
  writeFileSync(file, `${JSON.stringify({
    benchmark: 'text-echo',
    startedAt: started.toISOString(),
    finishedAt: new Date().toISOString(),
    node: process.version,
    cpus: cpus().length,
    cpuModel: cpus()[0]?.model,
    loadavgAtEnd: loadavg(),
    settings: S,
    loomBundle: LOOM,
    baseline: 'node:cluster (default scheduling: round-robin, primary accepts) + net echo, bench/baseline-echo.mjs',
    scenarios: out,
    table,
  }, null, 2)}\n`);
  console.log(`Results written to ${file.slice(ROOT.length + 1)}`);
}

try {
  await main();
} catch (err) {
  if (!interrupted) {
    failed = true;
    console.error(`bench: ${err instanceof Error ? err.message : String(err)}`);
    process.exitCode = 1;
  }
} finally {
  if (!interrupted) await cleanup();
}
