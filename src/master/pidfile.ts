// The pidfile holds the master's pid. It is never trusted blindly: a pid that is dead, or
// alive but not a Loom process (pid reuse), makes the file stale and it is replaced.
import { readFileSync, unlinkSync, writeFileSync } from 'node:fs';
import { mkdirp } from '../util/mkdirp.js';
import { basename, dirname } from 'node:path';
import { LoomError } from '../core/errors.js';
import { isAlive } from '../util/proc.js';

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

/**
 * True when pid is alive and its command line shows a Loom process. A running master or
 * worker has rewritten its command line into its process title ("NAME: master process
 * (FILE)", "NAME: worker GROUP #ID"), whatever NAME is; before that it is `loom …` (the
 * single executable) or `node …/loom.cjs …`.
 */
export function isLoomProcess(pid: number): boolean {
  if (!isAlive(pid)) return false;
  let cmdline: string;
  try {
    cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
  } catch {
    return false;
  }
  if (/^[^\0]*: (master process \(|worker )/.test(cmdline)) return true;
  return cmdline.split('\0').slice(0, 2).some((arg) => /^loom(\.c?js)?$/i.test(basename(arg)));
}

/** The pid of the running daemon for this pidfile, or null (absent or stale). */
export function runningPid(file: string): number | null {
  const pid = readPid(file);
  if (pid === null || pid === process.pid) return null;
  return isLoomProcess(pid) ? pid : null;
}

export function writePid(file: string, pid = process.pid): void {
  try {
    mkdirp(dirname(file));
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

export { controlSocketPath } from '../config/paths.js';
