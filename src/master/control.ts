// The control socket: a unix socket beside the pidfile, mode 0600 so only its owner (the
// user who started the daemon) can ask for status or give orders. One JSON line in, one out.
import { chmodSync, unlinkSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { LoomError } from '../core/errors.js';
import type { Logger } from '../log/logger.js';

export interface ControlRequest { cmd: string }
export type ControlReply = { ok: true; data: unknown } | { ok: false; error: string };

export class ControlServer {
  private server: Server | null = null;

  constructor(
    readonly path: string,
    private readonly log: Logger,
    private readonly answer: (req: ControlRequest) => Promise<unknown>,
  ) {}

  listen(): Promise<void> {
    try { unlinkSync(this.path); } catch { /* none left over */ }
    const server = createServer((socket) => {
      let buf = '';
      socket.setEncoding('utf8');
      socket.on('error', () => undefined);
      socket.on('data', (chunk: string) => {
        buf += chunk;
        const nl = buf.indexOf('\n');
        if (nl < 0) {
          if (buf.length > 65536) socket.destroy();
          return;
        }
        const line = buf.slice(0, nl);
        buf = '';
        void this.handle(line).then((reply) => socket.end(JSON.stringify(reply) + '\n'));
      });
    });
    this.server = server;
    return new Promise((resolve, reject) => {
      server.once('error', (err) => reject(new LoomError('LOOM_ERR_CONTROL', `cannot listen on control socket ${this.path}: ${err.message}; set pid_file in [loom] to a writable directory`)));
      // umask makes the socket private from its first instant; chmod makes it explicit.
      const oldMask = process.umask(0o177);
      server.listen(this.path, () => {
        process.umask(oldMask);
        chmodSync(this.path, 0o600);
        resolve();
      });
    });
  }

  private async handle(line: string): Promise<ControlReply> {
    let req: ControlRequest;
    try {
      req = JSON.parse(line) as ControlRequest;
    } catch {
      return { ok: false, error: 'request is not JSON' };
    }
    try {
      return { ok: true, data: await this.answer(req) };
    } catch (err) {
      this.log.warn(`control request ${req.cmd} failed: ${(err as Error).message}`);
      return { ok: false, error: (err as Error).message };
    }
  }

  close(): void {
    if (!this.server) return;
    this.server.close();
    this.server = null;
    try { unlinkSync(this.path); } catch { /* gone */ }
  }
}
