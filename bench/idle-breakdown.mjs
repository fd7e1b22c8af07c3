// Where does the memory of an idle connection go? A standalone experiment behind
// bench/idle-memory.mjs (not part of `npm run bench`): one single-process server per variant,
// run with --expose-gc, holds N idle connections opened by bench/idle-client.mjs, and reports
//   - heap: V8 heap used after full GCs, per connection (JS objects);
//   - rss / native: RSS per connection after full GCs, and RSS minus the V8 heap's committed
//     size (malloc'd memory: libuv handles, Node's C++ wraps);
//   - with BREAKDOWN_SNAPSHOT=1, a heap-snapshot diff: objects per connection by type and
//     constructor, their bytes (self size).
// Variants (BREAKDOWN_VARIANTS, comma list):
//   bare       net.Server that keeps sockets with no listener at all: the floor of net.Socket
//   baseline   the handler of bench/baseline-echo.mjs ('data' and 'error' closures)
//   loom       Loom's real StreamConnection (src/core/stream-connection.ts bundled with esbuild, with a
//              real ListenerContext) accepted as src/worker/main.ts does on a plain TCP
//              listener: a bare stream handle until the first byte; text protocol, echo handler
//   loom-socket  the same with a net.Socket from the start (TLS listeners; runtimes without
//              the stream state the bare handles need)
//   handle     no net.Socket: the runtime's TCP handle of each accepted connection reading
//              into one shared callback, the handle kept in a Map: the floor of a connection
//              object made on the stream handle (what a lighter idle connection could reach)
//
//   node bench/idle-breakdown.mjs                               (needs no build)
//   BREAKDOWN_CONNS=5000 BREAKDOWN_SNAPSHOT=1 node bench/idle-breakdown.mjs
import { fork } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { getHeapSnapshot, getHeapSpaceStatistics, getHeapStatistics } from 'node:v8';
import { BENCH, HOST, Mailbox, ROOT, envNum, forkNode, memoryKiB, median, sleep } from './lib.mjs';

// LOOM_SRC: the checkout whose src/ is bundled (default this one), e.g. a `git archive HEAD`
// export when src/ is being edited. BREAKDOWN_NODE_FLAGS: extra flags of the server process, e.g. --max-semi-space-size=1.
const SRC_ROOT = process.env.LOOM_SRC ? resolve(process.env.LOOM_SRC) : ROOT;
const NODE_FLAGS = (process.env.BREAKDOWN_NODE_FLAGS ?? '').split(/\s+/).filter(Boolean);
const ALL = ['bare', 'baseline', 'loom', 'loom-socket', 'handle'];

/** Bundles the StreamConnection and what it needs into dir; returns the file. */
async function bundleLoom(dir) {
  const { build } = await import('esbuild');
  const file = join(dir, 'loom.mjs');
  const src = join(SRC_ROOT, 'src');
  const from = (...p) => JSON.stringify(join(src, ...p));
  await build({
    stdin: {
      contents: `export { StreamConnection } from ${from('core', 'stream-connection.ts')};\n` +
        `export { ListenerContext } from ${from('core', 'context.ts')};\n` +
        `export { BUILTIN } from ${from('protocols', 'builtin.ts')};\n` +
        `export { newStats } from ${from('core', 'stats.ts')};\n`,
      resolveDir: SRC_ROOT, loader: 'ts',
    },
    bundle: true, platform: 'node', target: 'node20', format: 'esm', outfile: file, logLevel: 'silent', // errors: thrown
  });
  return file;
}

