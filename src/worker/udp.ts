// UDP listeners: one datagram is one message. Each message gets a light connection object
// whose send() answers the sender, as Workerman's UdpConnection.
import type { RemoteInfo, Socket } from 'node:dgram';
import { ConnectionBase } from '../core/connection.js';
import type { ListenerContext } from '../core/context.js';
import { toDatagram } from '../core/datagram.js';

export class UdpConnection extends ConnectionBase {
  constructor(private readonly socket: Socket, rinfo: RemoteInfo, ctx: ListenerContext) {
    super(ctx.nextConnectionId(), 'udp', ctx.worker, ctx.maxSendBufferSize, ctx.maxPackageSize, ctx);
    this.remoteAddress = rinfo.address;
    this.remotePort = rinfo.port;
  }

  send(data: unknown, raw = false): boolean | null {
    let payload: unknown = data;
    if (!raw) {
      try {
        payload = this.ctx.protocol.encode(data, this);
      } catch (err) {
        this.ctx.guard.report('udp encode', err);
        return this.failed();
      }
    }
    const buf = toDatagram(payload);
    if (buf === null) return this.failed();
    this.socket.send(buf, this.remotePort, this.remoteAddress, (err) => {
      if (err) this.ctx.stats.sendFailures++;
      else this.ctx.stats.bytesOut += buf.length;
    });
    return true;
  }

  close(data?: unknown, raw = false): void {
    if (data !== undefined) this.send(data, raw);
  }

  /** One message of a datagram: onMessage. */
  receive(msg: Buffer): void {
    this.deliver(msg);
  }

  destroy(): void {}
  pauseRecv(): void {}
  resumeRecv(): void {}
}

export function attachUdp(socket: Socket, ctx: ListenerContext): void {
  socket.on('message', (msg: Buffer, rinfo: RemoteInfo) => {
    if (msg.length > ctx.maxPackageSize) {
      ctx.badPackets.report('dropped a datagram', `from ${rinfo.address}:${rinfo.port}`, `${msg.length} bytes over max_package_size ${ctx.maxPackageSize}`);
      return;
    }
    ctx.stats.bytesIn += msg.length;
    new UdpConnection(socket, rinfo, ctx).receive(msg);
  });
  socket.on('error', (err) => ctx.log.warn(`udp socket on ${ctx.url}: ${err.message}`));
}
