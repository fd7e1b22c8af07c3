// Stream connections (TCP, TLS or unix socket): framing of inbound bytes through a protocol
// module, the send buffer policy of DESIGN.md, and the handler callbacks. StreamBase holds
// what server connections (stream-connection.ts) and async clients (clients/) share; a
// client attaches a fresh socket on every (re)connect.
import type { Socket } from 'node:net';
import type { ProtocolModule } from '../types/handler.js';
import { ConnectionBase, peerOf, type ConnectionContext, type ConnectionInfo } from './connection.js';

const EMPTY = Buffer.alloc(0);
/** Corked replies past this many bytes are flushed at once. */
export const CORK_FLUSH_BYTES = 16384;

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

  /**
   * Takes a socket: its bytes become messages of this connection. peerKnown: no getpeername
   * again. same: the same connection goes on over it (a bare handle's Socket), so its unparsed
   * bytes and state stay; otherwise (a client's reconnect) they start afresh.
   */
  protected attach(socket: Socket, peerKnown = false, same = false): void {
    this.socket = socket;
    if (!same) {
      this.recv = null;
      this.closing = false;
      this.closed = false;
    }
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
  private static onDrain(this: OwnedSocket): void {
    const conn = this[kConn]!;
    if (conn.heldElsewhere() === 0) conn.drained();
  }
  private static onError(this: OwnedSocket, err: Error): void { this[kConn]!.socketError(this, err); }
  private static onClose(this: OwnedSocket): void { this[kConn]!.socketClosed(this); }

  get state(): 'connecting' | 'established' | 'closing' | 'closed' {
    return this.closed ? 'closed' : this.closing ? 'closing' : 'established';
  }

  send(data: unknown, raw = false): boolean | null {
    const { socket } = this;
    if (this.closing || this.closed || socket.destroyed) return this.failed();
    if (!this.admit(this.queued())) return false;
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
    const result = this.afterWrite(this.queued());
    if (!wasFull && this.bufferFull && !socket.writableNeedDrain && socket.writable && !this.closing) {
      // The stream emits 'drain' only when a write went over its own high-water mark (16 kB);
      // below that, an empty write's callback tells when everything before it is flushed.
      socket.write(EMPTY, this.afterFlush);
    }
    return result;
  }

  /** Bytes sent but not yet taken by the kernel: the socket's, and any held outside it. */
  protected queued(): number {
    return this.socket.writableLength + this.heldElsewhere();
  }

  /** Bytes of this connection queued outside its socket (a bare handle's write in libuv). */
  protected heldElsewhere(): number {
    return 0;
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
      if (!err && this.queued() === 0) this.drained();
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
    // A connection that never had a socket (it closed on its bare handle) has nothing to drop.
    this.socket?.destroy();
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
    this.replay();
  }

  /** Bytes read while paused (still unparsed) go through now. */
  protected replay(): void {
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
  protected parse(chunk: Buffer, replay: boolean): void {
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

export type { ConnectionContext, ProtocolModule };