// ---- the server child ------------------------------------------------------------------------
async function serverChild(variant, bundle, snapshot) {
  const send = (m) => { if (process.connected) process.send(m); };
  process.on('disconnect', () => process.exit(0));
  let onConnection;
  let onHandle = null;
  let afterListen = null;
  let pauseOnConnect = false;
  let held = 0;
  if (variant === 'bare') {
    onConnection = () => { held++; };
  } else if (variant === 'baseline') {
    // bench/baseline-echo.mjs's handler, verbatim but for the count.
    const LF = 0x0a;
    const CR = 0x0d;
    onConnection = (socket) => {
      held++;
      let pending = null;
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
        if (start < buf.length) pending = buf.subarray(start);
      });
      socket.on('error', () => {});
    };
  } else if (variant === 'handle') {
    // What net's onconnection would wrap in a Socket, kept as is: read into one shared
    // callback (the byte count is in the stream state the runtime shares with net).
    const { streamBaseState, kReadBytesOrError } = process.binding('stream_wrap');
    const handles = new Map();
    let nextId = 1;
    function onread() { if (streamBaseState[kReadBytesOrError] < 0) { handles.delete(this.id); this.close(); } }
    onConnection = null;
    onHandle = (err, h) => {
      if (err) return;
      held++;
      h.id = nextId++;
      h.onread = onread;
      h.setNoDelay(true);
      h.readStart();
      handles.set(h.id, h);
    };
  } else {
    const { StreamConnection, ListenerContext, BUILTIN, newStats } = await import(bundle);
    const stats = newStats();
    const connections = new Map();
    const noop = () => undefined;
    const handler = { onMessage(c, d) { c.send(d); } };
    // The worker's Guard calls straight through when nothing throws.
    const guard = {
      call(_label, fn, thisArg, ...args) { return fn === undefined ? undefined : fn.apply(thisArg, args); },
      invoke(_label, fn, thisArg, a, b) { if (fn !== undefined) fn.call(thisArg, a, b); },
      report: noop,
    };
    let nextId = 1;
    const ctx = new ListenerContext({
      url: `text://${HOST}:0`, protocolName: 'text', protocol: BUILTIN.text, handler, guard, stats,
      log: { warn: noop, info: noop, error: noop },
      worker: { id: 0, name: 'bench', count: 1, pid: process.pid, connections, timers: {} },
      maxPackageSize: 1048576, maxSendBufferSize: 1048576, connections,
      nextConnectionId: () => nextId++,
    });
    // As src/worker/listen.ts (paused on accept) and main.ts (resumed, then wrapped).
    pauseOnConnect = true;
    onConnection = (socket) => { held++; socket.resume(); new StreamConnection(socket, ctx); };
    if (variant === 'loom') {
      afterListen = (server) => {
        if (!StreamConnection.acceptHandles(server, (h) => { held++; new StreamConnection(h, ctx); })) throw new Error('this runtime gives no bare handles');
      };
    }
  }
  const server = createServer({ noDelay: true, pauseOnConnect }, onConnection ?? undefined);
  await new Promise((r) => server.listen(0, HOST, r));
  if (onHandle) server._handle.onconnection = onHandle;
  afterListen?.(server);

  const fullGc = async () => {
    for (let i = 0; i < 4; i++) { globalThis.gc(); await sleep(50); }
  };
  /** Bytes: RSS and its anonymous part, V8 heap used and resident (all spaces; new space). */
  const readMemory = () => {
    const kib = memoryKiB('self');
    const spaces = Object.fromEntries(getHeapSpaceStatistics().map((sp) => [sp.space_name, sp.physical_space_size]));
    const hs = getHeapStatistics();
    return { rss: kib.rss * 1024, anon: kib.anon * 1024, heapUsed: hs.used_heap_size, heapResident: hs.total_physical_size, newSpace: spaces.new_space ?? 0 };
  };
  process.on('message', async (m) => {
    if (m.t === 'count') send({ t: 'count', held });
    else if (m.t === 'read') {
      await fullGc();
      const reading = readMemory();
      // The snapshot's summary goes to the parent at once: kept here, it would be measured.
      send({ t: 'read', reading, aggregate: snapshot ? await snapshotAggregate() : null });
    }
  });
  send({ t: 'listening', port: server.address().port });
}

