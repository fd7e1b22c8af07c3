// Test helpers: a sandbox directory with its own config.ini and handlers, the real CLI
// (dist/loom.cjs, built by `npm test`), free ports, and waiting on conditions with deadlines.
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync, existsSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import { daemonPids, killAll } from './procs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';

// tap loads @tapjs/processinfo into every process a test spawns (through NODE_OPTIONS and a hook
// on spawn), about 80 ms of CPU per node process: every CLI run, master and worker. Coverage is
// off, so the daemons under test run as users run them, without it.
{
  const onSpawn = (globalThis as unknown as Record<symbol, { listeners?: unknown[] } | undefined>)[Symbol.for('process-on-spawn@*:singletonId')];
  if (onSpawn?.listeners) onSpawn.listeners.length = 0;
  const kept = (process.env.NODE_OPTIONS ?? '').split(/\s+/).filter((o) => o && !o.includes('@tapjs/processinfo'));
  if (kept.length > 0) process.env.NODE_OPTIONS = kept.join(' ');
  else delete process.env.NODE_OPTIONS;
}

export const ROOT = resolve(__dirname, '..', '..');
export const LOOM = join(ROOT, 'dist', 'loom.cjs');

export interface Sandbox {
  dir: string;
  config: string;
  handlers: string;
  pidFile: string;
  logFile: string;
  stdoutFile: string;
  log(): string;
}

export interface SandboxOptions {
  /** Group sections (and extra [loom] keys via `global`). */
  groups: string;
  global?: string;
  /** Files under handlers/, by relative path. */
  files?: Record<string, string>;
}

export function sandbox(opts: SandboxOptions): Sandbox {
  const dir = mkdtempSync(join(tmpdir(), 'loom-test-'));
  const handlers = join(dir, 'handlers');
  mkdirSync(join(handlers, 'protocols'), { recursive: true });
  for (const [name, text] of Object.entries(opts.files ?? {})) {
    mkdirSync(dirname(join(handlers, name)), { recursive: true });
    writeFileSync(join(handlers, name), text);
  }
  const config = join(dir, 'config.ini');
  writeFileSync(config, `[loom]
name = loomtest
pid_file = ${dir}/loom.pid
log_file = ${dir}/loom.log
stdout_file = ${dir}/stdout.log
handlers_dir = handlers
stop_timeout = 5
${opts.global ?? ''}

${opts.groups}
`);
  return {
    dir, config, handlers,
    pidFile: join(dir, 'loom.pid'),
    logFile: join(dir, 'loom.log'),
    stdoutFile: join(dir, 'stdout.log'),
    log: () => (existsSync(join(dir, 'loom.log')) ? readFileSync(join(dir, 'loom.log'), 'utf8') : ''),
  };
}

export interface Run { code: number | null; stdout: string; stderr: string }

/** Runs the real CLI to completion. */
export function loom(args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv; timeoutMs?: number } = {}): Promise<Run> {
  return new Promise((resolvePromise) => {
    const child = spawn(process.execPath, [LOOM, ...args], { cwd: opts.cwd ?? ROOT, env: opts.env ?? process.env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c) => { stdout += c; });
    child.stderr.on('data', (c) => { stderr += c; });
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 30000);
    child.on('close', (code) => { clearTimeout(timer); resolvePromise({ code, stdout, stderr }); });
  });
}

/** Starts the daemon (start -d) and registers a teardown that kills it. */
export async function startDaemon(t: { teardown(fn: () => unknown): void }, sb: Sandbox, env?: NodeJS.ProcessEnv): Promise<Run> {
  const run = await loom(['start', '-d', '-c', sb.config], env ? { env: { ...process.env, ...env } } : {});
  t.teardown(() => {
    spawnSync(process.execPath, [LOOM, 'kill', '-c', sb.config], { stdio: 'ignore' });
    // Also when the test left config.ini unreadable for `kill`: every process of this daemon.
    killAll(daemonPids(sb.config));
  });
  if (run.code !== 0) throw new Error(`start -d failed (${run.code}): ${run.stderr}\nlog:\n${sb.log()}`);
  return run;
}

