// The local bus: each gateway process listens on a unix socket of its own in a directory only
// the workers' user may enter (<pid_file>.bus/, made by the master), GROUP.INDEX.PID.sock, so a
// gateway and its successor (a reload) both have one; business processes link to every socket
// of their group they find there: at start, when told a gateway came, and every second (again
// to one whose link failed or broke, while its file is there).
import { readdirSync, unlinkSync } from 'node:fs';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import type { Bus, BusinessEndpoint, BusLink, GatewayEndpoint } from './bus.js';
import { encodeFrame, FrameReader, type Frame } from './frame.js';

/** How often a business process looks for gateways it has no link to. */
const DISCOVER_MS = 1000;
const EMPTY = Buffer.alloc(0);

/** A gateway process's socket ('.' is in no section name, so names never clash). */
export function gatewaySocketPath(dir: string, group: string, index: number, pid: number): string {
  return join(dir, `${group}.${index}.${pid}.sock`);
}

class LocalLink implements BusLink {
  onFrame: ((frame: Frame) => void) | null = null;
  onClose: (() => void) | null = null;
  closed = false;
  private corked = false;
  private readonly reader = new FrameReader();

  /** gone: after onClose, for the endpoint's own bookkeeping (reconnecting). */
  constructor(private readonly socket: Socket, private readonly gone?: () => void) {
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => {
      let frames: Frame[];
      try {
        frames = this.reader.push(chunk);
      } catch {
        socket.destroy(); // a broken stream: drop the link, both sides recover by reconnecting
        return;
      }
      for (const f of frames) {
        if (this.closed) return;
        this.onFrame?.(f);
      }
    });
    socket.on('error', () => undefined);
    socket.on('close', () => {
      if (this.closed) return;
      this.closed = true;
      this.onClose?.();
      this.gone?.();
    });
  }

  send(op: number, head: unknown, body?: Buffer | string): void {
    if (this.closed || this.socket.destroyed) return;
    if (!this.corked) {
      // Everything sent in this turn of the event loop leaves in one writev.
      this.corked = true;
      this.socket.cork();
      setImmediate(() => {
        this.corked = false;
        this.socket.uncork();
      });
    }
    for (const part of encodeFrame(op, head, body)) this.socket.write(part);
  }

  get queued(): number {
    return this.socket.writableLength;
  }

  whenWritten(callback: () => void): void {
    if (this.closed || this.socket.destroyed || this.socket.writableLength === 0) return callback();
    // An empty write's callback runs once everything written before it is with the kernel
    // (on a unix socket: in the gateway's receive queue).
    this.socket.write(EMPTY, () => callback());
  }

  close(): void {
    if (this.closed) return;
    this.socket.end();
  }
}

export class LocalBus implements Bus {
  constructor(private readonly dir: string) {}

  gateway(group: string, index: number): GatewayEndpoint {
    const path = gatewaySocketPath(this.dir, group, index, process.pid);
    let server: Server | null = null;
    return {
      listen: (onLink) => new Promise((resolve, reject) => {
        try { unlinkSync(path); } catch { /* none: a pid is not reused that soon, but be sure */ }
        const s = createServer((socket) => onLink(new LocalLink(socket)));
        server = s;
        s.once('error', reject);
        s.listen(path, () => { s.off('error', reject); resolve(); });
      }),
      // Closing the server removes its socket file.
      close: () => {
        server?.close();
        server = null;
      },
    };
  }

  business(group: string): BusinessEndpoint {
    const prefix = `${group}.`;
    /**
     * Socket files linked or being linked. One whose connect failed or whose link closed is
     * tried again at the next look while its file is there: a gateway that died or stopped has
     * had its file removed (by the master, or by closing its server); one that is still there
     * is still serving clients whose events wait for this process.
     */
    const known = new Set<string>();
    let onLink: ((link: BusLink) => void) | null = null;
    let timer: NodeJS.Timeout | null = null;
    const sockets = new Set<Socket>();
    const discover = () => {
      if (!onLink) return;
      let names: string[];
      try {
        names = readdirSync(this.dir);
      } catch {
        return;
      }
      for (const name of names) {
        if (!name.startsWith(prefix) || !name.endsWith('.sock') || known.has(name)) continue;
        known.add(name);
        const socket = connect(join(this.dir, name));
        sockets.add(socket);
        const forget = () => {
          sockets.delete(socket);
          known.delete(name);
        };
        socket.once('connect', () => {
          socket.off('error', forget);
          onLink?.(new LocalLink(socket, forget));
        });
        socket.once('error', forget);
      }
    };
    return {
      start: (fn) => {
        onLink = fn;
        discover();
        timer = setInterval(discover, DISCOVER_MS);
        timer.unref();
      },
      discover,
      stop: () => {
        onLink = null;
        if (timer) clearInterval(timer);
        for (const socket of sockets) socket.end();
      },
    };
  }
}
