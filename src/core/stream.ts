// Stream connections (TCP, TLS or unix socket): framing of inbound bytes through a protocol
// module, the send buffer policy of DESIGN.md, and the handler callbacks. StreamBase holds
// what server connections (StreamConnection, below) and async clients (client.ts) share; a
// client attaches a fresh socket on every (re)connect.
import type { Socket } from 'node:net';
import { LoomError } from '../core/errors.js';
import type { Logger } from '../log/logger.js';
import type { Connection, Handler, Message, ProtocolModule, Worker } from '../types/handler.js';
import type { ListenerContext } from '../core/context.js';
import type { Guard } from '../core/guard.js';
import type { WorkerStats } from '../core/stats.js';

const EMPTY = Buffer.alloc(0);
/** Corked replies past this many bytes are flushed at once. */
const CORK_FLUSH_BYTES = 16384;

type Callback<A extends unknown[]> = ((...args: A) => unknown) | undefined;

/** What framing needs: a listener's context, or a client's own (with an empty handler). */
export interface StreamContext {
  /** The listen or connect URL, for log lines. */
  url: string;
  protocol: ProtocolModule;
  /** Callbacks used when the connection sets none of its own ({} for clients). */
  handler: Handler;
  guard: Guard;
  stats: WorkerStats;
  log: Logger;
}

const kConn = Symbol('loom.connection');

type PeerHandle = { getpeername?(out: { address?: string; port?: number }): number };

/**
 * The peer's address, asked of the handle directly: socket.remoteAddress makes Node keep a
 * peername object on every socket, about 0.75 KB of RSS per idle connection in all.
 */
function peerOf(socket: Socket): { address?: string; port?: number } {
  const handle = (socket as unknown as { _handle?: PeerHandle | null })._handle;
  const out: { address?: string; port?: number } = {};
  if (handle?.getpeername && handle.getpeername(out) === 0) return out;
  return { address: socket.remoteAddress, port: socket.remotePort };
}
type OwnedSocket = Socket & { [kConn]?: StreamBase };

export abstract class StreamBase implements Connection {
  readonly createdAt = Date.now();
  remoteAddress = '';
  remotePort = 0;
  private data_: Record<string, unknown> | null = null;
  onMessage?: (conn: Connection, data: Message) => unknown;
  onClose?: (conn: Connection) => unknown;
  onError?: (conn: Connection, err: Error) => unknown;
  onBufferFull?: (conn: Connection) => unknown;
  onBufferDrain?: (conn: Connection) => unknown;

  /** The current socket; a client's changes on every (re)connect. */
  socket!: Socket;
  /** Bytes received but not yet a whole packet. */
  private recv: Buffer | null = null;
  private paused = false;
  protected closing = false;
  protected closed = false;
  protected bufferFull = false;

  constructor(
    readonly id: number,
    readonly protocol: string,
    readonly worker: Worker,
    public maxSendBufferSize: number,
    public maxPackageSize: number,
    protected readonly ctx: StreamContext,
  ) {}

  /** Takes a socket: its bytes become messages of this connection. */
  protected attach(socket: Socket): void {
    this.socket = socket;
    this.recv = null;
    this.closing = false;
    this.closed = false;
    const peer = peerOf(socket);
    if (peer.address) this.remoteAddress = peer.address;
    if (peer.port) this.remotePort = peer.port;
    if (this.paused) socket.pause();
    // Shared listeners find their connection on the socket: no closures per connection
    // (an idle connection's memory is mostly Node's socket; keep Loom's part small).
    (socket as OwnedSocket)[kConn] = this;
    socket.on('data', StreamBase.onData);
    socket.on('drain', StreamBase.onDrain);
    socket.on('error', StreamBase.onError);
    socket.on('close', StreamBase.onClose);
  }

  private static onData(this: OwnedSocket, chunk: Buffer): void { this[kConn]!.receive(chunk); }
  private static onDrain(this: OwnedSocket): void { this[kConn]!.drained(); }
  private static onError(this: OwnedSocket, err: Error): void { this[kConn]!.socketError(this, err); }
  private static onClose(this: OwnedSocket): void { this[kConn]!.socketClosed(this); }

  get state(): 'connecting' | 'established' | 'closing' | 'closed' {
    return this.closed ? 'closed' : this.closing ? 'closing' : 'established';
  }

