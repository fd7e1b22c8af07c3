// HTTP hello (wrk, keep-alive and Connection: close) and WebSocket echo: Loom vs node:http /
// ws on node:cluster, same number of processes, alternating rounds in one run; prints medians,
// the spread across rounds, ratios, and server CPU per request.
//
// Two placements (BENCH_PLACEMENT, default both):
//   shared  client and servers share the machine's cores as the scheduler likes (what a user
//           sees on a small box; the load generator takes a large share of the CPU).
//   pinned  servers on CPU 1, the load generator on CPU 0 (taskset): the server side is the
//           bottleneck, so the ratio is the servers' own throughput per core.
//   BENCH_ROUNDS (3), BENCH_SECONDS (5), BENCH_WORKERS (2), BENCH_CONNECTIONS (50),
//   BENCH_WEB (http,close,ws), BENCH_LOOM (dist/loom.cjs), BENCH_FLOOR (1; 0: leave it out)
//
// Every scenario also runs its floor (bench/floor.c, bench/floor-ws.c, built with the system's
// C compiler when there is one): an epoll loop that answers what it reads and does nothing
// else, the most any server can do here. Its ratio to the baseline bounds every other ratio
// on this machine.
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { BENCH, envNum, floorBinary, fmt, forkNode, freePort, LOOM, median, resultMeta, run, sleep, stamp, startFloor, treeCpuSeconds, treePids, withTimeout } from './lib.mjs';

const ROUNDS = envNum('BENCH_ROUNDS', 3, 1, 20);
const SECONDS = envNum('BENCH_SECONDS', 5, 1, 60);
const WORKERS = envNum('BENCH_WORKERS', 2, 1, 16);
const CONNS = envNum('BENCH_CONNECTIONS', 50, 1, 1000);
const KINDS = (process.env.BENCH_WEB || 'http,close,ws').split(',').map((s) => s.trim()).filter(Boolean);
const canPin = cpus().length >= 2 && spawnSync('taskset', ['-c', '0', 'true']).status === 0;
const PLACEMENTS = (process.env.BENCH_PLACEMENT || (canPin ? 'shared,pinned' : 'shared')).split(',').map((s) => s.trim()).filter(Boolean);

if (spawnSync('wrk', ['--version']).error) {
  console.error('bench/web: wrk is not installed (apt-get install wrk)');
  process.exit(2);
}
for (const k of KINDS) if (!['http', 'close', 'ws'].includes(k)) { console.error(`bench/web: unknown BENCH_WEB kind ${k}`); process.exit(2); }
for (const p of PLACEMENTS) if (!['shared', 'pinned'].includes(p) || (p === 'pinned' && !canPin)) { console.error(`bench/web: placement ${p} not possible here`); process.exit(2); }

const HANDLERS = {
  http: "module.exports = { onMessage(c) { c.send('hello'); } };\n",
  ws: 'module.exports = { onMessage(c, d) { c.send(d); } };\n',
};
const serverKind = (kind) => (kind === 'ws' ? 'ws' : 'http');