export function masterPid(sb: Sandbox): number {
  return Number(readFileSync(sb.pidFile, 'utf8').trim());
}

/** A port free right now on 127.0.0.1 (the kernel picks it). */
/**
 * A port nothing listens on, for a daemon to bind a moment later. Picked below the kernel's
 * ephemeral range (ip_local_port_range): the client connections of the tests running beside
 * this one take their local ports from that range, and one of them took a port picked there
 * before the daemon could bind it (EADDRINUSE, once in a CI run). Each test process walks up
 * from a random place between 10000 and the range's start, so that its ports are all
 * different (a test often takes several before binding any), checking each by binding it; the
 * kernel's pick where the range cannot be read.
 */
export async function freePort(host = '127.0.0.1'): Promise<number> {
  const low = ephemeralLow();
  if (low !== null && low > 11000) {
    const span = low - 10000;
    nextPort ??= Math.floor(Math.random() * span);
    for (let i = 0; i < 50; i++) {
      const port = 10000 + (nextPort++ % span);
      if (await canListen(port, host)) return port;
    }
  }
  return listenOn(0, host);
}

/** Where this process's walk over the ports below the ephemeral range is (an offset). */
let nextPort: number | undefined;

function ephemeralLow(): number | null {
  try {
    const low = Number(readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0]);
    return Number.isInteger(low) ? low : null;
  } catch {
    return null;
  }
}

function canListen(port: number, host: string): Promise<boolean> {
  return listenOn(port, host).then(() => true, () => false);
}

/** Listens on port (0: the kernel's pick) and closes again: the port. */
function listenOn(port: number, host: string): Promise<number> {
  return new Promise((resolvePromise, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(port, host, () => {
      const got = (s.address() as { port: number }).port;
      s.close(() => resolvePromise(got));
    });
  });
}

/** Polls cond until it returns a truthy value or the deadline passes. */
export async function waitFor<T>(cond: () => T | Promise<T>, what: string, timeoutMs = 10000): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await cond();
    if (v) return v as NonNullable<T>;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

export function isAlive(pid: number): boolean {
  try { process.kill(pid, 0); return true; } catch { return false; }
}

/** Status as JSON through the real CLI. */
/**
 * Status as `loom status --json` prints it, asked of the master's control socket from this
 * process: tests poll status in waitFor loops, and a CLI process per poll cost more CPU than
 * the rest of the suite. (test/master/status.ts checks that the CLI prints this same object.)
 */
export function statusJson(sb: Sandbox): Promise<StatusJson> {
  return askControl(sb, 'status') as Promise<StatusJson>;
}

/** One request to the daemon's control socket (one JSON line each way). */
export function askControl(sb: Sandbox, cmd: string): Promise<unknown> {
  return new Promise((resolvePromise, reject) => {
    const socket = connect(sb.pidFile.replace(/\.pid$/, '') + '.sock');
    let buf = '';
    socket.setEncoding('utf8');
    socket.setTimeout(10000, () => socket.destroy(new Error(`no answer to ${cmd} within 10 s`)));
    socket.on('connect', () => socket.write(JSON.stringify({ cmd }) + '\n'));
    socket.on('data', (c: string) => { buf += c; });
    socket.on('error', reject);
    socket.on('end', () => {
      try {
        const reply = JSON.parse(buf) as { ok: boolean; data?: unknown; error?: string };
        if (reply.ok) resolvePromise(reply.data);
        else reject(new Error(`${cmd} failed: ${reply.error}`));
      } catch {
        reject(new Error(`bad answer to ${cmd}: ${buf}`));
      }
    });
  });
}

export interface StatusJson {
  masterPid: number;
  groups: { name: string; deaths: number; exitStatuses: Record<string, number> }[];
  processes: { pid: number; group: string; workerId: number; connections: number; totalRequests: number; sendFailures: number; handlerErrors: number; badPackets: number; state: string }[];
}
