// The pidfile holds the master's pid. It is never trusted blindly: a pid that is dead, or
// alive but not a Loom process (pid reuse), makes the file stale and it is replaced.
import { mkdirSync, readFileSync, unlinkSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { LoomError } from '../errors.js';

export function readPid(file: string): number | null {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    return null;
  }
  const pid = Number(text.trim());
  return Number.isInteger(pid) && pid > 0 ? pid : null;
}

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** True when pid is alive and its command line shows a Loom process. */
export function isLoomProcess(pid: number): boolean {
  if (!isAlive(pid)) return false;
  try {
    const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
    return /loom/i.test(cmdline);
  } catch {
    return false;
  }
}

/** The pid of the running daemon for this pidfile, or null (absent or stale). */
export function runningPid(file: string): number | null {
  const pid = readPid(file);
  if (pid === null || pid === process.pid) return null;
  return isLoomProcess(pid) ? pid : null;
}

export function writePid(file: string, pid = process.pid): void {
  try {
    mkdirSync(dirname(file), { recursive: true });
    writeFileSync(file, `${pid}\n`);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? 'error';
    throw new LoomError('LOOM_ERR_PIDFILE', `cannot write pid file ${file} (${code}); set pid_file in [loom] to a writable path`);
  }
}

export function removePid(file: string, pid = process.pid): void {
  if (readPid(file) !== pid) return;
  try { unlinkSync(file); } catch { /* already gone */ }
}

/** The control socket lives beside the pidfile: /var/run/loom.pid → /var/run/loom.sock. */
export function controlSocketPath(pidFile: string): string {
  return pidFile.replace(/\.pid$/, '') + '.sock';
}
