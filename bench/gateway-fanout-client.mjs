// Many WebSocket clients in one process, for bench/gateway.mjs (broadcast fan-out and idle
// memory). A minimal client on `net`, so that 10,000 of them cost their process little: it
// does the opening handshake (checking Sec-WebSocket-Accept), reads unmasked server frames,
// answers pings with pongs and sends nothing else. Connections are spread over the given
// source addresses (127.0.0.2-127.0.0.9), a limited number of connects in flight.
// Job as JSON in argv[2]: { port, connections, addresses, payloadBytes, inFlight? }. IPC:
//   -> { t: 'open', open, failed }        once every connect and handshake has settled
//   -> { t: 'got', id, count, first, last, tsend }
//        when every connection of this process has received broadcast `id` ("b:ID:TSEND:x…",
//        a text frame of payloadBytes bytes): process.hrtime of the first and of the last
//        receipt (ns, one monotonic clock for all processes of the machine), and TSEND (the
//        server's hrtime when it started the broadcast)
//   <- { t: 'close' }                      reset every connection (RST: no TIME_WAIT), then
//   -> { t: 'closed', unexpectedCloses }   and exit
//   -> { t: 'error', message }             a fatal problem (a bad frame, a missing handshake)
// Exits when the parent goes away.
import { createHash, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { connect } from 'node:net';

const { port, connections, addresses, payloadBytes, inFlight = 100 } = JSON.parse(process.argv[2]);
const HOST = '127.0.0.1';
const KEY = randomBytes(16).toString('base64');
const ACCEPT = createHash('sha1').update(`${KEY}258EAFA5-E914-47DA-95CA-C5AB0DC85B11`).digest('base64');
const REQUEST = Buffer.from(`GET / HTTP/1.1\r\nHost: ${HOST}:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
  `Sec-WebSocket-Key: ${KEY}\r\nSec-WebSocket-Version: 13\r\n\r\n`);
const HEADER_END = Buffer.from('\r\n\r\n');

const sockets = new Set();
let closing = false;
let unexpectedCloses = 0;
/** The broadcast being received: its id, how many connections have it, first/last receipt. */
let current = { id: 0, count: 0, first: 0, last: 0, tsend: 0 };

const send = (m) => { if (process.connected) process.send(m); };
process.on('disconnect', () => process.exit(0));

function fail(message) {
  send({ t: 'error', message });
  for (const s of sockets) s.destroy();
  setTimeout(() => process.exit(1), 100);
}

function softNofile() {
  const m = /^Max open files\s+(\S+)/m.exec(readFileSync('/proc/self/limits', 'latin1'));
  return !m || m[1] === 'unlimited' ? Infinity : Number(m[1]);
}

/** Reads the decimal number at b[i..] up to ':' → [value, index after the ':']. */
function number(b, i, end) {
  let n = 0;
  for (; i < end && b[i] !== 0x3a; i++) n = n * 10 + (b[i] - 48);
  return [n, i + 1];
}

/** A text frame b[start..end) arrived at `now` (ns). */
function broadcast(b, start, end, now) {
  if (end - start !== payloadBytes || b[start] !== 0x62 || b[start + 1] !== 0x3a) {
    fail(`unexpected message ${JSON.stringify(b.toString('latin1', start, Math.min(end, start + 80)))} (${end - start} bytes, expected a ${payloadBytes}-byte "b:ID:T:…")`);
    return;
  }
  const [id, i] = number(b, start + 2, end);
  if (id !== current.id) {
    if (current.id !== 0 && current.count !== sockets.size) {
      fail(`broadcast ${id} arrived while broadcast ${current.id} had reached ${current.count} of ${sockets.size} connections`);
      return;
    }
    current = { id, count: 0, first: now, last: now, tsend: number(b, i, end)[0] };
  }
  current.count++;
  current.last = now;
  if (current.count === sockets.size) send({ t: 'got', ...current });
}

/** Server frames (never masked) in st.rest + chunk; pings are answered at once. */
function frames(s, st, chunk, now) {
  const b = st.rest ? Buffer.concat([st.rest, chunk]) : chunk;
  let o = 0;
  while (b.length - o >= 2) {
    const op = b[o] & 0x0f;
    if (b[o + 1] & 0x80) return fail('a masked frame from the server');
    let len = b[o + 1] & 0x7f;
    let h = 2;
    if (len === 126) {
      if (b.length - o < 4) break;
      len = b.readUInt16BE(o + 2);
      h = 4;
    } else if (len === 127) {
      if (b.length - o < 10) break;
      len = Number(b.readBigUInt64BE(o + 2));
      h = 10;
    }
    if (b.length - o < h + len) break;
    const start = o + h;
    if (op === 0x1) broadcast(b, start, start + len, now);
    else if (op === 0x9) {
      // Pong, masked (a zero mask: the payload goes as is).
      const pong = Buffer.alloc(6 + len);
      pong[0] = 0x8a;
      pong[1] = 0x80 | len;
      b.copy(pong, 6, start, start + len);
      s.write(pong);
    } else if (op === 0x8) {
      s.destroy(); // the server closes: counted as unexpected on 'close'
      return;
    } else if (op !== 0xa) return fail(`unexpected frame opcode ${op}`);
    o = start + len;
  }
  st.rest = o < b.length ? b.subarray(o) : null;
}

function open(localAddress) {
  return new Promise((resolve) => {
    const s = connect({ port, host: HOST, localAddress });
    const st = { open: false, head: null, rest: null };
    s.on('error', () => {});
    s.once('connect', () => s.write(REQUEST));
    s.on('data', (chunk) => {
      if (st.open) {
        frames(s, st, chunk, Number(process.hrtime.bigint()));
        return;
      }
      st.head = st.head ? Buffer.concat([st.head, chunk]) : chunk;
      const end = st.head.indexOf(HEADER_END);
      if (end < 0) return;
      const head = st.head.toString('latin1', 0, end);
      if (!head.startsWith('HTTP/1.1 101') || !head.includes(ACCEPT)) {
        s.destroy();
        return;
      }
      const rest = st.head.subarray(end + 4);
      st.head = null;
      st.open = true;
      sockets.add(s);
      resolve(true);
      if (rest.length > 0) frames(s, st, rest, Number(process.hrtime.bigint()));
    });
    s.once('close', () => {
      if (!st.open) resolve(false);
      else {
        sockets.delete(s);
        if (!closing) unexpectedCloses++;
      }
    });
  });
}

async function main() {
  const limit = softNofile();
  if (limit < connections + 32) throw new Error(`open-file limit ${limit} is too low for ${connections} connections`);
  let failed = 0;
  let next = 0;
  const lane = async () => {
    while (next < connections && failed === 0) {
      const i = next++;
      if (!(await open(addresses[i % addresses.length]))) failed++;
    }
  };
  await Promise.all(Array.from({ length: Math.min(inFlight, connections) }, lane));
  send({ t: 'open', open: sockets.size, failed, unexpectedCloses });
}

process.on('message', (m) => {
  if (m?.t !== 'close') return;
  closing = true;
  for (const s of sockets) s.resetAndDestroy();
  // Exit once the answer is written (disconnecting right after send() can lose it).
  if (process.connected) process.send({ t: 'closed', unexpectedCloses }, () => process.exit(0));
  setTimeout(() => process.exit(0), 2000).unref();
});

main().catch((err) => fail(err instanceof Error ? err.message : String(err)));
