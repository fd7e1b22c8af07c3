// Round-trip load of bench/gateway.mjs, part (a): N WebSocket clients (the `ws` package, as
// bench/ws-client.mjs), each with one message in flight: send, wait for the echo, send again.
// Job as JSON in argv[2]: { port, connections, payloadBytes }. IPC:
//   -> { t: 'ready' }                           every client open and looping
//   <- { t: 'start' }                           count round trips from now
//   <- { t: 'stop' }  -> { t: 'result', count, seconds }
//   <- { t: 'close' }                           terminate the clients and exit
//   -> { t: 'error', message }
// Exits when the parent goes away.
import WebSocket from 'ws';

const { port, connections, payloadBytes } = JSON.parse(process.argv[2]);
const payload = 'x'.repeat(payloadBytes);
const sockets = [];
let count = 0;
let t0 = 0n;
let closing = false;

const send = (m) => { if (process.connected) process.send(m); };
process.on('disconnect', () => process.exit(0));

function fail(message) {
  send({ t: 'error', message });
  setTimeout(() => process.exit(1), 100);
}

let open = 0;
for (let i = 0; i < connections; i++) {
  const ws = new WebSocket(`ws://127.0.0.1:${port}/`, { perMessageDeflate: false });
  sockets.push(ws);
  ws.on('open', () => {
    ws.send(payload);
    if (++open === connections) send({ t: 'ready' });
  });
  ws.on('message', (data) => {
    if (data.length !== payloadBytes) return fail(`echo of ${data.length} bytes, sent ${payloadBytes}`);
    count++;
    ws.send(payload);
  });
  ws.on('error', (e) => fail(String(e)));
  ws.on('close', () => { if (!closing) fail('a connection closed under load'); });
}

process.on('message', (m) => {
  if (m?.t === 'start') {
    count = 0;
    t0 = process.hrtime.bigint();
  } else if (m?.t === 'stop') {
    const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
    send({ t: 'result', count, seconds });
  } else if (m?.t === 'close') {
    closing = true;
    for (const ws of sockets) ws.terminate();
    setTimeout(() => process.exit(0), 200);
  }
});
