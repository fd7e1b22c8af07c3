// Why request/response throughput with one request in flight per connection depends on the
// process count on a small machine: for Loom's text echo and the node:cluster + net baseline,
// at 1 and at 2 worker processes, the requests per second and, per request, the server's user
// and system CPU (µs) and its voluntary context switches (a process that found nothing to do
// and slept in epoll, then was woken). A standalone experiment (not part of `npm run bench`):
//
//   node bench/wakeups.mjs                   (needs dist/loom.cjs; about 2 minutes)
//   WAKE_WORKERS=2 WAKE_ROUNDS=1 node bench/wakeups.mjs
//
// Loads with bench/client.mjs (50 connections, one 64-byte line in flight each). Reads
// /proc/PID/stat (utime, stime) and /proc/PID/status (voluntary_ctxt_switches) of every
// process of the server before and after the measured seconds.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { BENCH, Mailbox, Servers, envNum, forkNode, median, runMain, treePids } from './lib.mjs';

const S = {
  workers: (process.env.WAKE_WORKERS || '1,2').split(',').map(Number),
  rounds: Math.round(envNum('WAKE_ROUNDS', 3, 1, 20)),
  seconds: envNum('WAKE_SECONDS', 4, 1, 60),
  connections: Math.round(envNum('WAKE_CONNECTIONS', 50, 1, 1000)),
};

/** user and system CPU (µs) and voluntary context switches of a process tree. */
function readTree(rootPid) {
  let user = 0, sys = 0, wakes = 0;
  for (const pid of treePids(rootPid)) {
    try {
      const f = readFileSync(`/proc/${pid}/stat`, 'latin1');
      const x = f.slice(f.lastIndexOf(')') + 2).split(' ');
      user += Number(x[11]) * 10000; // clock ticks of 10 ms
      sys += Number(x[12]) * 10000;
      wakes += Number(/voluntary_ctxt_switches:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'latin1'))[1]);
    } catch { /* gone */ }
  }
  return { user, sys, wakes };
}

async function measure(server) {
  const job = { mode: 'long', port: server.port, connections: S.connections, depth: 1, warmupMs: 1000, durationMs: S.seconds * 1000, lineBytes: 64 };
  const child = forkNode(join(BENCH, 'client.mjs'), [JSON.stringify(job)]);
  const box = new Mailbox(child, 'client');
  await box.next('measuring', 30000);
  const a = readTree(server.pid);
  const r = await box.next('result', 30000 + S.seconds * 1000);
  const b = readTree(server.pid);
  child.kill();
  return {
    rate: r.rate,
    userUs: (b.user - a.user) / r.count,
    sysUs: (b.sys - a.sys) / r.count,
    wakesPerRequest: (b.wakes - a.wakes) / r.count,
  };
}

const servers = new Servers({ workers: 1 });

async function main() {
  const rows = [];
  for (const workers of S.workers) {
    servers.workers = workers;
    const runs = { loom: [], baseline: [] };
    for (let round = 0; round < S.rounds; round++) {
      for (const name of round % 2 ? ['baseline', 'loom'] : ['loom', 'baseline']) {
        const server = name === 'loom' ? await servers.startLoomChecked() : await servers.startBaselineChecked();
        try {
          runs[name].push(await measure(server));
        } finally {
          if (name === 'loom') await servers.stopLoom(); else await servers.stopBaseline();
        }
      }
    }
    for (const [name, ms] of Object.entries(runs)) {
      const med = (k) => median(ms.map((m) => m[k]));
      rows.push(`| ${workers} | ${name === 'loom' ? 'Loom text://' : 'node:cluster + net'} | ${Math.round(med('rate')).toLocaleString('en-US')} | ${med('userUs').toFixed(2)} | ${med('sysUs').toFixed(2)} | ${med('wakesPerRequest').toFixed(3)} |`);
    }
  }
  console.log(`Request/response text echo, ${S.connections} connections, one request in flight each; medians of ${S.rounds} round(s) of ${S.seconds} s:\n`);
  console.log('| processes | server | req/s | user µs / request | system µs / request | sleeps (voluntary context switches) / request |');
  console.log('|---:|---|---:|---:|---:|---:|');
  console.log(rows.join('\n'));
}

await runMain(servers, main);
