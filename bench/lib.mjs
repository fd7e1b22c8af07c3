// Shared pieces of the benchmarks in bench/ (run.mjs, idle-memory.mjs): settings from the
// environment, bounded child processes, free ports, the two servers under test (a Loom daemon
// in a temporary sandbox and the node:cluster baseline) with their cleanup on success, error
// and Ctrl+C, and readings from /proc.
import { fork, spawn, spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import { tmpdir, cpus, loadavg } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const BENCH = dirname(fileURLToPath(import.meta.url));
export const ROOT = resolve(BENCH, '..');
// BENCH_LOOM: another bundle to measure (e.g. an experimental build), default dist/loom.cjs.
export const LOOM = process.env.BENCH_LOOM ? resolve(process.env.BENCH_LOOM) : join(ROOT, 'dist', 'loom.cjs');
export const HOST = '127.0.0.1';

// ---- settings (environment) ------------------------------------------------------------
export function envNum(name, def, min, max) {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return def;
  const n = Number(raw);
  if (!Number.isFinite(n) || n < min || n > max) {
    console.error(`bench: ${name}=${raw} is not a number in ${min}..${max}`);
    process.exit(2);
  }
  return n;
}

// ---- processes ----------------------------------------------------------------------------
/** Open-file limits of a process, from /proc/PID/limits ('unlimited' as Infinity). */
export function nofileLimits(pid = 'self') {
  const text = readFileSync(`/proc/${pid}/limits`, 'latin1');
  const m = /^Max open files\s+(\S+)\s+(\S+)/m.exec(text);
  const num = (s) => (s === 'unlimited' ? Infinity : Number(s));
  return m ? { soft: num(m[1]), hard: num(m[2]) } : { soft: Infinity, hard: Infinity };
}

/**
 * [cmd, args] that run `cmd args` with at least `nofile` open files allowed. Node cannot
 * raise its own limit, so when ours is too low the command runs under `bash -c 'ulimit -n'`:
 * up to `nofile` if permitted (raising the hard limit needs root), else up to the hard limit
 * (the child checks what it got, from /proc/self/limits).
 */
export function withNofile(cmd, args, nofile) {
  if (!nofile || nofileLimits().soft >= nofile) return [cmd, args];
  const n = Math.ceil(nofile);
  return ['bash', ['-c', `ulimit -n ${n} 2>/dev/null || ulimit -Sn ${n} 2>/dev/null || ulimit -Sn "$(ulimit -Hn)"; exec "$0" "$@"`, cmd, ...args]];
}

/** Runs a command to completion (bounded). */
export function run(cmd, args, timeoutMs, { nofile = 0 } = {}) {
  return new Promise((resolveRun) => {
    const [c, a] = withNofile(cmd, args, nofile);
    const child = spawn(c, a, { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => { stdout += d; });
    child.stderr.on('data', (d) => { stderr += d; });
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('error', (err) => { stderr += err.message; });
    child.on('close', (code, signal) => { clearTimeout(timer); resolveRun({ code: code ?? signal, stdout, stderr }); });
  });
}

/**
 * A node script as a child with an IPC channel, stdout/stderr inherited (fork(); through bash
 * when the open-file limit must be raised first).
 */
export function forkNode(script, args, { nofile = 0 } = {}) {
  const [c, a] = withNofile(process.execPath, [script, ...args], nofile);
  if (c === process.execPath) return fork(script, args, { cwd: ROOT, stdio: ['ignore', 'inherit', 'inherit', 'ipc'], execArgv: [] });
  return spawn(c, a, { cwd: ROOT, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
}

/**
 * Messages from a child process, awaited by type: next('ready', ms) resolves with the first
 * unread { t: 'ready' } message; an { t: 'error', message } one, the child's exit, or the
 * time limit rejects.
 */
export class Mailbox {
  constructor(child, name) {
    this.name = name;
    this.inbox = [];
    this.wake = null;
    this.exited = new Promise((r) => child.once('exit', (code, sig) => r(sig ?? code)));
    child.on('message', (m) => { this.inbox.push(m); this.wake?.(); });
  }

  next(t, ms) {
    return withTimeout((async () => {
      for (;;) {
        const i = this.inbox.findIndex((m) => m?.t === t || m?.t === 'error');
        if (i >= 0) {
          const m = this.inbox.splice(i, 1)[0];
          if (m.t === 'error') throw new Error(`${this.name}: ${m.message}`);
          return m;
        }
        const exit = await Promise.race([new Promise((r) => { this.wake = r; }).then(() => null), this.exited]);
        if (exit !== null && this.inbox.length === 0) throw new Error(`${this.name} exited (${exit}) before reporting '${t}'`);
      }
    })(), ms, `${this.name} to report '${t}'`);
  }
}

/** A port free right now on 127.0.0.1: bind port 0 and let the kernel pick. */
export function freePort() {
  return new Promise((resolvePort, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, HOST, () => {
      const { port } = s.address();
      s.close(() => resolvePort(port));
    });
  });
}

export function withTimeout(promise, ms, what) {
  let timer;
  return Promise.race([
    promise,
    new Promise((_, reject) => { timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what}`)), ms); }),
  ]).finally(() => clearTimeout(timer));
}

export function sleep(ms) {
  return new Promise((r) => setTimeout(r, ms));
}

/** One frame (4-byte big-endian length, header included) through a frame:// echo and back. */
export function frameEchoOnce(port) {
  const body = Buffer.from('loom bench probe \u00e9\u4e16');
  const frame = Buffer.alloc(4 + body.length);
  frame.writeUInt32BE(frame.length, 0);
  body.copy(frame, 4);
  return withTimeout(new Promise((resolveEcho, reject) => {
    const s = connect({ port, host: HOST });
    let got = Buffer.alloc(0);
    s.on('connect', () => s.write(frame));
    s.on('data', (d) => {
      got = Buffer.concat([got, d]);
      if (got.length >= frame.length) {
        s.destroy();
        if (got.equals(frame)) resolveEcho();
        else reject(new Error(`bad frame echo from port ${port}: ${got.toString('hex')}`));
      }
    });
    s.on('error', reject);
  }), 5000, `frame echo probe on port ${port}`);
}

/** One line through the server and back: proves it is a working echo before measuring. */
export function echoOnce(port) {
  const probe = 'loom bench probe \u00e9\u4e16';
  return withTimeout(new Promise((resolveEcho, reject) => {
    const s = connect({ port, host: HOST });
    let got = '';
    s.setEncoding('utf8');
    s.on('connect', () => s.write(`${probe}\r\n${probe}\n`));
    s.on('data', (d) => {
      got += d;
      if (got.split('\n').length > 2) {
        s.destroy();
        if (got === `${probe}\n${probe}\n`) resolveEcho();
        else reject(new Error(`bad echo from port ${port}: ${JSON.stringify(got)}`));
      }
    });
    s.on('error', reject);
  }), 5000, `echo probe on port ${port}`);
}

/** One HTTP request answered 200. */
export function httpOnce(port) {
  return withTimeout(new Promise((resolveProbe, reject) => {
    const s = connect({ port, host: HOST });
    let got = '';
    s.on('connect', () => s.write('GET / HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n'));
    s.on('data', (d) => { got += d; });
    s.on('close', () => (got.startsWith('HTTP/1.1 200') ? resolveProbe() : reject(new Error(`bad HTTP answer from port ${port}: ${JSON.stringify(got.slice(0, 80))}`))));
    s.on('error', reject);
  }), 5000, `HTTP probe on port ${port}`);
}

/** A WebSocket handshake answered 101. */
export function webSocketOnce(port) {
  return withTimeout(new Promise((resolveProbe, reject) => {
    const s = connect({ port, host: HOST });
    s.on('connect', () => s.write(WS_HANDSHAKE));
    s.once('data', (d) => {
      s.destroy();
      if (d.toString('latin1').startsWith('HTTP/1.1 101')) resolveProbe();
      else reject(new Error(`bad WebSocket handshake answer from port ${port}: ${JSON.stringify(d.toString('latin1').slice(0, 80))}`));
    });
    s.on('error', reject);
  }), 5000, `WebSocket probe on port ${port}`);
}

/**
 * A floor of the benchmarks, built once per run with the system's C compiler into a temp dir:
 * 'floor' (bench/floor.c: HTTP and text echo) or 'floor-ws' (bench/floor-ws.c, with
 * libcrypto). The path of its binary, or null when it cannot be built or BENCH_FLOOR=0 (said
 * once).
 */
export function floorBinary(name = 'floor') {
  if (floorBins.has(name)) return floorBins.get(name);
  floorBins.set(name, null);
  if (process.env.BENCH_FLOOR === '0') return null;
  const dir = mkdtempSync(join(tmpdir(), 'loom-floor-'));
  const bin = join(dir, name);
  const libs = name === 'floor-ws' ? ['-lcrypto'] : [];
  const r = spawnSync(process.env.CC || 'cc', ['-O2', '-o', bin, join(BENCH, `${name}.c`), ...libs], { encoding: 'utf8' });
  if (r.status !== 0) {
    console.error(`bench: no ${name} (${r.error ? 'no C compiler' : r.stderr.trim().split('\n')[0]})`);
    rmSync(dir, { recursive: true, force: true });
    return null;
  }
  process.once('exit', () => rmSync(dir, { recursive: true, force: true }));
  floorBins.set(name, bin);
  return bin;
}
const floorBins = new Map();

/**
 * Starts a floor ('http' or 'echo': bench/floor.c; 'ws': bench/floor-ws.c) with `workers`
 * processes on port, in a process group of its own (stop() kills the group), once it answers.
 */
export async function startFloor(mode, port, workers) {
  const bin = floorBinary(mode === 'ws' ? 'floor-ws' : 'floor');
  if (bin === null) throw new Error('no floor binary');
  const args = mode === 'ws' ? [String(port), String(workers)] : [String(port), String(workers), mode];
  const child = spawn(bin, args, { detached: true, stdio: ['ignore', 'ignore', 'inherit'] });
  const exited = new Promise((r) => child.once('exit', r));
  // Not in the benchmark's process group: killed when the benchmark exits, however it exits.
  const kill = () => { try { process.kill(-child.pid, 'SIGKILL'); } catch { /* gone */ } };
  process.once('exit', kill);
  const stop = async () => {
    process.off('exit', kill);
    kill();
    await withTimeout(exited, 5000, 'the floor to exit').catch(() => undefined);
  };
  const probe = { http: httpOnce, echo: bytesEchoOnce, ws: webSocketOnce }[mode];
  const deadline = Date.now() + 10000;
  for (;;) {
    try {
      await probe(port);
      return { name: 'floor', port, pid: child.pid, stop };
    } catch (err) {
      if (child.exitCode !== null || Date.now() > deadline) {
        await stop();
        throw new Error(`the floor did not answer on port ${port}: ${err.message}`);
      }
      await sleep(50);
    }
  }
}

/** A line sent comes back byte for byte (the floor's echo; Loom's text protocol drops a \r). */
function bytesEchoOnce(port) {
  return withTimeout(new Promise((resolveEcho, reject) => {
    const s = connect({ port, host: HOST });
    let got = '';
    s.on('connect', () => s.write('floor probe\n'));
    s.on('data', (d) => {
      got += d;
      if (got.endsWith('\n')) {
        s.destroy();
        if (got === 'floor probe\n') resolveEcho();
        else reject(new Error(`bad echo: ${JSON.stringify(got)}`));
      }
    });
    s.on('error', reject);
  }), 2000, `echo probe on port ${port}`);
}

/** A client's WebSocket handshake (fixed key: the answer is not checked beyond its status). */
export const WS_HANDSHAKE = 'GET / HTTP/1.1\r\nHost: bench\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n';

// ---- /proc ------------------------------------------------------------------------------
export function treePids(rootPid) {
  const byParent = new Map();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    let stat;
    try { stat = readFileSync(`/proc/${name}/stat`, 'latin1'); } catch { continue; }
    const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
    if (!byParent.has(ppid)) byParent.set(ppid, []);
    byParent.get(ppid).push(Number(name));
  }
  const out = [];
  const stack = [rootPid];
  while (stack.length) {
    const p = stack.pop();
    out.push(p);
    stack.push(...(byParent.get(p) ?? []));
  }
  return out;
}

/** CPU seconds (user + system) used so far by the process `rootPid` and its descendants. */
export function treeCpuSeconds(rootPid) {
  const USER_HZ = 100; // clock ticks per second of /proc/PID/stat on Linux
  let ticks = 0;
  for (const pid of treePids(rootPid)) {
    let stat;
    try { stat = readFileSync(`/proc/${pid}/stat`, 'latin1'); } catch { continue; }
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    ticks += Number(f[11]) + Number(f[12]); // utime, stime
  }
  return ticks / USER_HZ;
}

/**
 * Established TCP connections to local `port` held (as open fds) by each process of the
 * tree rooted at `rootPid`: Map pid -> count, processes holding none left out.
 */
export function establishedByPid(rootPid, port) {
  const inodes = new Set();
  const hex = port.toString(16).toUpperCase().padStart(4, '0');
  for (const file of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text = '';
    try { text = readFileSync(file, 'latin1'); } catch { continue; }
    for (const row of text.split('\n').slice(1)) {
      const f = row.trim().split(/\s+/);
      if (f.length > 9 && f[3] === '01' && f[1].endsWith(`:${hex}`)) inodes.add(f[9]);
    }
  }
  const counts = new Map();
  for (const pid of treePids(rootPid)) {
    let n = 0;
    let fds = [];
    try { fds = readdirSync(`/proc/${pid}/fd`); } catch { continue; }
    for (const fd of fds) {
      let link = '';
      try { link = readlinkSync(`/proc/${pid}/fd/${fd}`); } catch { continue; }
      const m = /^socket:\[(\d+)\]$/.exec(link);
      if (m && inodes.has(m[1])) n++;
    }
    if (n > 0) counts.set(pid, n);
  }
  return counts;
}

/**
 * Established connections on `port` per process of the tree rooted at `rootPid`, as
 * "a/b/..." (processes holding none are left out): shows how evenly the workers share them.
 */
export function connectionSpread(rootPid, port) {
  return [...establishedByPid(rootPid, port).values()].sort((a, b) => b - a).join('/');
}

/**
 * Memory of a process in KiB, from /proc/PID/status: rss (VmRSS) and its parts anon
 * (RssAnon: heap, stacks, malloc) and file (RssFile: mapped code and files); null if gone.
 */
export function memoryKiB(pid) {
  let text;
  try { text = readFileSync(`/proc/${pid}/status`, 'latin1'); } catch { return null; }
  const field = (name) => {
    const m = new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(text);
    return m ? Number(m[1]) : 0;
  };
  return { rss: field('VmRSS'), anon: field('RssAnon'), file: field('RssFile') };
}

// ---- numbers ------------------------------------------------------------------------------
export function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

export function fmt(n) {
  return n === null || n === undefined ? '—' : Math.round(n).toLocaleString('en-US');
}

/** The fields every result file starts with: what ran, when, where, with which settings. */
export function resultMeta(benchmark, started, settings) {
  return {
    benchmark,
    startedAt: started.toISOString(),
    finishedAt: new Date().toISOString(),
    node: process.version,
    cpus: cpus().length,
    cpuModel: cpus()[0]?.model,
    loadavgAtEnd: loadavg(),
    settings,
    loomBundle: LOOM,
  };
}

/** Timestamp for result file names: 2026-01-31T12-00-00-000Z. */
export function stamp(date) {
  return date.toISOString().replace(/[:.]/g, '-');
}

// ---- the servers under test, and cleanup ---------------------------------------------------
/**
 * The servers and client processes one benchmark started: everything is stopped by
 * cleanup(), on success, on error and on a signal (see main()).
 *   workers: processes of each server; nofile: open-file limit the servers need (0: as is);
 *   protocol: of Loom's listener, `text` or `frame` (the baseline is a text echo).
 */
export class Servers {
  constructor({ workers, loom = LOOM, nofile = 0, protocol = 'text', sched = 'default' }) {
    this.workers = workers;
    /** The net baseline's node:cluster scheduling: 'default' (round-robin) or 'none'. */
    this.sched = sched;
    this.protocol = protocol;
    this.loom = loom;
    this.nofile = nofile;
    this.loomConfig = null;
    this.loomCli = loom;
    this.loomDir = null;
    this.baseline = null;
    this.clients = new Set();
    /** Set on an error: the Loom sandbox is kept for inspection. */
    this.failed = false;
  }

  /** A client child process, killed by cleanup() if still running. */
  track(child) {
    this.clients.add(child);
    child.once('exit', () => this.clients.delete(child));
    return child;
  }

  async startLoom(port) {
    const dir = mkdtempSync(join(tmpdir(), 'loom-bench-'));
    this.loomDir = dir;
    mkdirSync(join(dir, 'handlers'));
    // A private copy of the bundle: start and stop run the same build even if dist/ is rebuilt
    // meanwhile (the bundle is self-contained).
    const cli = join(dir, 'loom.cjs');
    copyFileSync(this.loom, cli);
    this.loomCli = cli;
    writeFileSync(join(dir, 'handlers', 'echo.js'), this.protocol === 'http'
      ? "module.exports = {\n  onMessage(c) { c.send('hello'); },\n};\n"
      : 'module.exports = {\n  onMessage(c, d) { c.send(d); },\n};\n');
    const config = join(dir, 'config.ini');
    writeFileSync(config, `[loom]
name = loombench
pid_file = ${dir}/loom.pid
log_file = ${dir}/loom.log
stdout_file = ${dir}/stdout.log
handlers_dir = handlers
watch = false
stop_timeout = 5

[echo]
listen = ${this.protocol === 'websocket' ? 'ws' : this.protocol}://${HOST}:${port}
count = ${this.workers}
handler = echo.js
${this.protocol === 'http' || this.protocol === 'websocket' ? 'idle_timeout = 3600\n' : ''}`);
    const r = await run(process.execPath, [cli, 'start', '-d', '-c', config], 30000, { nofile: this.nofile });
    // Registered even on failure: a half-started daemon is stopped/killed by cleanup.
    this.loomConfig = config;
    if (r.code !== 0) throw new Error(`loom start -d failed (${r.code}): ${r.stderr.trim() || r.stdout.trim()}`);
    const pid = Number(readFileSync(join(dir, 'loom.pid'), 'utf8').trim());
    return { name: 'loom', port, pid, config };
  }

  /** `loom status --json` of the running sandbox. */
  async loomStatus() {
    if (!this.loomConfig) throw new Error('Loom is not running');
    const r = await run(process.execPath, [this.loomCli, 'status', '--json', '-c', this.loomConfig], 15000);
    if (r.code !== 0) throw new Error(`loom status failed (${r.code}): ${r.stderr.trim() || r.stdout.trim()}`);
    return JSON.parse(r.stdout);
  }

  async stopLoom() {
    if (this.loomConfig) {
      const cfg = this.loomConfig;
      this.loomConfig = null;
      const stop = await run(process.execPath, [this.loomCli, 'stop', '-c', cfg], 20000);
      if (stop.code !== 0) {
        console.error(`bench: loom stop failed (${stop.code}): ${stop.stderr.trim()}; killing`);
        await run(process.execPath, [this.loomCli, 'kill', '-c', cfg], 10000);
      }
    }
    if (this.loomDir) {
      if (this.failed) console.error(`bench: Loom sandbox kept for inspection: ${this.loomDir}`);
      else rmSync(this.loomDir, { recursive: true, force: true });
      this.loomDir = null;
    }
  }

  /** node:cluster with net echo (text, frame), node:http (http) or ws (websocket) workers. */
  async startBaseline(port) {
    const web = this.protocol === 'http' || this.protocol === 'websocket';
    const child = web
      ? forkNode(join(BENCH, 'baseline-web.mjs'), [this.protocol === 'http' ? 'http' : 'ws', String(port), String(this.workers)], { nofile: this.nofile })
      : forkNode(join(BENCH, 'baseline-echo.mjs'), [String(port), String(this.workers), ...(this.sched === 'none' ? ['none'] : [])], { nofile: this.nofile });
    this.baseline = child;
    const ready = new Promise((resolveReady, reject) => {
      child.on('message', (m) => { if (m?.t === 'ready') resolveReady(m); });
      child.once('exit', (code, sig) => reject(new Error(`baseline exited with ${sig ?? code} while starting`)));
    });
    const m = await withTimeout(ready, 15000, 'baseline cluster to listen');
    return { name: 'baseline', port, pid: child.pid, pids: m.pids };
  }

  async stopBaseline() {
    const child = this.baseline;
    this.baseline = null;
    if (child && child.exitCode === null && child.signalCode === null) {
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(timer);
    }
  }

  /**
   * Starts a server on a free port and proves it echoes. A port found free can be taken (e.g.
   * as some client's ephemeral port) before the server binds it: then retry on another.
   */
  async startChecked(name, start, stop, probe = echoOnce) {
    for (let attempt = 1; ; attempt++) {
      const port = await freePort();
      try {
        const server = await start(port);
        await probe(port);
        return server;
      } catch (err) {
        await stop();
        if (attempt >= 3) throw err;
        console.error(`bench: ${name} on port ${port} failed (${err.message}); retrying on another port`);
      }
    }
  }

  /** The probe that proves a server of this protocol answers. */
  probe() {
    return { frame: frameEchoOnce, http: httpOnce, websocket: webSocketOnce }[this.protocol] ?? echoOnce;
  }

  startLoomChecked() {
    return this.startChecked('Loom', (p) => this.startLoom(p), () => this.stopLoom(), this.probe());
  }

  startBaselineChecked() {
    return this.startChecked('baseline', (p) => this.startBaseline(p), () => this.stopBaseline(), this.probe());
  }

  async cleanup() {
    for (const c of this.clients) c.kill('SIGKILL');
    this.clients.clear();
    await this.stopLoom();
    await this.stopBaseline();
  }
}

/**
 * Runs a benchmark's main(): on SIGINT/SIGTERM/SIGHUP cleans up and exits 130; on an error
 * prints it, keeps the Loom sandbox and exits 1; always stops every server and client.
 */
export async function runMain(servers, main) {
  let interrupted = false;
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
    process.on(sig, () => {
      if (interrupted) return;
      interrupted = true;
      console.error(`bench: ${sig}, cleaning up`);
      servers.cleanup().finally(() => process.exit(130));
    });
  }
  try {
    await main();
  } catch (err) {
    if (!interrupted) {
      servers.failed = true;
      console.error(`bench: ${err instanceof Error ? err.message : String(err)}`);
      process.exitCode = 1;
    }
  } finally {
    if (!interrupted) await servers.cleanup();
  }
}

/** Summed memory (KiB) of `pids` right now; throws if one is gone. */
export function sumMemory(pids) {
  const sum = { rss: 0, anon: 0, file: 0 };
  for (const pid of pids) {
    const m = memoryKiB(pid);
    if (!m) throw new Error(`server process ${pid} is gone`);
    sum.rss += m.rss;
    sum.anon += m.anon;
    sum.file += m.file;
  }
  return sum;
}

/**
 * Minimum of the summed memory of `pids` (each field on its own), sampled every `sampleMs` for
 * `settleS` seconds: garbage not yet collected and memory V8 has not yet given back only ever
 * add to a sample. Also the minimum RSS of each of `pids` and of `others`.
 */
export async function sampleMemory(pids, { settleS, sampleMs, others = [] }) {
  const all = [];
  const per = new Map([...pids, ...others].map((p) => [p, []]));
  const sample = () => {
    all.push(sumMemory(pids));
    for (const [pid, xs] of per) xs.push(memoryKiB(pid)?.rss ?? NaN);
  };
  sample();
  const end = Date.now() + settleS * 1000;
  while (Date.now() + sampleMs <= end) {
    await sleep(sampleMs);
    sample();
  }
  return {
    rss: Math.min(...all.map((m) => m.rss)),
    anon: Math.min(...all.map((m) => m.anon)),
    file: Math.min(...all.map((m) => m.file)),
    samples: all.map((m) => m.rss), // summed RSS (KiB), one per sampleMs
    perProcess: Object.fromEntries([...per].map(([pid, xs]) => [pid, Math.min(...xs)])), // minimum RSS (KiB) of each
  };
}
