// Where workers' stdout and stderr end up: the terminal in the foreground, stdout_file in
// daemon mode. The master copies the workers' pipes here, so SIGUSR2 can reopen the file.
import { closeSync, writeSync } from 'node:fs';
import { openLogFile } from './logger.js';

export class OutputSink {
  private fd: number | null = null;

  /** file null: the master's own stdout/stderr (foreground). */
  constructor(private readonly file: string | null) {
    this.reopen();
  }

  reopen(): void {
    if (!this.file) return;
    const old = this.fd;
    this.fd = openLogFile(this.file);
    if (old !== null) closeSync(old);
  }

  write(chunk: Buffer, stream: 'stdout' | 'stderr'): void {
    if (this.fd === null) {
      (stream === 'stdout' ? process.stdout : process.stderr).write(chunk);
      return;
    }
    try {
      writeSync(this.fd, chunk);
    } catch {
      /* a full disk must not stop the daemon */
    }
  }

  close(): void {
    if (this.fd !== null) closeSync(this.fd);
    this.fd = null;
  }
}
