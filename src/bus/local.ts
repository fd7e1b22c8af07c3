// The local bus: each gateway process listens on a unix socket in a directory only the
// workers' user may enter (<pid_file>.bus/, made by the master); business processes connect
// to every gateway's socket, and again after a gateway restarts.
import { unlinkSync } from 'node:fs';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import type { Bus, BusinessEndpoint, BusLink, GatewayEndpoint } from './bus.js';
import { encodeFrame, FrameReader, type Frame } from './frame.js';

/** How soon a business process tries a gateway again after its socket refused or broke. */
const RETRY_MS = 100;

export function gatewaySocketPath(dir: string, group: string, index: number): string {
  return join(dir, `${group}-${index}.sock`);
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

  close(): void {
    if (this.closed) return;
    this.socket.end();
  }
}

export class LocalBus implements Bus {
  constructor(private readonly dir: string) {}

  gateway(group: string, index: number): GatewayEndpoint {
    const path = gatewaySocketPath(this.dir, group, index);
    let server: Server | null = null;
    return {
      listen: (onLink) => new Promise((resolve, reject) => {
        // The socket of this gateway's predecessor (crashed, or replaced by a reload).
        try { unlinkSync(path); } catch { /* none */ }
        const s = createServer((socket) => onLink(new LocalLink(socket)));
        server = s;
        s.once('error', reject);
        s.listen(path, () => { s.off('error', reject); resolve(); });
      }),
      close: () => {
        server?.close();
        server = null;
      },
    };
  }

  business(group: string): BusinessEndpoint {
    return {
      connect: (index, onLink) => {
        const path = gatewaySocketPath(this.dir, group, index);
        let stopped = false;
        let timer: NodeJS.Timeout | null = null;
        let current: Socket | null = null;
        const attempt = () => {
          timer = null;
          if (stopped) return;
          const socket = connect(path);
          current = socket;
          let linked = false;
          socket.once('connect', () => {
            linked = true;
            onLink(new LocalLink(socket, () => { if (!stopped) timer = setTimeout(attempt, RETRY_MS); }));
          });
          socket.once('error', () => {
            if (!linked && !stopped) timer = setTimeout(attempt, RETRY_MS);
          });
        };
        attempt();
        return {
          stop: () => {
            stopped = true;
            if (timer) clearTimeout(timer);
            current?.end();
          },
        };
      },
    };
  }
}
