// WebSocket echo load: N connections, each sends a message and waits for its echo, for a
// fixed time. Prints one JSON line { count, seconds, rate }.
//   node bench/ws-client.mjs PORT CONNECTIONS SECONDS
import WebSocket from 'ws';

const [port, conns, seconds] = process.argv.slice(2).map(Number);
const payload = 'x'.repeat(64);
let count = 0;
let measuring = false;
let open = 0;
const sockets = [];
const started = new Promise((resolve) => {
  for (let i = 0; i < conns; i++) {
    const ws = new WebSocket(`ws://127.0.0.1:${port}/`, { perMessageDeflate: false });
    sockets.push(ws);
    ws.on('open', () => { ws.send(payload); if (++open === conns) resolve(); });
    ws.on('message', () => { if (measuring) count++; ws.send(payload); });
    ws.on('error', (e) => { console.error(String(e)); process.exit(1); });
  }
});
await started;
await new Promise((r) => setTimeout(r, 500));
measuring = true;
const t0 = process.hrtime.bigint();
await new Promise((r) => setTimeout(r, seconds * 1000));
measuring = false;
const secs = Number(process.hrtime.bigint() - t0) / 1e9;
console.log(JSON.stringify({ count, seconds: secs, rate: count / secs }));
for (const ws of sockets) ws.terminate();
process.exit(0);
