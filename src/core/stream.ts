// Stream connections (TCP, TLS or unix socket): framing of inbound bytes through a protocol
// module, the send buffer policy of DESIGN.md, and the handler callbacks. StreamBase holds
// what server connections (StreamConnection, below) and async clients (client.ts) share; a
// client attaches a fresh socket on every (re)connect.
import { Socket, type Server } from 'node:net';
import type { ProtocolModule } from '../types/handler.js';
import { ConnectionBase, peerOf, type ConnectionContext, type ConnectionInfo } from './connection.js';
import type { ListenerContext } from './context.js';
import { bareHandles, readError, readResult, socketAround, type StreamHandle } from './bare-handle.js';

const EMPTY = Buffer.alloc(0);
/** Corked replies past this many bytes are flushed at once. */
const CORK_FLUSH_BYTES = 16384;

const kConn = Symbol('loom.connection');

type OwnedSocket = Socket & { [kConn]?: StreamBase };

export abstract class StreamBase extends ConnectionBase {
  /** The current socket; a client's changes on every (re)connect. */
  socket!: Socket;
  /** Bytes received but not yet a whole packet. */
  private recv: Buffer | null = null;
  protected paused = false;
  protected closing = false;
  protected closed = false;
  private afterFlush_: ((err?: Error | null) => void) | null = null;

  /** Takes a socket: its bytes become messages of this connection. peerKnown: no getpeername again. */
  protected attach(socket: Socket, peerKnown = false): void {
    this.socket = socket;
    this.recv = null;
    this.closing = false;
    this.closed = false;
    if (!peerKnown) {
      const peer = peerOf(socket);
      if (peer.address) this.remoteAddress = peer.address;
      if (peer.port) this.remotePort = peer.port;
    }
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
    const { socket } = this;
    if (this.closing || this.closed || socket.destroyed) return this.failed();
    if (!this.admit(socket.writableLength)) return false;
    const payload = this.encode(data, raw);
    if (payload === null) return false;
    socket.write(payload, this.bufferFull ? this.afterFlush : undefined);
    if (socket.writableCorked && socket.writableLength >= Math.min(CORK_FLUSH_BYTES, this.maxSendBufferSize)) {
      // A big reply inside a corked batch goes to the kernel now: only what the kernel cannot
      // take counts against max_send_buffer_size.
      socket.uncork();
      socket.cork();
    }
    const wasFull = this.bufferFull;
    const result = this.afterWrite(socket.writableLength);
    if (!wasFull && this.bufferFull && !socket.writableNeedDrain && socket.writable && !this.closing) {
      // The stream emits 'drain' only when a write went over its own high-water mark (16 kB);
      // below that, an empty write's callback tells when everything before it is flushed.
      socket.write(EMPTY, this.afterFlush);
    }
    return result;
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

  override describe(now: number): ConnectionInfo | null {
    return this.socket ? this.socketRow(this.socket, 'in', this.socket.writableLength, now) : null;
  }

  /**
   * Replies to all packets of one read leave in one writev: corked while they are handled.
   */
  protected receive(chunk: Buffer, replay = false): void {
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
      this.deliver(message);
    }
  }

  private badPacket(why: string): void {
    this.ctx.badPackets.report(`closed connection ${this.id}`, this.peerDescription(), why);
    this.recv = null;
    this.abort();
  }

  /** "from host:port" for log lines. */
  protected peerDescription(): string {
    return `from ${this.remoteAddress}:${this.remotePort}`;
  }

  protected socketError(_socket: Socket, err: Error): void {
    this.call('onError', err);
  }

  /** The socket closed: the closed state, the byte counters, onClose. */
  protected socketClosed(socket: Socket): void {
    if (socket !== this.socket || this.closed) return;
    this.finish(socket.bytesRead, socket.bytesWritten);
  }

  protected finish(bytesIn: number, bytesOut: number): void {
    this.closed = true;
    this.recv = null;
    this.ctx.stats.bytesIn += bytesIn;
    this.ctx.stats.bytesOut += bytesOut;
    this.detached();
    this.call('onClose');
  }

  /** Bookkeeping once the socket is closed, before onClose. */
  protected abstract detached(): void;
}

type OwnedHandle = StreamHandle & { [kConn]?: StreamConnection };

/** A connection accepted by a listener. */
export class StreamConnection extends StreamBase {
  protected declare readonly ctx: ListenerContext;
  /** While idle: the bare handle, and no Socket yet (null once it has one). */
  private handle: OwnedHandle | null = null;

