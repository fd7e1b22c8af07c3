// UDP listeners: one datagram is one message. Each message gets a light connection object
// whose send() answers the sender, as Workerman's UdpConnection.
import type { RemoteInfo, Socket } from 'node:dgram';
import type { Connection, Message, Worker } from '../types/handler.js';
import type { ListenerContext } from '../core/context.js';

export class UdpConnection implements Connection {
  readonly protocol = 'udp';
  readonly remoteAddress: string;
  readonly remotePort: number;
  readonly worker: Worker;
  data: Record<string, unknown> = {};
  maxSendBufferSize: number;
  maxPackageSize: number;
  onMessage?: (conn: Connection, data: Message) => unknown;

  constructor(readonly id: number, private readonly socket: Socket, rinfo: RemoteInfo, private readonly ctx: ListenerContext) {
    this.remoteAddress = rinfo.address;
    this.remotePort = rinfo.port;
    this.worker = ctx.worker;
    this.maxSendBufferSize = ctx.maxSendBufferSize;
    this.maxPackageSize = ctx.maxPackageSize;
  }

  send(data: unknown, raw = false): boolean | null {
    const payload = raw ? data : this.ctx.protocol.encode(data, this);
    const buf = typeof payload === 'string' ? Buffer.from(payload) : payload instanceof Uint8Array ? payload : Buffer.from(String(payload));
    if (buf.length > 65507) {
      this.ctx.stats.sendFailures++;
      return false;
    }
    this.socket.send(buf, this.remotePort, this.remoteAddress, (err) => {
      if (err) this.ctx.stats.sendFailures++;
    });
    return true;
  }

  close(data?: unknown, raw = false): void {
    if (data !== undefined) this.send(data, raw);
  }
  destroy(): void {}
  pauseRecv(): void {}
  resumeRecv(): void {}
  pipe(dest: Connection): void {
    this.onMessage = (_c, data) => dest.send(data);
  }
}

export function attachUdp(socket: Socket, ctx: ListenerContext): void {
  socket.on('message', (msg: Buffer, rinfo: RemoteInfo) => {
    if (msg.length > ctx.maxPackageSize) {
      ctx.stats.badPackets++;
      return;
    }
    ctx.stats.totalRequests++;
    ctx.stats.bytesIn += msg.length;
    const conn = new UdpConnection(ctx.nextConnectionId(), socket, rinfo, ctx);
    ctx.guard.call('onMessage', ctx.handler.onMessage, ctx.handler, conn, msg);
  });
  socket.on('error', (err) => ctx.log.warn(`udp socket on ${ctx.url}: ${err.message}`));
}