  send(data: unknown, raw = false): boolean | null {
    const { socket, ctx } = this;
    if (this.closing || this.closed || socket.destroyed) {
      ctx.stats.sendFailures++;
      return false;
    }
    if (socket.writableLength >= this.maxSendBufferSize) {
      this.refuse();
      return false;
    }
    const payload = this.encode(data, raw);
    if (payload === null) return false;
    let belowMark = socket.write(payload, this.bufferFull ? this.afterFlush : undefined);
    if (socket.writableCorked && socket.writableLength >= Math.min(CORK_FLUSH_BYTES, this.maxSendBufferSize)) {
      // A big reply inside a corked batch goes to the kernel now: only what the kernel cannot
      // take counts against max_send_buffer_size.
      socket.uncork();
      socket.cork();
      belowMark = !socket.writableNeedDrain;
    }
    if (!this.bufferFull && socket.writableLength >= this.maxSendBufferSize) {
      this.full();
      // The stream emits 'drain' only when a write went over its own high-water mark (16 kB);
      // below that, an empty write's callback tells when everything before it is flushed.
      if (!socket.writableNeedDrain && socket.writable && !this.closing) socket.write(EMPTY, this.afterFlush);
      return null;
    }
    // Replies written while a batch of packets is handled sit corked for one writev; that is
    // "sent" too. Only a backlog past the stream's high-water mark (a slow reader) is "queued".
    return belowMark ? true : null;
  }

  /** The wire form of data through the protocol (raw: as is); null when encode() threw. */
  protected encode(data: unknown, raw: boolean): string | Uint8Array | null {
    let payload: unknown = data;
    if (!raw) {
      try {
        payload = this.ctx.protocol.encode(data, this);
      } catch (err) {
        this.ctx.stats.sendFailures++;
        this.ctx.guard.report(`${this.protocol} encode`, err);
        return null;
      }
    }
    return typeof payload === 'string' || payload instanceof Uint8Array ? payload : String(payload);
  }

  /** A send refused because the buffer is full: counted, and onError told. */
  protected refuse(): void {
    this.ctx.stats.sendFailures++;
    this.call('onError', this.onError ?? this.ctx.handler.onError, new LoomError('LOOM_ERR_SEND_BUFFER_FULL', `send buffer of connection ${this.id} is full (${this.maxSendBufferSize} bytes); data dropped`));
  }

  protected full(): void {
    this.bufferFull = true;
    this.call('onBufferFull', this.onBufferFull ?? this.ctx.handler.onBufferFull);
  }

  /** A free object for the handler, made on first use. */
  get data(): Record<string, unknown> {
    return (this.data_ ??= {});
  }
  set data(v: Record<string, unknown>) {
    this.data_ = v;
  }

  private afterFlush_: ((err?: Error | null) => void) | null = null;

  /** Callback of writes made while the buffer is full: drained once nothing is left queued. */
  protected get afterFlush(): (err?: Error | null) => void {
    return (this.afterFlush_ ??= (err) => {
      if (!err && this.socket.writableLength === 0) this.drained();
    });
  }

  close(data?: unknown, raw = false): void {
    if (this.closing || this.closed) return;
    if (data !== undefined) this.send(data, raw);
    this.closing = true;
    const { socket } = this;
    // end() flushes the send buffer and sends FIN; do not wait for the peer's FIN after that.
    socket.end(() => socket.destroy());
  }

  destroy(): void {
    this.abort();
  }

  /** Drops the socket and its unsent bytes (a bad packet does this too). */
  protected abort(): void {
    this.closing = true;
    this.socket.destroy();
  }

  pauseRecv(): void {
    this.paused = true;
    this.socket?.pause();
  }

  resumeRecv(): void {
    if (!this.paused) return;
    this.paused = false;
    if (!this.socket) return;
    this.socket.resume();
    if (this.recv) {
      const rest = this.recv;
      this.recv = null;
      this.receive(rest, true);
    }
  }

  pipe(dest: Connection): void {
    this.onMessage = (_c, data) => dest.send(data);
    this.onClose = () => dest.close();
    dest.onBufferFull = () => this.pauseRecv();
    dest.onBufferDrain = () => this.resumeRecv();
  }