async function startLoom(kind, port) {
  const dir = mkdtempSync(join(tmpdir(), 'loom-webbench-'));
  mkdirSync(join(dir, 'handlers'));
  const cli = join(dir, 'loom.cjs');
  copyFileSync(LOOM, cli);
  writeFileSync(join(dir, 'handlers', 'h.js'), HANDLERS[serverKind(kind)]);
  const config = join(dir, 'config.ini');
  writeFileSync(config, `[loom]\nname = loombench\npid_file = ${dir}/loom.pid\nlog_file = ${dir}/loom.log\nstdout_file = ${dir}/stdout.log\nwatch = false\n\n[web]\nlisten = ${serverKind(kind)}://127.0.0.1:${port}\ncount = ${WORKERS}\nhandler = h.js\n`);
  const r = await run(process.execPath, [cli, 'start', '-d', '-c', config], 30000);
  if (r.code !== 0) throw new Error(`loom start failed: ${r.stderr}`);
  const pid = Number(readFileSync(join(dir, 'loom.pid'), 'utf8').trim());
  return {
    pid,
    stop: async () => {
      await run(process.execPath, [cli, 'stop', '-c', config], 20000);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

async function startBaseline(kind, port) {
  const child = forkNode(join(BENCH, 'baseline-web.mjs'), [serverKind(kind), String(port), String(WORKERS)]);
  await withTimeout(new Promise((resolve, reject) => {
    child.on('message', (m) => { if (m?.t === 'ready') resolve(); });
    child.once('exit', (c) => reject(new Error(`baseline exited ${c}`)));
  }), 15000, 'baseline to listen');
  return {
    pid: child.pid,
    stop: async () => {
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      await withTimeout(exited, 5000, 'baseline to exit').catch(() => child.kill('SIGKILL'));
    },
  };
}

/** Which scenarios have a floor to run beside the servers (bench/floor.c, bench/floor-ws.c). */
const FLOORS = Object.fromEntries(KINDS.map((k) => [k, floorBinary(k === 'ws' ? 'floor-ws' : 'floor') !== null]));

/** Every process (and thread) of the server tree onto CPU 1. */
function pinServer(pid) {
  for (const p of treePids(pid)) spawnSync('taskset', ['-a', '-p', '-c', '1', String(p)], { stdio: 'ignore' });
}

/** The load generator's command, on CPU 0 when pinned. */
function client(placement, cmd, args) {
  return placement === 'pinned' ? ['taskset', ['-c', '0', cmd, ...args]] : [cmd, args];
}

async function wrk(placement, port, seconds, close) {
  const args = ['-t1', `-c${CONNS}`, `-d${seconds}s`, ...(close ? ['-H', 'Connection: close'] : []), `http://127.0.0.1:${port}/`];
  const [c, a] = client(placement, 'wrk', args);
  const r = await run(c, a, (seconds + 30) * 1000);
  const m = /Requests\/sec:\s+([\d.]+)/.exec(r.stdout);
  if (!m) throw new Error(`wrk said: ${r.stdout} ${r.stderr}`);
  const errors = /Non-2xx or 3xx responses: (\d+)|Socket errors: (.*)/.exec(r.stdout);
  if (errors) console.error(`  note: ${errors[0]}`);
  return Number(m[1]);
}

/** Rate (requests or messages per second) and server CPU-seconds used during the measurement. */
async function measure(kind, placement, port, serverPid) {
  if (kind !== 'ws') {
    await wrk(placement, port, 1, kind === 'close'); // warm-up
    const cpu0 = treeCpuSeconds(serverPid);
    const rate = await wrk(placement, port, SECONDS, kind === 'close');
    return { rate, cpu: treeCpuSeconds(serverPid) - cpu0 };
  }
  const [c, a] = client(placement, process.execPath, [join(BENCH, 'ws-client.mjs'), String(port), String(CONNS), String(SECONDS)]);
  // The client reports its own measured window; CPU is read around the whole run (its
  // connection set-up is small next to SECONDS of echo).
  const cpu0 = treeCpuSeconds(serverPid);
  const r = await run(c, a, (SECONDS + 30) * 1000);
  const cpu = treeCpuSeconds(serverPid) - cpu0;
  if (r.code !== 0) throw new Error(`ws client failed: ${r.stderr}`);
  const out = JSON.parse(r.stdout.trim().split('\n').pop());
  return { rate: out.rate, cpu: cpu * (out.seconds / (out.seconds + 0.7)) };
}

const spread = (xs) => `${fmt(Math.min(...xs))}–${fmt(Math.max(...xs))}`;
const started = new Date();
const results = [];
for (const placement of PLACEMENTS) {
  for (const kind of KINDS) {
    const runs = { loom: [], baseline: [], floor: [] };
    const withFloor = FLOORS[kind];
    for (let round = 0; round < ROUNDS; round++) {
      // Rotated each round, so that drift in the machine's load favours none of them.
      const who = withFloor ? ['loom', 'baseline', 'floor'] : ['loom', 'baseline'];
      const order = who.map((_, i) => who[(i + round) % who.length]);
      for (const who of order) {
        const port = await freePort();
        const server = who === 'loom' ? await startLoom(kind, port) : who === 'baseline' ? await startBaseline(kind, port) : await startFloor(kind === 'ws' ? 'ws' : 'http', port, WORKERS);
        try {
          if (placement === 'pinned') pinServer(server.pid);
          await sleep(300);
          const m = await measure(kind, placement, port, server.pid);
          const perK = (m.cpu * 1e6) / (m.rate * SECONDS) ;
          runs[who].push({ rate: m.rate, cpuMsPer1000: perK });
          console.error(`  ${placement.padEnd(6)} ${kind.padEnd(5)} round ${round + 1}/${ROUNDS} ${who.padEnd(8)} ${fmt(m.rate)}/s, server ${perK.toFixed(1)} CPU-ms per 1,000`);
        } finally {
          await server.stop();
        }
      }
    }
    const med = (who, k) => median(runs[who].map((r) => r[k]));
    results.push({
      placement, kind,
      loom: med('loom', 'rate'), baseline: med('baseline', 'rate'),
      loomCpu: med('loom', 'cpuMsPer1000'), baselineCpu: med('baseline', 'cpuMsPer1000'),
      loomSpread: spread(runs.loom.map((r) => r.rate)), baselineSpread: spread(runs.baseline.map((r) => r.rate)),
      floor: withFloor ? med('floor', 'rate') : null, floorCpu: withFloor ? med('floor', 'cpuMsPer1000') : null,
      rounds: runs,
    });
  }
}

const title = { http: 'HTTP hello, keep-alive', close: 'HTTP hello, Connection: close', ws: 'WebSocket echo, 1 in flight per conn' };
const base = { http: 'node:http + node:cluster', close: 'node:http + node:cluster', ws: 'ws + node:cluster' };
const target = { http: '≥ 2.2', close: '', ws: '≥ 1.3' };
console.log(`\nMedians of ${ROUNDS} round(s), ${SECONDS} s each, ${WORKERS} processes each, ${CONNS} connections; CPU: server CPU-ms per 1,000 requests (messages):\n`);
console.log('| placement | scenario | Loom /s (spread) | baseline /s (spread) | ratio | Loom CPU | baseline CPU | CPU ratio | target | floor /s (CPU) | floor ÷ baseline |');
console.log('|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|');
for (const r of results) {
  const floor = r.floor === null ? '| – | – |' : `| ${fmt(r.floor)} (${r.floorCpu.toFixed(1)}) | ${(r.floor / r.baseline).toFixed(2)} |`;
  console.log(`| ${r.placement} | ${title[r.kind]} vs ${base[r.kind]} | ${fmt(r.loom)} (${r.loomSpread}) | ${fmt(r.baseline)} (${r.baselineSpread}) | ${(r.loom / r.baseline).toFixed(2)} | ${r.loomCpu.toFixed(1)} | ${r.baselineCpu.toFixed(1)} | ${(r.loomCpu / r.baselineCpu).toFixed(2)} | ${target[r.kind]} ${floor}`);
}
mkdirSync(join(BENCH, 'results'), { recursive: true });
const out = join(BENCH, 'results', `web-${stamp(started)}.json`);
writeFileSync(out, JSON.stringify({ ...resultMeta('web', started, { ROUNDS, SECONDS, WORKERS, CONNS, KINDS, PLACEMENTS }), results }, null, 2));
console.log(`\nResults written to ${out}`);
