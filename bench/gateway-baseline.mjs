// Plain `ws` baseline of bench/gateway.mjs, parts (b) and (c): node:cluster (default
// round-robin scheduling) with N workers, each a `ws` server that echoes a message (as
// bench/baseline-web.mjs does) except a trigger "go:ID", on which that worker sends one
// broadcast "b:ID:TSEND:x…" (payloadBytes bytes, TSEND its process.hrtime in ns) to every
// client IT holds, the way ws's README broadcasts: a loop over wss.clients, one send() each of
// the same Buffer as a text frame. With 1 worker: one ws process looping over all its clients.
//   node bench/gateway-baseline.mjs PORT WORKERS PAYLOAD_BYTES
// Sends { t: 'ready', pids } to its parent once every worker listens.
import cluster from 'node:cluster';
import { createServer } from 'node:http';
import { WebSocket, WebSocketServer } from 'ws';

const [port, workers, payloadBytes] = process.argv.slice(2).map(Number);
// GW_BASELINE_SEND (a diagnostic, see bench/README.md): 'buffer' (default) sends one Buffer to
// every client; 'string' sends the string (ws encodes it for each client); '-cb' (buffer-cb,
// string-cb) adds a write callback to every send, as Loom's WebSocket send passes one.
const SEND = process.env.GW_BASELINE_SEND || 'buffer';
const noop = () => undefined;

/** The broadcast message, exactly as Loom's handler in bench/gateway.mjs makes it. */
function payloadOf(id, t) {
  const s = `b:${id}:${t}:`;
  return s + 'x'.repeat(Math.max(0, payloadBytes - s.length));
}

if (cluster.isPrimary) {
  let ready = 0;
  for (let i = 0; i < workers; i++) {
    cluster.fork().on('listening', () => {
      if (++ready === workers) process.send?.({ t: 'ready', pids: Object.values(cluster.workers ?? {}).map((w) => w.process.pid) });
    });
  }
  process.on('disconnect', () => process.exit(0));
  process.on('SIGTERM', () => { for (const w of Object.values(cluster.workers ?? {})) w?.kill(); process.exit(0); });
} else {
  // Exit (not die) on the primary's SIGTERM: NODE_OPTIONS=--cpu-prof then writes a profile.
  process.on('SIGTERM', () => process.exit(0));
  const server = createServer((req, res) => { res.statusCode = 426; res.end(); });
  const wss = new WebSocketServer({ server });
  wss.on('connection', (ws) => ws.on('message', (data, isBinary) => {
    if (!isBinary && data.length > 3 && data[0] === 0x67 && data[1] === 0x6f && data[2] === 0x3a) { // "go:"
      const t = process.hrtime.bigint();
      const cb = SEND.endsWith('-cb') ? noop : undefined;
      if (SEND.startsWith('string')) {
        const text = payloadOf(data.toString('latin1', 3), t);
        for (const client of wss.clients) if (client.readyState === WebSocket.OPEN) client.send(text, { binary: false }, cb);
      } else {
        const payload = Buffer.from(payloadOf(data.toString('latin1', 3), t));
        for (const client of wss.clients) if (client.readyState === WebSocket.OPEN) client.send(payload, { binary: false }, cb);
      }
      return;
    }
    ws.send(isBinary ? data : data.toString());
  }));
  server.listen(port, '127.0.0.1');
}
