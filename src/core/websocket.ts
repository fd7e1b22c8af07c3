// What WebSocket connections share, accepted ones (http/websocket.ts) and clients
// (clients/ws-client.ts), on the `ws` package: text frames arrive as strings and binary ones
// as Buffers; send(string) sends a text frame, send(Buffer) a binary one, anything else its
// JSON text (raw: String(data)); the send buffer is ws's bufferedAmount.
import type { RawData, WebSocket } from 'ws';
import { ConnectionBase } from './connection.js';

/**
 * Loom's own handlers (a gateway's) may take a WebSocket message as its bytes: text is valid
 * UTF-8 already (ws checks), and a gateway only passes it on.
 */
export const kRawFrame = Symbol('loom.rawFrame');
export type FrameHandler = { [kRawFrame]?: (conn: WebSocketBase, bytes: Buffer, text: boolean) => void };

/** WebSocket.OPEN, without importing the class for one constant. */
const OPEN = 1;
// ws.send()'s options, made once: a broadcast sends to thousands.
const TEXT = { binary: false };
const BINARY = { binary: true };
const EMPTY = Buffer.alloc(0);

/**
 * One unmasked, uncompressed WebSocket frame (a server's) holding payload: built once, a
 * broadcast writes the same bytes to every client instead of having ws frame each copy.
 */
export function buildFrame(payload: Buffer, text: boolean): Buffer {
  const n = payload.length;
  const headLength = n < 126 ? 2 : n < 65536 ? 4 : 10;
  const frame = Buffer.allocUnsafe(headLength + n);
  frame[0] = 0x80 | (text ? 1 : 2); // FIN, opcode
  if (n < 126) frame[1] = n;
  else if (n < 65536) { frame[1] = 126; frame.writeUInt16BE(n, 2); }
  else { frame[1] = 127; frame.writeUInt32BE(Math.floor(n / 2 ** 32), 2); frame.writeUInt32BE(n >>> 0, 6); }
  payload.copy(frame, headLength);
  return frame;
}

/** What of ws's internals a prebuilt frame needs: its socket, and a sender with nothing pending. */
interface WsInternals {
  /** A server's end: frames go unmasked (a client's must be masked, so ws frames those). */
  _isServer?: boolean;
  _socket?: { write(b: Buffer, cb?: () => void): boolean; destroyed: boolean };
  _sender?: { _state: number; _queue: unknown[]; _firstFragment: boolean };
}

/**
 * The socket under a server-side ws when its sender is idle (nothing compressing, queued or
 * half-sent), so a frame written to it directly keeps the order of frames; null otherwise.
 */
function idleSocket(ws: WebSocket): NonNullable<WsInternals['_socket']> | null {
  const internals = ws as unknown as WsInternals;
  const sender = internals._sender;
  const socket = internals._socket;
  if (internals._isServer !== true || !sender || !socket || socket.destroyed || sender._state !== 0 || sender._queue.length > 0 || !sender._firstFragment) return null;
  return socket;
}

/** Messages up to this many bytes are framed by Loom (one copy of a small payload is cheap). */
export const SMALL = 8192;

/** A small message's frame: the head and the payload in one buffer. */
export function smallFrame(payload: string | Uint8Array, text: boolean): Buffer {
  const n = typeof payload === 'string' ? Buffer.byteLength(payload) : payload.byteLength;
  const head = n < 126 ? 2 : 4;
  const frame = Buffer.allocUnsafe(head + n);
  frame[0] = 0x80 | (text ? 1 : 2); // FIN, opcode
  if (n < 126) frame[1] = n;
  else { frame[1] = 126; frame.writeUInt16BE(n, 2); }
  if (typeof payload === 'string') frame.write(payload, head, 'utf8');
  else frame.set(payload, head);
  return frame;
}

export abstract class WebSocketBase extends ConnectionBase {
  /** The WebSocket, once the handshake is done. */
  ws: WebSocket | null = null;
  protected closing = false;
  protected paused = false;
  private sent_: (() => void) | null = null;

  send(data: unknown, raw = false): boolean | null {
    const payload = typeof data === 'string' || data instanceof Uint8Array ? data : raw ? String(data) : JSON.stringify(data);
    return this.sendFrame(payload, typeof payload === 'string');
  }