  /**
   * Replies to all packets of one read leave in one writev: corked while they are handled.
   */
  private receive(chunk: Buffer, replay = false): void {
    const { socket } = this;
    socket.cork();
    try {
      this.parse(chunk, replay);
    } finally {
      socket.uncork();
    }
  }

  /** Splits bytes into packets; a bad or oversize packet closes this connection only. */
  private parse(chunk: Buffer, replay: boolean): void {
    const { ctx } = this;
    let buf = this.recv === null ? chunk : Buffer.concat([this.recv, chunk]);
    this.recv = null;
    if (replay && buf.length === 0) return;
    const { protocol } = ctx;
    while (buf.length > 0) {
      if (this.closed || this.closing) return;
      if (this.paused) { this.recv = buf; return; }
      let n: number;
      try {
        n = protocol.input(buf, this);
      } catch (err) {
        ctx.guard.report(`${this.protocol} input`, err);
        return this.badPacket('the protocol input() threw');
      }
      if (n === 0 || n > buf.length) {
        if (buf.length > this.maxPackageSize || n > this.maxPackageSize) {
          return this.badPacket(`packet over max_package_size ${this.maxPackageSize}`);
        }
        this.recv = buf;
        return;
      }
      if (!(n > 0) || !Number.isInteger(n)) return this.badPacket(`protocol input() returned ${n}`);
      if (n > this.maxPackageSize) return this.badPacket(`packet of ${n} bytes over max_package_size ${this.maxPackageSize}`);
      const packet = n === buf.length ? buf : buf.subarray(0, n);
      buf = buf.subarray(n);
      let message: unknown;
      try {
        message = protocol.decode(packet, this);
      } catch (err) {
        ctx.guard.report(`${this.protocol} decode`, err);
        return this.badPacket('the protocol decode() threw');
      }
      ctx.stats.totalRequests++;
      ctx.guard.invoke('onMessage', this.onMessage ?? ctx.handler.onMessage, ctx.handler, this, message);
    }
  }

  private badPacket(why: string): void {
    this.ctx.stats.badPackets++;
    this.ctx.log.warn(`LOOM_ERR_BAD_PACKET closed connection ${this.id} ${this.peerDescription()} on ${this.ctx.url}: ${why}`);
    this.recv = null;
    this.abort();
  }

  /** "from host:port" for log lines. */
  protected peerDescription(): string {
    return `from ${this.remoteAddress}:${this.remotePort}`;
  }

  protected drained(): void {
    if (!this.bufferFull) return;
    this.bufferFull = false;
    this.call('onBufferDrain', this.onBufferDrain ?? this.ctx.handler.onBufferDrain);
  }

  protected socketError(_socket: Socket, err: Error): void {
    this.call('onError', this.onError ?? this.ctx.handler.onError, err);
  }

  /** The socket closed: the closed state, the byte counters, onClose. */
  protected socketClosed(socket: Socket): void {
    if (socket !== this.socket || this.closed) return;
    this.closed = true;
    this.recv = null;
    this.ctx.stats.bytesIn += socket.bytesRead;
    this.ctx.stats.bytesOut += socket.bytesWritten;
    this.detached();
    this.call('onClose', this.onClose ?? this.ctx.handler.onClose);
  }

  /** Bookkeeping once the socket is closed, before onClose. */
  protected abstract detached(): void;

  protected call<A extends unknown[]>(label: string, fn: Callback<[Connection, ...A]>, ...args: A): void {
    this.ctx.guard.call(label, fn as never, this.ctx.handler, this, ...args);
  }
}

/** A connection accepted by a listener. */
export class StreamConnection extends StreamBase {
  protected declare readonly ctx: ListenerContext;

  constructor(socket: Socket, ctx: ListenerContext) {
    super(ctx.nextConnectionId(), ctx.protocolName, ctx.worker, ctx.maxSendBufferSize, ctx.maxPackageSize, ctx);
    ctx.connections.set(this.id, this);
    ctx.stats.connections++;
    ctx.stats.totalConnections++;
    this.attach(socket);
    ctx.guard.call('onConnect', ctx.handler.onConnect, ctx.handler, this);
  }

  override get state(): 'established' | 'closing' | 'closed' {
    return this.closed ? 'closed' : this.closing ? 'closing' : 'established';
  }

  protected detached(): void {
    this.ctx.connections.delete(this.id);
    this.ctx.stats.connections--;
  }
}
