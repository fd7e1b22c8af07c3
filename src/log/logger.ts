// Timestamped log lines. Every process of a daemon appends to the same log_file: small
// O_APPEND writes are atomic, so lines from master and workers never interleave mid-line.
import { closeSync, openSync, writeSync } from 'node:fs';
import { mkdirp } from '../util/mkdirp.js';
import { dirname } from 'node:path';

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
    mkdirp(dirname(this.file));
    this.fd = openSync(this.file, 'a');
    if (old !== null) closeSync(old);
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
