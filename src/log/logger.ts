// Timestamped log lines. Every process of a daemon appends to the same log_file: small
// O_APPEND writes are atomic, so lines from master and workers never interleave mid-line.
import { closeSync, constants, fchownSync, fstatSync, openSync, writeSync } from 'node:fs';
import { mkdirp } from '../util/mkdirp.js';
import { dirname } from 'node:path';

/**
 * Opens file for appending, creating it and its directory. A symbolic link is refused
 * (ELOOP): the master runs as root, and a link planted in a writable log directory would
 * have it write to, or hand over, any file of the system.
 */
export function openLogFile(file: string): number {
  mkdirp(dirname(file));
  return openSync(file, constants.O_WRONLY | constants.O_APPEND | constants.O_CREAT | constants.O_NOFOLLOW, 0o644);
}

/** Why openLogFile failed, as the end of a sentence naming the file. */
export function openFailure(err: unknown): string {
  const code = (err as NodeJS.ErrnoException).code ?? 'error';
  return code === 'ELOOP' ? 'is a symbolic link, which loom does not follow' : `cannot be written (${code})`;
}

export type Level = 'info' | 'warn' | 'error';

export class Logger {
  private fd: number | null = null;
  constructor(
    private readonly file: string | null,
    private readonly source: string,
    /** Also print to stderr (foreground mode). */
    private readonly echo: boolean,
  ) {
    this.reopen();
  }

  /** Opens (again) the log file, creating its directory; throws a readable error on failure. */
  reopen(): void {
    if (!this.file) return;
    const old = this.fd;
    this.fd = openLogFile(this.file);
    if (old !== null) closeSync(old);
  }

  /**
   * Hands the open file to uid:gid so workers running as that user can reopen it. Through the
   * descriptor, since the path may have been swapped meanwhile; and only a plain file with a
   * single name, since a hard link to someone else's file is not ours to give away.
   */
  chown(uid: number, gid: number): void {
    if (this.fd === null) return;
    const st = fstatSync(this.fd);
    if (!st.isFile() || st.nlink !== 1) throw new Error(`is not a plain file with a single name, so it is not handed to uid ${uid}`);
    fchownSync(this.fd, uid, gid);
  }

  info(msg: string): void { this.write('info', msg); }
  warn(msg: string): void { this.write('warn', msg); }
  error(msg: string): void { this.write('error', msg); }

  write(level: Level, msg: string): void {
    const line = `${timestamp()} ${level.toUpperCase().padEnd(5)} ${this.source}: ${msg}\n`;
    if (this.fd !== null) {
      try { writeSync(this.fd, line); } catch { /* a full disk must not kill the daemon */ }
    }
    if (this.echo) process.stderr.write(line);
  }

  close(): void {
    if (this.fd !== null) closeSync(this.fd);
    this.fd = null;
  }
}

function timestamp(): string {
  const d = new Date();
  const p = (n: number, w = 2) => String(n).padStart(w, '0');
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}.${p(d.getMilliseconds(), 3)}`;
}
