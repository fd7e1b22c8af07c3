// Readers of Linux's /proc: process state, parent, start time and owner, and a process's children.
import { readdirSync, readFileSync } from 'node:fs';

export interface ProcStat {
  /** One letter: R running, S sleeping, Z zombie, ... */
  state: string;
  ppid: number;
  /** Clock ticks after boot when the process started: with the pid, names one process for good. */
  startTime: number;
}

/** Fields of /proc/PID/stat, or null when there is no such process (or no /proc). */
export function procStat(pid: number): ProcStat | null {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return null;
  }
  // Field 2, the command, may hold spaces and parentheses: the fields after it follow the last ')'.
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // f[0] is field 3 (state), f[1] field 4 (ppid), f[19] field 22 (starttime).
  return { state: f[0], ppid: Number(f[1]), startTime: Number(f[19]) };
}

/** The effective uid of pid, or null when there is no such process. */
export function procUid(pid: number): number | null {
  try {
    const line = readFileSync(`/proc/${pid}/status`, 'utf8').split('\n').find((l) => l.startsWith('Uid:'));
    // Uid: real effective saved filesystem
    const uid = Number(line?.split(/\s+/)[2]);
    return Number.isInteger(uid) ? uid : null;
  } catch {
    return null;
  }
}

/** True when pid runs; a zombie (exited, not yet reaped by its parent) counts as gone. */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  const stat = procStat(pid);
  return stat === null ? true /* no /proc: trust kill(0) */ : stat.state !== 'Z';
}

/** Pids whose parent is pid. */
export function childrenOf(pid: number): number[] {
  const out: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    if (procStat(Number(entry))?.ppid === pid) out.push(Number(entry));
  }
  return out;
}