/** Heap snapshot of this process, summed by "type:name": [[key, count, size], ...]. */
async function snapshotAggregate() {
  const chunks = [];
  for await (const c of getHeapSnapshot()) chunks.push(c);
  const snap = JSON.parse(Buffer.concat(chunks).toString('utf8'));
  chunks.length = 0;
  const { node_fields: fields, node_types: [types] } = snap.snapshot.meta;
  const w = fields.length;
  const iType = fields.indexOf('type');
  const iName = fields.indexOf('name');
  const iSize = fields.indexOf('self_size');
  const { nodes, strings } = snap;
  const agg = new Map();
  for (let i = 0; i < nodes.length; i += w) {
    const type = types[nodes[i + iType]];
    let name = strings[nodes[i + iName]];
    // Strings and numbers by type only; native nodes and objects by constructor name.
    if (type === 'string' || type === 'concatenated string' || type === 'sliced string' || type === 'number') name = '';
    if (name.length > 60) name = `${name.slice(0, 57)}...`;
    const key = `${type}:${name}`;
    const e = agg.get(key) ?? { count: 0, size: 0 };
    e.count++;
    e.size += nodes[i + iSize];
    agg.set(key, e);
  }
  return [...agg].map(([key, e]) => [key, e.count, e.size]);
}

function diffAggregates(a, b) {
  const before = new Map(a.map(([key, count, size]) => [key, { count, size }]));
  const out = [];
  for (const [key, count, size] of b) {
    const p = before.get(key) ?? { count: 0, size: 0 };
    if (count !== p.count || size !== p.size) out.push({ key, count: count - p.count, size: size - p.size });
  }
  return out;
}

// ---- parent: one measurement per variant -----------------------------------------------------
/**
 * One fresh server of `variant`: readings (after full GCs) with no connection, with n/2 idle
 * ones (a first client) and with n (a second client); with `snapshot`, heap snapshot summaries.
 */
async function measure(variant, bundle, n, snapshot) {
  const child = fork(join(BENCH, 'idle-breakdown.mjs'), ['--server', variant, bundle ?? '', snapshot ? '1' : '0'], {
    cwd: ROOT, stdio: ['ignore', 'inherit', 'inherit', 'ipc'], execArgv: ['--expose-gc', ...NODE_FLAGS],
  });
  const srv = new Mailbox(child, `${variant} server`);
  const clients = [];
  const read = async () => {
    child.send({ t: 'read' });
    return srv.next('read', 300000);
  };
  try {
    const { port } = await srv.next('listening', 20000);
    await sleep(300);
    const readings = [await read()];
    const half = Math.floor(n / 2);
    for (const [count, total] of [[half, half], [n - half, n]]) {
      const cl = forkNode(join(BENCH, 'idle-client.mjs'), [JSON.stringify({ port, connections: count })], { nofile: count + 256 });
      clients.push(cl);
      const opened = await new Mailbox(cl, `${variant} idle client`).next('open', 60000 + count * 5);
      if (opened.open !== count) throw new Error(`${variant}: client opened ${opened.open} of ${count}`);
      const deadline = Date.now() + 60000;
      for (;;) {
        child.send({ t: 'count' });
        const { held } = await srv.next('count', 10000);
        if (held >= total) break;
        if (Date.now() > deadline) throw new Error(`${variant}: server holds ${held} of ${total}`);
        await sleep(200);
      }
      await sleep(500);
      readings.push(await read());
    }
    const [r0, r1, r2] = readings;
    return {
      r0: r0.reading, r1: r1.reading, r2: r2.reading, half,
      diff: snapshot ? diffAggregates(r0.aggregate, r2.aggregate) : null,
    };
  } finally {
    // The server first: `bare` has no 'error' listener for the clients' resets.
    child.kill('SIGKILL');
    await srv.exited;
    for (const c of clients) c.kill('SIGKILL');
  }
}

