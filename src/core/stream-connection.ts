// A connection accepted by a stream listener (text, frame, tcp, custom protocols). On plain TCP
// it lives on the runtime's bare handle (core/bare-handle.ts), with no net.Socket: reads come
// to onread, replies are written to the handle, and the replies to one read leave in one
// write. A Socket is made around the same handle only when the kernel stops taking bytes at
// once (a slow reader: the Socket's stream then queues and reports the drain), so an idle
// connection costs a handle and this object, and a short one (connect, line, reply, close)
// never builds net's streams. TLS, unix sockets and runtimes without the binding get a Socket
// from the start.
import { Socket } from 'node:net';
import type { ConnectionInfo } from './connection.js';
import type { ListenerContext } from './context.js';
import { CORK_FLUSH_BYTES, StreamBase } from './stream.js';
import {
  handleError, readError, readResult, shutdownHandle, handleFigures, socketAround, UV_ECANCELED, writeToHandle, type HandleWriter, type StreamHandle,
} from './bare-handle.js';

const kConn = Symbol('loom.streamConnection');
type OwnedHandle = StreamHandle & { [kConn]?: StreamConnection };

/** The replies gathered while one read is parsed, as one payload. */
function joined(parts: (string | Uint8Array)[]): string | Uint8Array {
  if (parts.length === 1) return parts[0];
  if (parts.every((p) => typeof p === 'string')) return parts.join('');
  return Buffer.concat(parts.map((p) => (typeof p === 'string' ? Buffer.from(p) : p)));
}