  constructor(socket: Socket | OwnedHandle, ctx: ListenerContext) {
    super(ctx.nextConnectionId(), ctx.protocolName, ctx.worker, ctx.maxSendBufferSize, ctx.maxPackageSize, ctx);
    ctx.register(this);
    if (socket instanceof Socket) {
      this.attach(socket);
    } else {
      this.handle = socket;
      const peer: { address?: string; port?: number } = {};
      if (socket.getpeername?.(peer) === 0) {
        if (peer.address) this.remoteAddress = peer.address;
        if (peer.port) this.remotePort = peer.port;
      }
      socket[kConn] = this;
      socket.onread = StreamConnection.onIdleRead;
      const err = socket.readStart();
      if (err < 0) this.idleEnded(err);
    }
    ctx.guard.call('onConnect', ctx.handler.onConnect, ctx.handler, this);
  }

  /**
   * Takes connections from a plain TCP listener as bare handles (see StreamHandle) instead
   * of net.Socket objects; accept errors go through net as before. False (nothing changed)
   * when the runtime does not expose what this needs.
   */
  static acceptHandles(server: Server, accept: (handle: StreamHandle) => void): boolean {
    type Onconnection = (this: unknown, err: number, handle: StreamHandle | undefined) => void;
    const listener = (server as unknown as { _handle?: { onconnection?: Onconnection } | null })._handle;
    const netOnconnection = listener?.onconnection;
    if (!bareHandles || !listener || typeof netOnconnection !== 'function') return false;
    listener.onconnection = function onconnection(err, handle) {
      if (err || !handle || typeof handle.readStart !== 'function') return netOnconnection.call(this, err, handle);
      handle.setNoDelay?.(true);
      accept(handle);
    };
    return true;
  }

  private static onIdleRead(this: OwnedHandle, buf?: ArrayBuffer): void {
    const conn = this[kConn];
    if (!conn) return;
    const got = readResult(buf);
    if (typeof got !== 'number') {
      conn.wake();
      conn.receive(got);
    } else if (got < 0) {
      conn.idleEnded(got);
    }
  }

  /** The first byte, or a use that needs it: the Socket, around the same handle. */
  private wake(): void {
    const handle = this.handle!;
    this.handle = null;
    handle[kConn] = undefined;
    this.attach(socketAround(handle, !this.paused), true);
  }

  /** The peer closed or reset an idle connection: as net reports it (onError for a reset), then onClose. */
  private idleEnded(code: number): void {
    const err = readError(code);
    if (err !== null) this.call('onError', err);
    this.shut();
  }

  /** Closes an idle connection's handle: nothing is queued on it, so nothing is lost. */
  private shut(): void {
    const handle = this.handle;
    if (!handle || this.closing || this.closed) return;
    this.closing = true;
    handle.readStop();
    handle.close(() => {
      this.handle = null;
      handle[kConn] = undefined;
      if (!this.closed) this.finish(handle.bytesRead, handle.bytesWritten);
    });
  }

  override send(data: unknown, raw = false): boolean | null {
    if (this.handle) {
      if (this.closing || this.closed) return this.failed();
      this.wake();
    }
    return super.send(data, raw);
  }

  override close(data?: unknown, raw = false): void {
    if (this.handle) {
      if (data === undefined) return this.shut();
      if (this.closing || this.closed) return;
      this.wake();
    }
    super.close(data, raw);
  }

  override destroy(): void {
    if (this.handle) return this.shut();
    super.destroy();
  }

  override pauseRecv(): void {
    if (!this.handle) return super.pauseRecv();
    this.paused = true;
    this.handle.readStop();
  }

  override resumeRecv(): void {
    if (!this.handle) return super.resumeRecv();
    if (!this.paused) return;
    this.paused = false;
    if (!this.closing) this.handle.readStart();
  }

  override describe(now: number): ConnectionInfo | null {
    const { handle } = this;
    if (!handle) return super.describe(now);
    const local: { address?: string; port?: number } = {};
    handle.getsockname?.(local);
    return { ...this.socketRow({ localAddress: local.address, localPort: local.port, bytesRead: handle.bytesRead, bytesWritten: handle.bytesWritten }, 'in', 0, now), parked: true };
  }

  override get state(): 'established' | 'closing' | 'closed' {
    return this.closed ? 'closed' : this.closing ? 'closing' : 'established';
  }

  protected detached(): void {
    this.ctx.unregister(this);
  }
}

export type { ConnectionContext, ProtocolModule, StreamHandle };
