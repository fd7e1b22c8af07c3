// A server-side stream connection (TCP or unix socket): framing of inbound bytes through the
// listener's protocol, the send buffer policy of DESIGN.md, and the handler callbacks.
import type { Socket } from 'node:net';
import { LoomError } from '../errors.js';
import type { Connection, Message, Worker } from '../types/handler.js';
import type { ListenerContext } from './context.js';

const EMPTY = Buffer.alloc(0);
/** Corked replies past this many bytes are flushed at once. */
const CORK_FLUSH_BYTES = 16384;

type Callback<A extends unknown[]> = ((...args: A) => unknown) | undefined;

export class StreamConnection implements Connection {
  readonly id: number;
  readonly protocol: string;
  readonly remoteAddress: string;
  readonly remotePort: number;
  readonly worker: Worker;
  readonly createdAt = Date.now();
  data: Record<string, unknown> = {};
  maxSendBufferSize: number;
  maxPackageSize: number;
  onMessage?: (conn: Connection, data: Message) => unknown;
  onClose?: (conn: Connection) => unknown;
  onError?: (conn: Connection, err: Error) => unknown;
  onBufferFull?: (conn: Connection) => unknown;
  onBufferDrain?: (conn: Connection) => unknown;

  /** Bytes received but not yet a whole packet. */
  private recv: Buffer | null = null;
  private paused = false;
  private closing = false;
  private closed = false;
  private bufferFull = false;

  constructor(readonly socket: Socket, private readonly ctx: ListenerContext) {
    this.id = ctx.nextConnectionId();
    this.protocol = ctx.protocolName;
    this.worker = ctx.worker;
    this.remoteAddress = socket.remoteAddress ?? '';
    this.remotePort = socket.remotePort ?? 0;
    this.maxSendBufferSize = ctx.maxSendBufferSize;
    this.maxPackageSize = ctx.maxPackageSize;
    ctx.connections.set(this.id, this);
    ctx.stats.connections++;
    ctx.stats.totalConnections++;
    socket.on('data', (chunk: Buffer) => this.receive(chunk));
    socket.on('drain', () => this.drained());
    socket.on('error', (err) => this.call('onError', this.onError ?? ctx.handler.onError, err));
    socket.on('close', () => this.closed_());
    ctx.guard.call('onConnect', ctx.handler.onConnect, ctx.handler, this);
  }

  get state(): 'established' | 'closing' | 'closed' {
    return this.closed ? 'closed' : this.closing ? 'closing' : 'established';
  }

  send(data: unknown, raw = false): boolean | null {
    const { socket, ctx } = this;
    if (this.closing || this.closed || socket.destroyed) {
      ctx.stats.sendFailures++;
      return false;
    }
    if (socket.writableLength >= this.maxSendBufferSize) {
      ctx.stats.sendFailures++;
      this.call('onError', this.onError ?? ctx.handler.onError, new LoomError('LOOM_ERR_SEND_BUFFER_FULL', `send buffer of connection ${this.id} is full (${this.maxSendBufferSize} bytes); data dropped`));
      return false;
    }
    let payload: unknown = data;
    if (!raw) {
      try {
        payload = ctx.protocol.encode(data, this);
      } catch (err) {
        ctx.stats.sendFailures++;
        ctx.guard.report(`${this.protocol} encode`, err);
        return false;
      }
    }
    if (typeof payload !== 'string' && !(payload instanceof Uint8Array)) payload = String(payload);
    let belowMark = socket.write(payload as string | Uint8Array, this.bufferFull ? this.afterFlush : undefined);
    if (socket.writableCorked && socket.writableLength >= Math.min(CORK_FLUSH_BYTES, this.maxSendBufferSize)) {
      // A big reply inside a corked batch goes to the kernel now: only what the kernel cannot
      // take counts against max_send_buffer_size.
      socket.uncork();
      socket.cork();
      belowMark = !socket.writableNeedDrain;
    }
    if (!this.bufferFull && socket.writableLength >= this.maxSendBufferSize) {
      this.bufferFull = true;
      this.call('onBufferFull', this.onBufferFull ?? ctx.handler.onBufferFull);
      // The stream emits 'drain' only when a write went over its own high-water mark (16 kB);
      // below that, an empty write's callback tells when everything before it is flushed.
      if (!socket.writableNeedDrain && socket.writable && !this.closing) socket.write(EMPTY, this.afterFlush);
      return null;
    }
    // Replies written while a batch of packets is handled sit corked for one writev; that is
    // "sent" too. Only a backlog past the stream's high-water mark (a slow reader) is "queued".
    return belowMark ? true : null;
  }

  /** Callback of writes made while the buffer is full: drained once nothing is left queued. */
  private readonly afterFlush = (err?: Error | null): void => {
    if (!err && this.socket.writableLength === 0) this.drained();
  };

  close(data?: unknown, raw = false): void {
    if (this.closing || this.closed) return;
    if (data !== undefined) this.send(data, raw);
    this.closing = true;
    const { socket } = this;
    // end() flushes the send buffer and sends FIN; do not wait for the peer's FIN after that.
    socket.end(() => socket.destroy());
  }

  destroy(): void {
    this.closing = true;
    this.socket.destroy();
  }

  pauseRecv(): void {
    this.paused = true;
    this.socket.pause();
  }

  resumeRecv(): void {
    if (!this.paused) return;
    this.paused = false;
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
    this.ctx.log.warn(`LOOM_ERR_BAD_PACKET closed connection ${this.id} from ${this.remoteAddress}:${this.remotePort} on ${this.ctx.url}: ${why}`);
    this.recv = null;
    this.destroy();
  }

  private drained(): void {
    if (!this.bufferFull) return;
    this.bufferFull = false;
    this.call('onBufferDrain', this.onBufferDrain ?? this.ctx.handler.onBufferDrain);
  }

  private closed_(): void {
    if (this.closed) return;
    this.closed = true;
    this.recv = null;
    const { ctx } = this;
    ctx.connections.delete(this.id);
    ctx.stats.connections--;
    ctx.stats.bytesIn += this.socket.bytesRead;
    ctx.stats.bytesOut += this.socket.bytesWritten;
    this.call('onClose', this.onClose ?? ctx.handler.onClose);
  }

  private call<A extends unknown[]>(label: string, fn: Callback<[Connection, ...A]>, ...args: A): void {
    this.ctx.guard.call(label, fn as never, this.ctx.handler, this, ...args);
  }
}
