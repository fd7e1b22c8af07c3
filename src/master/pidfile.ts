// The pidfile holds the master's pid and nothing else (systemd and logrotate read it). A pid
// alone proves nothing: after a crash it may name any program. So a pid is taken for this
// daemon's master only when proven, by what the master alone holds:
//   1. its control socket (<pid_file without .pid>.sock): asked `identify`, it answers its pid
//      and start time, which must be those of the live process the pidfile names;
//   2. when nobody answers there (a master hung, stopped, or already closing its socket during
//      a graceful stop), the sidecar <pid_file without .pid>.start, written with the pidfile:
//      the pid, its start time (field 22 of /proc/PID/stat) and the boot id. A reused pid has
//      another start time.
// Either proof counts only if its file belongs to the user the process runs as: whoever may
// write the pid directory can plant a socket or a sidecar, but not make another user's
// process look like their own. Anything else (the process title included: Linux truncates
// it, and others look alike) is not proof; such a pidfile is stale and is replaced by the
// next start.
import { closeSync, constants, fstatSync, lstatSync, openSync, readFileSync, readSync, renameSync, unlinkSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';
import { LoomError } from '../core/errors.js';
import { mkdirp } from '../util/mkdirp.js';
import { isAlive, procStat, procUid } from '../util/proc.js';
import { askMaster } from './control.js';
import { controlSocketPath, identityPath } from '../config/paths.js';

export { controlSocketPath, identityPath };

/** Names one process for good: pids are reused, a (pid, start time, boot) never is. */
export interface ProcessIdentity { pid: number; startTime: number; bootId: string }

export type MasterLookup =
  | { state: 'running'; pid: number }
  | { state: 'absent' }
  /** The pidfile names a process that is gone, or one that is not this daemon's master. */
  | { state: 'stale'; pid: number; why: 'gone' | 'not-loom' };

/** A healthy master answers at once; a hung one never does, and the sidecar settles it. */
const IDENTIFY_TIMEOUT_MS = 1000;


/**
 * The first bytes of a plain file and its owner, read through one descriptor. Whatever else
 * sits at the path (a link, a fifo, /dev/zero) is no pidfile of ours.
 */
function readSmallFile(file: string): { text: string; owner: number } | null {
  let fd: number;
  try {
    fd = openSync(file, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch {
    return null;
  }
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) return null;
    const buf = Buffer.alloc(4096);
    return { text: buf.toString('utf8', 0, readSync(fd, buf)), owner: st.uid };
  } catch {
    return null;
  } finally {
    closeSync(fd);
  }
}

export function readPid(file: string): number | null {
  const pid = Number(readSmallFile(file)?.text.trim());
  return Number.isInteger(pid) && pid > 0 ? pid : null;
}

function bootId(): string {
  try {
    return readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
  } catch {
    return '';
  }
}

/** This process's identity: what the master answers to `identify` and records in the sidecar. */
export function selfIdentity(): ProcessIdentity {
  return { pid: process.pid, startTime: procStat(process.pid)?.startTime ?? -1, bootId: bootId() };
}

/** A claimed identity and the owner of the file that made the claim. */
interface Claim { id: ProcessIdentity; owner: number }

/** True when the claim names the process that runs under its pid right now, as the claim's owner. */
function holds({ id, owner }: Claim): boolean {
  const stat = procStat(id.pid);
  return stat !== null && stat.state !== 'Z' && stat.startTime === id.startTime && id.bootId === bootId() && procUid(id.pid) === owner;
}

function asIdentity(x: unknown): ProcessIdentity | null {
  const o = x as Partial<ProcessIdentity> | null;
  return o && Number.isInteger(o.pid) && Number.isInteger(o.startTime) && typeof o.bootId === 'string'
    ? { pid: o.pid!, startTime: o.startTime!, bootId: o.bootId }
    : null;
}

/** The sidecar's claim; owner and content come from one descriptor, so they go together. */
function readIdentity(pidFile: string): Claim | null {
  const file = readSmallFile(identityPath(pidFile));
  try {
    const id = file && asIdentity(JSON.parse(file.text));
    return id ? { id, owner: file.owner } : null;
  } catch {
    return null;
  }
}

/** What the master on the control socket says it is; the socket file must be the same before and after. */
async function askIdentity(pidFile: string): Promise<Claim | null> {
  const path = controlSocketPath(pidFile);
  const socketFile = () => {
    try {
      const st = lstatSync(path);
      return st.isSocket() ? st : null;
    } catch {
      return null;
    }
  };
  const before = socketFile();
  if (!before) return null;
  const id = asIdentity(await askMaster(path, 'identify', IDENTIFY_TIMEOUT_MS));
  const after = socketFile();
  return id && after && after.ino === before.ino && after.dev === before.dev ? { id, owner: before.uid } : null;
}

/** Which master, if any, the pidfile names; see the top of this file for what counts as proof. */
export async function findMaster(pidFile: string): Promise<MasterLookup> {
  const pid = readPid(pidFile);
  if (pid === null) return { state: 'absent' };
  if (pid === process.pid || !isAlive(pid)) return { state: 'stale', pid, why: 'gone' };
  let denied: LoomError | null = null;
  try {
    const answer = await askIdentity(pidFile);
    if (answer && answer.id.pid === pid && holds(answer)) return { state: 'running', pid };
  } catch (err) {
    if (err instanceof LoomError && err.code === 'LOOM_ERR_PERMISSION') denied = err;
  }
  const recorded = readIdentity(pidFile);
  if (recorded && recorded.id.pid === pid && holds(recorded)) return { state: 'running', pid };
  // Someone else's socket and no readable sidecar: it may well be a master we cannot ask.
  if (denied) throw denied;
  return { state: 'stale', pid, why: 'not-loom' };
}

/** The pid of the running master for this pidfile, or null (absent or stale). */
export async function runningPid(pidFile: string): Promise<number | null> {
  const found = await findMaster(pidFile);
  return found.state === 'running' ? found.pid : null;
}

/** One line saying why a lookup found no running master. */
export function notRunningMessage(pidFile: string, found: Exclude<MasterLookup, { state: 'running' }>): string {
  if (found.state === 'absent') return `loom is not running (no pid file ${pidFile})`;
  const why = found.why === 'gone' ? 'is gone' : 'is not this loom\'s master';
  return `loom is not running (stale pid file ${pidFile}: pid ${found.pid} ${why})`;
}

/**
 * Replaces file with text in one rename: readers never see half a file, and a symbolic link
 * planted at the path is replaced, not followed. Readable by all (0644) so that any user can
 * tell whether loom runs, and a user who may not stop it hears "permission denied".
 */
function writeFileAtomic(file: string, text: string): void {
  const tmp = `${file}.${process.pid}.tmp`;
  try { unlinkSync(tmp); } catch { /* none left over */ }
  const fd = openSync(tmp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o644);
  try {
    writeSync(fd, text);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, file);
}

/** Records this process as the master: the sidecar first, so a pidfile never lacks its proof. */
export function writePid(file: string): void {
  try {
    mkdirp(dirname(file));
    writeFileAtomic(identityPath(file), JSON.stringify(selfIdentity()) + '\n');
    writeFileAtomic(file, `${process.pid}\n`);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? 'error';
    throw new LoomError('LOOM_ERR_PIDFILE', `cannot write pid file ${file} (${code}); set pid_file in [loom] to a writable path`);
  }
}

/** Removes the pidfile and its sidecar if (and only if) they still name pid. */
export function removePid(file: string, pid = process.pid): void {
  if (readPid(file) === pid) {
    try { unlinkSync(file); } catch { /* already gone */ }
  }
  if (readIdentity(file)?.id.pid === pid) {
    try { unlinkSync(identityPath(file)); } catch { /* already gone */ }
  }
}