  /** A text frame from UTF-8 bytes as they are (a gateway forwards what it got), or a binary one. */
  sendFrame(payload: string | Uint8Array, text: boolean): boolean | null {
    const { ws } = this;
    if (!ws || this.closing || ws.readyState !== OPEN) return this.failed();
    // A small message whose frame Loom builds itself, in one buffer, written once: ws would
    // convert, frame into two buffers and cork them into a writev for each message.
    const length = typeof payload === 'string' ? (payload.length < SMALL / 3 ? -1 : Buffer.byteLength(payload)) : payload.byteLength;
    if (length < SMALL) {
      const socket = idleSocket(ws);
      if (socket !== null) {
        if (!this.admit(this.queuedOf(ws))) return false;
        socket.write(smallFrame(payload, text));
        return this.written(ws);
      }
    }
    if (!this.admit(this.queuedOf(ws))) return false;
    // No callback per message: only once the buffer is full is its flushing watched.
    ws.send(payload, text ? TEXT : BINARY);
    return this.written(ws);
  }

  /**
   * A frame built by buildFrame(): written to the socket as it is when ws has nothing of its
   * own in progress (a compressed or fragmented message), else sent through ws.
   */
  sendBuilt(frame: Buffer, payload: Buffer, text: boolean): boolean | null {
    const { ws } = this;
    if (!ws || this.closing || ws.readyState !== OPEN) return this.failed();
    const socket = idleSocket(ws);
    if (socket === null) return this.sendFrame(payload, text);
    if (!this.admit(this.queuedOf(ws))) return false;
    socket.write(frame);
    return this.written(ws);
  }

  /** After a frame went out: onBufferFull (and its flush watched) when the buffer filled up; the send's result. */
  private written(ws: WebSocket): boolean | null {
    const wasFull = this.bufferFull;
    const result = this.afterWrite(this.queuedOf(ws));
    if (!wasFull && this.bufferFull) this.watchFlush();
    return result;
  }

  /**
   * Calls sent() once what is queued now has gone to the kernel: an empty write behind it on
   * the socket (ws writes frames to it in order; compressed ones may still be on their way,
   * which sent() sees and watches for again).
   */
  protected watchFlush(): void {
    const socket = (this.ws as unknown as WsInternals | null)?._socket;
    if (socket && !socket.destroyed) socket.write(EMPTY, this.sent);
  }

  /** Drained once the WebSocket holds nothing unsent. */
  protected get sent(): () => void {
    return (this.sent_ ??= () => {
      if (!this.bufferFull || !this.ws) return;
      if (this.queuedOf(this.ws) === 0) this.drained();
      else setImmediate(() => this.watchFlush());
    });
  }

  /** Bytes sent but not yet taken by the kernel. */
  protected queuedOf(ws: WebSocket): number {
    return ws.bufferedAmount;
  }

  /** A frame from the peer: onMessage with a string (text) or a Buffer (binary). */
  protected receiveFrame(data: RawData, isBinary: boolean): void {
    const buf = Array.isArray(data) ? Buffer.concat(data) : Buffer.isBuffer(data) ? data : Buffer.from(data);
    const raw = (this.ctx.handler as FrameHandler)[kRawFrame];
    if (raw) {
      // A gateway forwards the frame's bytes as they are: no decoding to a string and back.
      this.ctx.stats.totalRequests++;
      raw(this, buf, !isBinary);
      return;
    }
    this.deliver(isBinary ? buf : buf.toString('utf8'));
  }

  /** Takes the WebSocket once its handshake is done. */
  protected adopt(ws: WebSocket): void {
    this.ws = ws;
    this.closing = false;
    if (this.paused) ws.pause();
  }

  /** A closing handshake (code 1000), after data if given. */
  protected closeWebSocket(data: unknown, raw: boolean): void {
    if (!this.ws || this.closing) return;
    if (data !== undefined) this.send(data, raw);
    this.closing = true;
    this.ws.close(1000);
  }

  pauseRecv(): void {
    this.paused = true;
    this.ws?.pause();
  }

  resumeRecv(): void {
    this.paused = false;
    this.ws?.resume();
  }
}
