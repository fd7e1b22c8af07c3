// The control socket: a unix socket beside the pidfile, mode 0600 so only its owner (the
// user who started the daemon) can ask for status or give orders. One JSON line in, one out.
// Both ends live here: the master serves it, the CLI (and a starting master) ask through it.
import { chmodSync, unlinkSync } from 'node:fs';
import { connect, createServer, type Server } from 'node:net';
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

/** Sends one request to the master's control socket and returns its answer. */
export function askMaster(path: string, cmd: string, timeoutMs = 5000): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const socket = connect(path);
    let buf = '';
    const fail = (err: LoomError) => { socket.destroy(); reject(err); };
    socket.setTimeout(timeoutMs, () => fail(new LoomError('LOOM_ERR_CONTROL', `no answer from the control socket ${path} within ${timeoutMs} ms`)));
    socket.setEncoding('utf8');
    socket.on('connect', () => socket.write(JSON.stringify({ cmd }) + '\n'));
    socket.on('data', (c: string) => { buf += c; });
    socket.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'EACCES') fail(new LoomError('LOOM_ERR_PERMISSION', `control socket ${path}: permission denied (only the user who started loom may use it)`));
      else if (err.code === 'ENOENT' || err.code === 'ECONNREFUSED') fail(new LoomError('LOOM_ERR_NOT_RUNNING', `loom is not running (no master answers on ${path})`));
      else fail(new LoomError('LOOM_ERR_CONTROL', `control socket ${path}: ${err.message}`));
    });
    socket.on('end', () => {
      try {
        const reply = JSON.parse(buf) as ControlReply;
        if (reply.ok) resolve(reply.data);
        else reject(new LoomError('LOOM_ERR_CONTROL', reply.error));
      } catch {
        reject(new LoomError('LOOM_ERR_CONTROL', `bad answer from the control socket ${path}`));
      }
    });
  });
}