export class StreamConnection extends StreamBase implements HandleWriter {
  protected declare readonly ctx: ListenerContext;
  /** On the bare handle: the handle, and no Socket (null once it has one). */
  private handle: OwnedHandle | null = null;
  /** Bytes of a write to the bare handle that libuv still holds (the kernel's buffer was full). */
  private handleQueued = 0;
  /** A read is being parsed on the bare handle: replies are gathered, written after it. */
  private gathering = false;
  private gathered: (string | Uint8Array)[] | null = null;
  /** Characters or bytes gathered: when to write a big batch at once, not an exact count. */
  private gatheredBytes = 0;
  /** close() came while gathering: the handle ends once the gathered replies are written. */
  private endAfterGather = false;
  /** A shutdown (FIN) is on its way: the handle closes once it is done. */
  private ending = false;

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
      socket.onread = StreamConnection.onBareRead;
      const err = socket.readStart();
      if (err < 0) this.bareEnded(err);
    }
    ctx.guard.call('onConnect', ctx.handler.onConnect, ctx.handler, this);
  }

  private static onBareRead(this: OwnedHandle, buf?: ArrayBuffer): void {
    const conn = this[kConn];
    if (!conn) return;
    const got = readResult(buf);
    if (typeof got !== 'number') conn.receive(got);
    else if (got < 0) conn.bareEnded(got);
  }

  /** On the bare handle: the replies to all packets of one read leave in one write. */
  protected override receive(chunk: Buffer, replay = false): void {
    if (this.handle === null) return super.receive(chunk, replay);
    this.gathering = true;
    try {
      this.parse(chunk, replay);
    } finally {
      this.gathering = false;
      this.flushGathered();
    }
  }

  override send(data: unknown, raw = false): boolean | null {
    if (this.handle === null) return super.send(data, raw);
    if (this.closing || this.closed) return this.failed();
    if (this.handleQueued > 0) {
      // The kernel is not taking bytes: the Socket's stream queues from here on (in order:
      // libuv writes a handle's requests one after the other).
      this.toSocket();
      return super.send(data, raw);
    }
    const payload = this.encode(data, raw);
    if (payload === null) return false;
    if (!this.gathering) return this.writeBare(payload);
    (this.gathered ??= []).push(payload);
    this.gatheredBytes += payload.length;
    // A big reply inside a gathered batch goes to the kernel now.
    return this.gatheredBytes >= Math.min(CORK_FLUSH_BYTES, this.maxSendBufferSize) ? this.flushGathered() : true;
  }

  /** Writes what was gathered (and ends the connection if close() asked for it meanwhile). */
  private flushGathered(): boolean | null {
    const parts = this.gathered;
    this.gathered = null;
    this.gatheredBytes = 0;
    let result: boolean | null = true;
    if (parts !== null && this.bareOpen()) result = this.writeBare(joined(parts));
    if (this.endAfterGather) {
      this.endAfterGather = false;
      this.endBare();
    }
    return result;
  }

  /** On the bare handle, and not closing it. */
  private bareOpen(): boolean {
    return this.handle !== null && this.handle[kConn] === this;
  }

  private writeBare(payload: string | Uint8Array): boolean | null {
    const r = writeToHandle(this.handle!, payload, this);
    if (r < 0) {
      // As net reports a failed write: onError, and the connection is dropped.
      this.call('onError', handleError(r, 'write'));
      this.closeHandle();
      return this.failed();
    }
    this.handleQueued += r;
    return this.afterWrite(this.handleQueued);
  }

  protected override heldElsewhere(): number {
    return this.handleQueued;
  }

  /**
   * A queued write to the bare handle is done: drained when nothing else is queued; failed: as
   * net reports a failed write (onError, the connection dropped). ECANCELED: the handle was
   * closed under it (destroy()), which reports itself.
   */
  handleWritten(status: number): void {
    this.handleQueued = 0;
    if (status === UV_ECANCELED || this.closed) return;
    if (status < 0) {
      if (this.handle !== null) {
        this.call('onError', handleError(status, 'write'));
        this.closeHandle();
      }
      return;
    }
    if (this.bufferFull && (this.handle !== null || this.queued() === 0)) this.drained();
  }

  /** A Socket around the same handle, for the rest of the connection's life. */
  private toSocket(): void {
    const handle = this.handle!;
    this.handle = null;
    handle[kConn] = undefined;
    const pending = this.gathered;
    this.gathered = null;
    this.gatheredBytes = 0;
    this.attach(socketAround(handle, !this.paused), true, true);
    // Replies gathered before this point go first.
    if (pending !== null) this.socket.write(joined(pending));
  }

  /**
   * The peer reset the connection: onError, closed. The peer's FIN: as net without half-open
   * connections does, FIN back once every reply is out (endBare), then closed.
   */
  private bareEnded(code: number): void {
    const err = readError(code);
    if (err === null) {
      this.handle?.readStop();
      return this.endBare();
    }
    this.call('onError', err);
    this.closeHandle();
  }

  /** Closes the bare handle now; what libuv still holds of a write is dropped. */
  private closeHandle(): void {
    const handle = this.handle;
    if (handle === null || !this.bareOpen()) return;
    handle[kConn] = undefined;
    this.closing = true;
    this.gathered = null;
    handle.readStop();
    handle.close(() => {
      this.handle = null;
      if (!this.closed) this.finish(handle.bytesRead, handle.bytesWritten);
    });
  }

  /** A graceful end, as socket.end(): FIN once every write is out, then closed. */
  private endBare(): void {
    if (!this.bareOpen() || this.ending) return;
    this.closing = true;
    this.ending = true;
    shutdownHandle(this.handle!, () => this.closeHandle());
  }

  override close(data?: unknown, raw = false): void {
    if (this.handle === null) return super.close(data, raw);
    if (this.closing || this.closed) return;
    if (data !== undefined) this.send(data, raw);
    if (this.handle === null) return super.close();
    this.closing = true;
    if (this.gathering) this.endAfterGather = true;
    else this.endBare();
  }

  override destroy(): void {
    this.abort();
  }

  protected override abort(): void {
    if (this.handle !== null) this.closeHandle();
    else if (!this.closed) super.abort();
  }

  override pauseRecv(): void {
    if (this.handle === null) return super.pauseRecv();
    this.paused = true;
    this.handle.readStop();
  }

  override resumeRecv(): void {
    if (this.handle === null) return super.resumeRecv();
    if (!this.paused) return;
    this.paused = false;
    if (!this.closing) this.handle.readStart();
    this.replay();
  }

  override describe(now: number): ConnectionInfo | null {
    const { handle } = this;
    if (handle === null) return super.describe(now);
    return { ...this.socketRow(handleFigures(handle), 'in', this.handleQueued, now), parked: true };
  }

  override get state(): 'established' | 'closing' | 'closed' {
    return this.closed ? 'closed' : this.closing ? 'closing' : 'established';
  }

  protected detached(): void {
    this.ctx.unregister(this);
  }
}
