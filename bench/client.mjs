// Load generator for the text-echo benchmark: one child process driving many sockets.
// Started by bench/run.mjs with a JSON job in argv[2]; talks back over IPC (or prints JSON
// lines when run by hand):
//   { t: 'measuring' } when the warm-up ends, then { t: 'result', ... } at the end.
// Kept light on purpose (the servers share the machine): replies are counted by counting
// '\n' bytes, requests are preallocated Buffers, nothing is allocated per message.
import { connect } from 'node:net';

const job = JSON.parse(process.argv[2]);
const { mode, port, connections, depth, warmupMs, durationMs, lineBytes } = job;
const HOST = '127.0.0.1';
const LF = 10;

// One request line: `lineBytes` bytes including the '\n'.
const line = Buffer.alloc(lineBytes, 'x'.charCodeAt(0));
line.write('loom bench ', 0, 'latin1');
line[lineBytes - 1] = LF;
// batches[k] = k request lines in one Buffer, so k replies are answered by one write.
const maxBatch = Math.max(depth, 1);
const batches = [Buffer.alloc(0)];
for (let k = 1; k <= maxBatch; k++) batches.push(Buffer.concat(Array(k).fill(line)));

let replies = 0;          // lines received back (long modes) or completed connections (short)
let errors = 0;
let unexpectedCloses = 0;
let stopped = false;
const sockets = new Set();
// Over IPC when started by run.mjs; as JSON lines on stdout when run by hand.
const send = (m) => {
  if (process.send) { if (process.connected) process.send(m); } else console.log(JSON.stringify(m));
};

// The parent may die: never linger.
process.on('disconnect', () => process.exit(0));

function countLines(chunk) {
  let n = 0;
  for (let i = 0; i < chunk.length; i++) if (chunk[i] === LF) n++;
  return n;
}

/** Long connection keeping `depth` lines in flight (depth 1 = request/response). */
function openLong() {
  return new Promise((resolve) => {
    const s = connect({ port, host: HOST, noDelay: true });
    sockets.add(s);
    let ready = false;
    s.on('connect', () => {
      ready = true;
      s.write(batches[depth]);
      resolve(true);
    });
    s.on('data', (chunk) => {
      const n = countLines(chunk);
      if (n === 0 || stopped) return;
      replies += n;
      // Answer every reply with a new request: `depth` stay in flight.
      s.write(n <= maxBatch ? batches[n] : Buffer.concat(Array(n).fill(line)));
    });
    s.on('error', () => { errors++; });
    s.on('close', () => {
      sockets.delete(s);
      if (!stopped) unexpectedCloses++;
      if (!ready) resolve(false);
    });
  });
}

/** Short connections: connect, send one line, wait for the reply, close; repeat. */
function shortLoop() {
  if (stopped) return;
  const s = connect({ port, host: HOST, noDelay: true });
  sockets.add(s);
  let done = false;
  s.write(line);
  s.on('data', (chunk) => {
    if (done || countLines(chunk) === 0) return;
    done = true;
    replies++;
    s.destroy();
  });
  s.on('error', () => { if (!done) errors++; });
  s.on('close', () => {
    sockets.delete(s);
    if (!done && !stopped) unexpectedCloses++;
    if (stopped) return;
    // After a failure, back off a little instead of spinning.
    if (done) setImmediate(shortLoop);
    else setTimeout(shortLoop, 10);
  });
}

async function main() {
  if (mode === 'short') {
    for (let i = 0; i < connections; i++) shortLoop();
  } else {
    // Open in small batches: a burst of SYNs over the backlog only adds noise.
    for (let i = 0; i < connections; i += 25) {
      const ok = await Promise.all(Array.from({ length: Math.min(25, connections - i) }, openLong));
      if (ok.includes(false)) throw new Error(`cannot connect to ${HOST}:${port}`);
    }
  }
  await sleep(warmupMs);
  const r0 = replies;
  const e0 = errors;
  const c0 = process.cpuUsage();
  const t0 = process.hrtime.bigint();
  send({ t: 'measuring' });
  await sleep(durationMs);
  const r1 = replies;
  const t1 = process.hrtime.bigint();
  const c1 = process.cpuUsage(c0);
  stopped = true;
  for (const s of sockets) s.destroy();
  const seconds = Number(t1 - t0) / 1e9;
  send({
    t: 'result',
    count: r1 - r0,
    seconds,
    rate: (r1 - r0) / seconds,
    errors: errors - e0,
    unexpectedCloses,
    clientCpu: (c1.user + c1.system) / 1e6 / seconds,
  });
  // Exit once the result is flushed; bounded in case the channel is stuck.
  setTimeout(() => process.exit(0), 2000).unref();
  if (process.connected) process.disconnect();
}

function sleep(ms) {
  return new Promise((r) => setTimeout(r, ms));
}

main().catch((err) => {
  send({ t: 'error', message: err instanceof Error ? err.message : String(err) });
  for (const s of sockets) s.destroy();
  setTimeout(() => process.exit(1), 100);
});
