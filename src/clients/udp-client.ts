// udp://host:port async clients: a connected dgram socket, so send() goes to that address and
// only its datagrams arrive; each datagram is one message (a Buffer), sent as given (a string
// or Buffer, anything else as String(data)). "Connecting" is only the address lookup; a port
// nobody listens on shows as onError (ECONNREFUSED from the ICMP answer) on a later send, and
// the socket stays usable. Lifecycle: clients/cycle.ts.
import { createSocket, type Socket } from 'node:dgram';
import { isIP } from 'node:net';
import type { ListenSpec } from '../config/listen.js';
import { ConnectionBase, type ConnectionInfo } from '../core/connection.js';
import { toDatagram } from '../core/datagram.js';
import { BUILTIN } from '../protocols/builtin.js';
import type { AsyncConnection } from '../types/handler.js';
import { ClientCycle, connectError, type ClientState, type ClientTransport } from './cycle.js';
import { CLIENT_MAX_PACKAGE_SIZE, CLIENT_MAX_SEND_BUFFER_SIZE, clientContext, type ClientSettings } from './options.js';

/** Datagrams kept while receiving is paused; later ones are dropped, as a full socket would. */
const MAX_PAUSED = 1024;

export class UdpClient extends ConnectionBase implements AsyncConnection, ClientTransport {
  onConnect?: (conn: AsyncConnection) => unknown;
  readonly cycle: ClientCycle;
  socket: Socket | null = null;
  private paused = false;
  private held: Buffer[] = [];
  private bytesIn = 0;
  private bytesOut = 0;

  constructor(s: ClientSettings, private readonly spec: ListenSpec) {
    super(s.id, 'udp', s.deps.worker, CLIENT_MAX_SEND_BUFFER_SIZE, CLIENT_MAX_PACKAGE_SIZE, clientContext(s, BUILTIN.tcp));
    this.remoteAddress = spec.host;
    this.remotePort = spec.port;
    this.cycle = new ClientCycle(this, s.reconnectInterval, s.timeout, s.url);
  }

  get state(): ClientState {
    return this.cycle.state(false);
  }

  /** @internal ClientTransport */
  begin(attempt: number): void {
    const socket = createSocket(isIP(this.spec.host) === 6 ? 'udp6' : 'udp4');
    this.socket = socket;
    socket.on('message', (msg: Buffer) => { if (socket === this.socket) this.receive(msg); });
    socket.on('error', (err) => { if (socket === this.socket) this.cycle.error(attempt, err); });
    socket.on('close', () => this.closedSocket(socket));
    socket.connect(this.spec.port, this.spec.host, (err?: Error) => {
      if (err) this.cycle.fail(attempt, connectError(this.ctx.url, err));
      else this.established(socket);
    });
  }

  private established(socket: Socket): void {
    if (socket !== this.socket || this.cycle.phase !== 'connecting') return;
    this.cycle.opened();
    const peer = socket.remoteAddress();
    this.remoteAddress = peer.address;
    this.remotePort = peer.port;
    for (const msg of this.cycle.queue.take()) this.write(socket, msg);
    if (this.bufferFull) this.drained();
    this.call('onConnect');
  }

  private receive(msg: Buffer): void {
    if (msg.length > this.maxPackageSize) {
      this.ctx.stats.badPackets++;
      return;
    }
    if (this.paused) {
      if (this.held.length < MAX_PAUSED) this.held.push(msg);
      return;
    }
    this.ctx.stats.bytesIn += msg.length;
    this.bytesIn += msg.length;
    this.deliver(msg);
  }

  private closedSocket(socket: Socket): void {
    if (socket !== this.socket || this.cycle.phase === 'closed') return;
    this.socket = null;
    this.cycle.ended();
    this.held = [];
    this.call('onClose');
    this.cycle.afterClose();
  }

  /** @internal ClientTransport */
  hasTransport(): boolean {
    return this.socket !== null;
  }

  /** @internal ClientTransport */
  dropTransport(): void {
    try {
      this.socket?.close();
    } catch {
      /* already closed */
    }
  }

  /** @internal ClientTransport */
  reportError(err: Error): void {
    this.call('onError', err);
  }

  /** @internal ClientTransport */
  closedWithoutTransport(): void {
    this.call('onClose');
  }

  /** @internal ClientTransport */
  queueDropped(): void {
    this.bufferFull = false;
  }

  protected override callbackThis(): unknown {
    return this;
  }

  send(data: unknown, raw = false): boolean | null {
    void raw; // a datagram goes as given
    const buf = toDatagram(data);
    if (buf === null) return this.failed();
    const { socket } = this;
    if (this.cycle.phase !== 'open' || !socket) return this.hold(this.cycle.queue, this.cycle.queueing, () => buf);
    this.write(socket, buf);
    return true;
  }

  private write(socket: Socket, buf: string | Uint8Array): void {
    const length = typeof buf === 'string' ? Buffer.byteLength(buf) : buf.byteLength;
    socket.send(buf, (err) => {
      if (err) {
        this.ctx.stats.sendFailures++;
        if (socket === this.socket) this.call('onError', err);
      } else {
        this.ctx.stats.bytesOut += length;
        this.bytesOut += length;
      }
    });
  }

  close(data?: unknown, raw = false): void {
    if (data !== undefined && this.cycle.phase === 'open') this.send(data, raw);
    this.destroy();
  }

  destroy(): void {
    if (this.cycle.phase !== 'open') return this.cycle.abandon();
    this.cycle.stop();
    this.dropTransport();
  }

  reconnect(afterSeconds = 0): void {
    this.cycle.reconnect(afterSeconds);
  }

  pauseRecv(): void {
    this.paused = true;
  }

  resumeRecv(): void {
    if (!this.paused) return;
    this.paused = false;
    const held = this.held;
    this.held = [];
    for (const msg of held) {
      if (this.paused) this.held.push(msg);
      else this.receive(msg);
    }
  }

  override describe(now: number): ConnectionInfo | null {
    const { socket } = this;
    if (this.cycle.phase !== 'open' || !socket) return null;
    const local = socket.address();
    return {
      id: this.id, protocol: this.protocol, direction: 'out',
      local: `${local.address}:${local.port}`, remote: `${this.remoteAddress}:${this.remotePort}`,
      bytesIn: this.bytesIn, bytesOut: this.bytesOut, sendQueue: 0,
      ageSeconds: Math.round((now - this.createdAt) / 1000),
    };
  }
}
