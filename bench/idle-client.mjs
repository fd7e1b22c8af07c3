// Idle-connection client of the memory benchmark (bench/idle-memory.mjs): opens `connections`
// TCP connections to 127.0.0.1:port, a few hundred connects in flight at a time, and holds
// them without sending a byte. With `sources` (local addresses such as 127.0.0.2), the
// connections are spread over them in turn: one address has only the ephemeral port range
// (some 28,000 ports). Job as JSON in argv[2]; talks over IPC:
//   -> { t: 'open', open, failed }           once every connect has settled
//   <- { t: 'close' }                         reset every connection (RST: no TIME_WAIT), then
//   -> { t: 'closed', unexpectedCloses }      and exit
//   -> { t: 'error', message }                on a fatal problem
// Exits when the parent goes away.
import { readFileSync } from 'node:fs';
import { connect } from 'node:net';

const { port, connections, inFlight = 200, sources = [], protocol = 'text' } = JSON.parse(process.argv[2]);
// http: one request, answered, then idle (keep-alive); websocket: the handshake, then idle.
const GREETING = {
  http: 'GET / HTTP/1.1\r\nHost: bench\r\n\r\n',
  websocket: 'GET / HTTP/1.1\r\nHost: bench\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n',
}[protocol];
const HOST = '127.0.0.1';
const sockets = new Set();
let closing = false;
let unexpectedCloses = 0;

const send = (m) => { if (process.connected) process.send(m); };
process.on('disconnect', () => process.exit(0));

/** Our soft open-file limit (Node cannot read or raise it; /proc can read it). */
function softNofile() {
  const m = /^Max open files\s+(\S+)/m.exec(readFileSync('/proc/self/limits', 'latin1'));
  return !m || m[1] === 'unlimited' ? Infinity : Number(m[1]);
}

let opened = 0;

function open() {
  return new Promise((resolve) => {
    const localAddress = sources.length ? sources[opened++ % sources.length] : undefined;
    const s = connect({ port, host: HOST, localAddress });
    let ok = false;
    if (GREETING === undefined) {
      s.once('connect', () => { ok = true; sockets.add(s); resolve(true); });
    } else {
      s.once('connect', () => s.write(GREETING));
      // Open once answered (the answer fits one read): a keep-alive connection or a WebSocket, idle.
      s.once('data', (d) => {
        ok = d.toString('latin1', 0, 12).startsWith(protocol === 'http' ? 'HTTP/1.1 200' : 'HTTP/1.1 101');
        if (!ok) { s.destroy(); return; }
        sockets.add(s);
        resolve(true);
      });
    }
    s.on('error', () => {});
    s.once('close', () => {
      sockets.delete(s);
      if (!ok) resolve(false);
      else if (!closing) unexpectedCloses++;
    });
  });
}

async function main() {
  const limit = softNofile();
  if (limit < connections + 32) {
    throw new Error(`open-file limit ${limit} is too low for ${connections} connections (run with a higher \`ulimit -n\`, or lower IDLE_CONNS)`);
  }
  let failed = 0;
  let next = 0;
  // A few hundred connects at a time: a burst over the listen backlog only adds SYN retries.
  const lane = async () => {
    while (next < connections) {
      next++;
      if (!(await open())) failed++;
      if (failed > 0) return;
    }
  };
  await Promise.all(Array.from({ length: Math.min(inFlight, connections) }, lane));
  send({ t: 'open', open: sockets.size, failed, unexpectedCloses });
}

process.on('message', (m) => {
  if (m?.t !== 'close') return;
  closing = true;
  // The report goes out first: resetting 10,000 sockets keeps the loop busy long enough that
  // an exit timer could fire before a report sent behind them had left.
  const reset = () => {
    for (const s of sockets) s.resetAndDestroy();
    setTimeout(() => process.exit(0), 1000).unref();
    if (process.connected) process.disconnect();
  };
  if (process.connected) process.send({ t: 'closed', unexpectedCloses }, reset);
  else reset();
});

main().catch((err) => {
  send({ t: 'error', message: err instanceof Error ? err.message : String(err) });
  for (const s of sockets) s.destroy();
  setTimeout(() => process.exit(1), 100);
});
