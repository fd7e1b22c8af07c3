// The plain Node.js baseline of the text-echo benchmark: node:cluster with its default
// scheduling policy (round-robin on Linux: the primary accepts and hands each connection to
// a worker) and `count` workers, each running a net server that does what Loom's `text`
// protocol plus an echo handler do: split the byte stream on '\n' (tolerating '\r\n'),
// decode each line to a string, and write it back followed by '\n'.
//
//   node bench/baseline-echo.mjs PORT [WORKERS] [none]      (host is always 127.0.0.1)
//
// With `none`: cluster.SCHED_NONE, every worker accepts on the shared socket itself (the
// kernel picks), as Loom's workers do; the default has the primary accept and hand over.
//
// Started by bench/run.mjs with an IPC channel: the primary reports
// { t: 'ready', pids: [...] } once every worker listens, and exits when the channel closes.
import cluster from 'node:cluster';
import { createServer } from 'node:net';

const HOST = '127.0.0.1';
const port = Number(process.argv[2]);
const workers = Number(process.argv[3] ?? 2);
if (process.argv[4] === 'none') cluster.schedulingPolicy = cluster.SCHED_NONE;
const MAX_LINE = 1024 * 1024; // as Loom's default max_package_size
const LF = 0x0a;
const CR = 0x0d;

if (!Number.isInteger(port) || port < 1 || port > 65535) {
  console.error('usage: node bench/baseline-echo.mjs PORT [WORKERS]');
  process.exit(2);
}

if (cluster.isPrimary) {
  let stopping = false;
  let listening = 0;
  const shutdown = (code = 0) => {
    if (stopping) return;
    stopping = true;
    for (const w of Object.values(cluster.workers ?? {})) w?.process.kill('SIGTERM');
    const deadline = setTimeout(() => {
      for (const w of Object.values(cluster.workers ?? {})) w?.process.kill('SIGKILL');
      process.exit(code);
    }, 3000);
    deadline.unref();
    const check = () => {
      if (Object.keys(cluster.workers ?? {}).length === 0) process.exit(code);
      else setTimeout(check, 20);
    };
    check();
  };
  cluster.on('listening', () => {
    if (++listening === workers) {
      const pids = [process.pid, ...Object.values(cluster.workers ?? {}).map((w) => w.process.pid)];
      if (process.send) process.send({ t: 'ready', pids });
      else console.log(`baseline echo listening on ${HOST}:${port}, pids ${pids.join(' ')}`);
    }
  });
  cluster.on('exit', (w, code, signal) => {
    if (stopping) return;
    console.error(`baseline worker ${w.process.pid} died (${signal ?? code})`);
    shutdown(1);
  });
  process.on('SIGTERM', () => shutdown(0));
  process.on('SIGINT', () => shutdown(0));
  process.on('disconnect', () => shutdown(0));
  for (let i = 0; i < workers; i++) cluster.fork();
} else {
  const server = createServer({ noDelay: true }, (socket) => {
    let pending = null; // bytes of an incomplete line
    socket.on('data', (chunk) => {
      let buf = pending === null ? chunk : Buffer.concat([pending, chunk]);
      pending = null;
      let start = 0;
      let i;
      while ((i = buf.indexOf(LF, start)) !== -1) {
        let end = i;
        if (end > start && buf[end - 1] === CR) end--;
        socket.write(`${buf.toString('utf8', start, end)}\n`);
        start = i + 1;
      }
      if (start < buf.length) {
        pending = buf.subarray(start);
        if (pending.length > MAX_LINE) socket.destroy();
      }
    });
    socket.on('error', () => {});
  });
  server.listen(port, HOST);
  process.on('SIGTERM', () => process.exit(0));
}
