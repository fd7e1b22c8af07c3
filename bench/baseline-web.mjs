// Plain Node.js baselines for bench/web.mjs: node:cluster (default round-robin scheduling)
// with N workers running either a node:http hello server or a `ws` echo server.
//   node bench/baseline-web.mjs http|ws PORT WORKERS
import cluster from 'node:cluster';
import { createServer } from 'node:http';
import { WebSocketServer } from 'ws';

const [kind, portText, workersText] = process.argv.slice(2);
const port = Number(portText);
const workers = Number(workersText);

if (cluster.isPrimary) {
  let ready = 0;
  const pids = [process.pid];
  for (let i = 0; i < workers; i++) {
    const w = cluster.fork();
    pids.push(w.process.pid);
    w.on('listening', () => { if (++ready === workers) process.send?.({ t: 'ready', pids }); });
  }
  process.on('disconnect', () => process.exit(0));
  process.on('SIGTERM', () => { for (const w of Object.values(cluster.workers ?? {})) w?.kill(); process.exit(0); });
} else if (kind === 'http') {
  // Idle keep-alive connections are kept as long as Loom's bench config keeps them (node:http
  // closes them after 5 s by default; bench/idle-memory.mjs holds them for minutes).
  createServer({ keepAliveTimeout: 3_600_000 }, (req, res) => {
    res.setHeader('content-type', 'text/plain; charset=utf-8');
    res.end('hello');
  }).listen(port, '127.0.0.1');
} else {
  const server = createServer((req, res) => { res.statusCode = 426; res.end(); });
  const wss = new WebSocketServer({ server });
  wss.on('connection', (ws) => ws.on('message', (data, isBinary) => ws.send(isBinary ? data : data.toString())));
  server.listen(port, '127.0.0.1');
}
