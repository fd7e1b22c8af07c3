// Process inspection for the CLI tests, from /proc (Linux): which processes belong to a
// sandbox's daemon, and whether a pid still runs (a zombie, dead but not yet reaped by its
// parent, counts as gone).
import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, copyFileSync, linkSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { dirname, join } from 'node:path';
import { LOOM, waitFor, type Run } from './loom';

function statFields(pid: number): string[] | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Field 2 (the command) may hold spaces and parentheses: split after the last ')'.
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  } catch {
    return null;
  }
}

/** True when pid exists and is not a zombie. */
export function running(pid: number): boolean {
  const f = statFields(pid);
  return f !== null && f[0] !== 'Z';
}

/** Running pids whose parent is pid. */
export function childPids(pid: number): number[] {
  const out: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const f = statFields(Number(entry));
    if (f && f[0] !== 'Z' && Number(f[1]) === pid) out.push(Number(entry));
  }
  return out;
}

/**
 * Running pids started for this config by `start -d`: the detached master gets
 * LOOM_CONFIG=<file> in its environment and its workers inherit it.
 */
export function daemonPids(configFile: string): number[] {
  const needle = `\0LOOM_CONFIG=${configFile}\0`;
  const out: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    try {
      const env = '\0' + readFileSync(`/proc/${entry}/environ`, 'utf8');
      if (env.includes(needle) && running(Number(entry))) out.push(Number(entry));
    } catch { /* exited meanwhile, or not ours to read */ }
  }
  return out;
}

/** Waits until none of pids runs. */
export async function waitGone(pids: number[], what: string, timeoutMs = 10000): Promise<void> {
  await waitFor(() => !pids.some(running), what, timeoutMs);
}

/** Best-effort SIGKILL of pids that still run (teardown). */
export function killAll(pids: number[]): void {
  for (const p of pids) {
    if (!running(p)) continue;
    try { process.kill(p, 'SIGKILL'); } catch { /* gone */ }
  }
}

/** Resolves true when a TCP connect to 127.0.0.1:port succeeds, false when refused. */
export function canConnect(port: number, host = '127.0.0.1'): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(port, host);
    // A connect to a free loopback port in the ephemeral range can, rarely, pick that same
    // port as its source and connect to itself (TCP simultaneous open): no listener there.
    s.once('connect', () => { const self = s.localPort === port; s.destroy(); resolve(!self); });
    s.once('error', () => resolve(false));
  });
}

/**
 * True once the port refuses a connection within the deadline. Other test files probe free
 * ports in parallel; one may hold a just-released port number for an instant.
 */
export async function portReleased(port: number, timeoutMs = 10000): Promise<boolean> {
  try {
    await waitFor(async () => !(await canConnect(port)), `port ${port} to refuse connections`, timeoutMs);
    return true;
  } catch {
    return false;
  }
}

/** Milliseconds since the epoch of a log line's "YYYY-MM-DD HH:MM:SS.mmm" local timestamp. */
export function logLineTime(line: string): number | null {
  const m = /^(\d{4}-\d{2}-\d{2}) (\d{2}:\d{2}:\d{2}\.\d{3})/.exec(line);
  return m ? new Date(`${m[1]}T${m[2]}`).getTime() : null;
}

/** p, or a rejection naming what when it does not settle within ms. */
export function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
    p.then((v) => { clearTimeout(timer); resolve(v); }, (e: unknown) => { clearTimeout(timer); reject(e); });
  });
}

/** Who listens on a TCP port, for failure messages (`ss` output, or '' when none). */
export function whoListens(port: number): string {
  const r = spawnSync('ss', ['-Htlnp', `sport = :${port}`], { encoding: 'utf8' });
  return (r.stdout ?? '').trim();
}

/**
 * dist/loom.cjs (one self-contained file) copied to a fresh directory under /tmp that every
 * user can read, under the given file name: the checkout may be private (a mktemp -d clone,
 * /root), and a short path gives the processes a short command line. Removed in teardown.
 */
export function copyLoom(t: { teardown(fn: () => unknown): void }, name = 'loom.cjs'): string {
  const dir = mkdtempSync('/tmp/l');
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  chmodSync(dir, 0o755);
  const file = join(dir, name);
  copyFileSync(LOOM, file);
  chmodSync(file, 0o644);
  // The runtime too: the pinned node lives in the checkout's node_modules, out of reach as well.
  const node = join(dir, 'node');
  try {
    linkSync(process.execPath, node);
  } catch {
    copyFileSync(process.execPath, node);
  }
  chmodSync(node, 0o755);
  return file;
}

/**
 * Runs the CLI at `loom` (see copyLoom) as uid:gid, from /. tap's NODE_OPTIONS loaders live in
 * the checkout, which that user may not be able to read (nor write their reports into), and
 * tap adds them back to the environment of any process spawned from a test: `env -u` drops
 * them at the last moment.
 */
export function runAs(uid: number, gid: number, loom: string, args: string[]): Promise<Run> {
  return new Promise((resolve) => {
    const child = spawn('env', ['-u', 'NODE_OPTIONS', join(dirname(loom), 'node'), loom, ...args], { uid, gid, cwd: '/', stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c) => { stdout += c; });
    child.stderr.on('data', (c) => { stderr += c; });
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}