async function main() {
  const n = Math.round(envNum('BREAKDOWN_CONNS', 10000, 10, 60000));
  const rounds = Math.round(envNum('BREAKDOWN_ROUNDS', 3, 1, 20));
  const snapshot = process.env.BREAKDOWN_SNAPSHOT === '1';
  const only = (process.env.BREAKDOWN_VARIANTS ?? '').split(',').map((s) => s.trim()).filter(Boolean);
  const variants = only.length ? only : ALL;
  for (const v of variants) if (!ALL.includes(v)) throw new Error(`unknown variant ${v}; known: ${ALL.join(', ')}`);
  const dir = mkdtempSync(join(tmpdir(), 'loom-breakdown-'));
  // The children exit when this process goes (IPC disconnect); the bundles' directory too.
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
    process.once(sig, () => { rmSync(dir, { recursive: true, force: true }); process.exit(130); });
  }
  const B = (x) => x.toFixed(0).padStart(5);
  try {
    console.log(`Bytes per idle connection: ${n} connections to one server process, read after full GCs (--expose-gc); ` +
      `median of ${rounds} round(s)${snapshot ? ', plus one heap-snapshot run' : ''}; Node ${process.version}${NODE_FLAGS.length ? ` ${NODE_FLAGS.join(' ')}` : ''}\n`);
    const rows = [];
    let bundleFile = null;
    for (const v of variants) {
      const bundle = v.startsWith('loom') ? (bundleFile ??= await bundleLoom(dir)) : null;
      const rs = [];
      for (let r = 0; r < rounds; r++) rs.push(await measure(v, bundle, n, false));
      // Whole: (n - 0) / n. Marginal: the second half only, once V8's young generation has
      // grown to its size under this load (a fixed cost, not a per-connection one).
      const whole = (f) => median(rs.map((x) => (f(x.r2) - f(x.r0)) / n));
      const marginal = (f) => median(rs.map((x) => (f(x.r2) - f(x.r1)) / (n - x.half)));
      const row = { variant: v };
      for (const [key, f] of [['heap', (x) => x.heapUsed], ['rss', (x) => x.rss], ['anon', (x) => x.anon], ['newSpace', (x) => x.newSpace], ['resident', (x) => x.heapResident],
        ['native', (x) => x.anon - x.heapResident]]) {
        row[key] = whole(f);
        row[`${key}Marginal`] = marginal(f);
      }
      rows.push(row);
      console.log(`  ${v.padEnd(22)} V8 heap used ${B(row.heap)}  RSS ${B(row.rss)} (marginal ${B(row.rssMarginal)})  ` +
        `V8 resident ${B(row.resident)} (marginal ${B(row.residentMarginal)}, new space ${B(row.newSpace)}/${B(row.newSpaceMarginal)})  native ${B(row.native)} (marginal ${B(row.nativeMarginal)})`);
      if (snapshot) {
        const { diff } = await measure(v, bundle, n, true);
        const top = diff.filter((d) => Math.abs(d.size) / n >= 4).sort((a, b) => b.size - a.size);
        for (const d of top) console.log(`      ${(d.size / n).toFixed(1).padStart(7)} B  ${(d.count / n).toFixed(2).padStart(5)} x  ${d.key}`);
        const js = diff.filter((d) => !/^(native|synthetic):/.test(d.key)).reduce((a, d) => a + d.size, 0);
        console.log(`      ${(js / n).toFixed(1).padStart(7)} B  JS objects in all (the native/synthetic lines are Node's C++ objects)`);
      }
    }
    const loom = rows.find((r) => r.variant === 'loom');
    console.log(`\n| variant | V8 heap used | RSS, 0 -> ${n} | RSS, marginal (2nd half) | native (anon RSS - V8 resident) | native, marginal | young gen. growth |` + (loom ? ' heap saved vs loom |' : ''));
    console.log('|---|---:|---:|---:|---:|---:|---:|' + (loom ? '---:|' : ''));
    for (const r of rows) {
      console.log(`| ${r.variant} | ${B(r.heap)} | ${B(r.rss)} | ${B(r.rssMarginal)} | ${B(r.native)} | ${B(r.nativeMarginal)} | ${B(r.newSpace)} |` + (loom ? ` ${B(loom.heap - r.heap)} |` : ''));
    }
    console.log('\n(bytes per connection; RSS and native include allocator and page granularity, so they are noisier than the V8 heap figure)');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

if (process.argv[2] === '--server') {
  serverChild(process.argv[3], process.argv[4], process.argv[5] === '1').catch((err) => {
    if (process.connected) process.send({ t: 'error', message: err instanceof Error ? err.stack : String(err) });
    setTimeout(() => process.exit(1), 100);
  });
} else {
  main().catch((err) => {
    console.error(`breakdown: ${err instanceof Error ? err.message : String(err)}`);
    process.exitCode = 1;
  });
}
