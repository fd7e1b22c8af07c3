// HTTP hello (wrk) and WebSocket echo: Loom vs node:http / ws on node:cluster, same number
// of processes, alternating rounds in one run; prints medians and ratios.
//   BENCH_ROUNDS (3), BENCH_SECONDS (5), BENCH_WORKERS (2), BENCH_CONNECTIONS (50)
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BENCH, envNum, fmt, forkNode, freePort, LOOM, median, resultMeta, run, sleep, stamp, withTimeout } from './lib.mjs';

const ROUNDS = envNum('BENCH_ROUNDS', 3, 1, 20);
const SECONDS = envNum('BENCH_SECONDS', 5, 1, 60);
const WORKERS = envNum('BENCH_WORKERS', 2, 1, 16);
const CONNS = envNum('BENCH_CONNECTIONS', 50, 1, 1000);

if (spawnSync('wrk', ['--version']).error) {
  console.error('bench/web: wrk is not installed (apt-get install wrk)');
  process.exit(2);
}

const HANDLERS = {
  http: "module.exports = { onMessage(c) { c.send('hello'); } };\n",
  ws: 'module.exports = { onMessage(c, d) { c.send(d); } };\n',
};

async function startLoom(kind, port) {
  const dir = mkdtempSync(join(tmpdir(), 'loom-webbench-'));
  mkdirSync(join(dir, 'handlers'));
  const cli = join(dir, 'loom.cjs');
  copyFileSync(LOOM, cli);
  writeFileSync(join(dir, 'handlers', 'h.js'), HANDLERS[kind]);
  const config = join(dir, 'config.ini');
  writeFileSync(config, `[loom]\nname = loombench\npid_file = ${dir}/loom.pid\nlog_file = ${dir}/loom.log\nstdout_file = ${dir}/stdout.log\nwatch = false\n\n[web]\nlisten = ${kind === 'http' ? 'http' : 'ws'}://127.0.0.1:${port}\ncount = ${WORKERS}\nhandler = h.js\n`);
  const r = await run(process.execPath, [cli, 'start', '-d', '-c', config], 30000);
  if (r.code !== 0) throw new Error(`loom start failed: ${r.stderr}`);
  return async () => {
    await run(process.execPath, [cli, 'stop', '-c', config], 20000);
    rmSync(dir, { recursive: true, force: true });
  };
}

async function startBaseline(kind, port) {
  const child = forkNode(join(BENCH, 'baseline-web.mjs'), [kind, String(port), String(WORKERS)]);
  await withTimeout(new Promise((resolve, reject) => {
    child.on('message', (m) => { if (m?.t === 'ready') resolve(); });
    child.once('exit', (c) => reject(new Error(`baseline exited ${c}`)));
  }), 15000, 'baseline to listen');
  return async () => {
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGTERM');
    await withTimeout(exited, 5000, 'baseline to exit').catch(() => child.kill('SIGKILL'));
  };
}

async function measure(kind, port) {
  if (kind === 'http') {
    await run('wrk', ['-t1', `-c${CONNS}`, '-d1s', `http://127.0.0.1:${port}/`], 30000); // warm-up
    const r = await run('wrk', ['-t1', `-c${CONNS}`, `-d${SECONDS}s`, `http://127.0.0.1:${port}/`], (SECONDS + 30) * 1000);
    const m = /Requests\/sec:\s+([\d.]+)/.exec(r.stdout);
    const errors = /Non-2xx or 3xx responses: (\d+)|Socket errors: (.*)/.exec(r.stdout);
    if (!m) throw new Error(`wrk said: ${r.stdout} ${r.stderr}`);
    if (errors) console.error(`  note: ${errors[0]}`);
    return Number(m[1]);
  }
  const r = await run(process.execPath, [join(BENCH, 'ws-client.mjs'), String(port), String(CONNS), String(SECONDS)], (SECONDS + 30) * 1000);
  if (r.code !== 0) throw new Error(`ws client failed: ${r.stderr}`);
  return JSON.parse(r.stdout.trim().split('\n').pop()).rate;
}

const started = new Date();
const results = [];
for (const kind of ['http', 'ws']) {
  const rates = { loom: [], baseline: [] };
  for (let round = 0; round < ROUNDS; round++) {
    const order = round % 2 === 0 ? ['loom', 'baseline'] : ['baseline', 'loom'];
    for (const who of order) {
      const port = await freePort();
      const stop = who === 'loom' ? await startLoom(kind, port) : await startBaseline(kind, port);
      try {
        await sleep(300);
        const rate = await measure(kind, port);
        rates[who].push(rate);
        console.error(`  ${kind.padEnd(4)} round ${round + 1}/${ROUNDS} ${who.padEnd(8)} ${fmt(rate)} ${kind === 'http' ? 'req/s' : 'msg/s'}`);
      } finally {
        await stop();
      }
    }
  }
  const loom = median(rates.loom);
  const baseline = median(rates.baseline);
  results.push({ kind, loom, baseline, ratio: loom / baseline, rounds: rates });
}

const title = { http: 'HTTP hello (wrk, keep-alive)', ws: 'WebSocket echo round trips' };
const base = { http: 'node:http + node:cluster', ws: 'ws + node:cluster' };
console.log(`\nMedian of ${ROUNDS} round(s), ${SECONDS} s each, ${WORKERS} processes, ${CONNS} connections (target >= 0.9):\n`);
console.log('| scenario | Loom | baseline | ratio |');
console.log('|---|---:|---:|---:|');
for (const r of results) console.log(`| ${title[r.kind]} vs ${base[r.kind]} | ${fmt(r.loom)} | ${fmt(r.baseline)} | ${r.ratio.toFixed(2)} |`);
mkdirSync(join(BENCH, 'results'), { recursive: true });
const out = join(BENCH, 'results', `web-${stamp(started)}.json`);
writeFileSync(out, JSON.stringify({ ...resultMeta('web', started, { ROUNDS, SECONDS, WORKERS, CONNS }), results }, null, 2));
console.log(`\nResults written to ${out}`);
