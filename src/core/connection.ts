// What every kind of connection shares, server side or client side, stream, WebSocket, HTTP
// or UDP: the fields of the handler API, `data` made on first use, callbacks that fall back to
// the handler's, pipe(), and the send-buffer policy of DESIGN.md (refuse when full, onBufferFull
// when the queue reaches max_send_buffer_size, onBufferDrain when it is empty again).
import type { Socket } from 'node:net';
import type { Connection, Handler, Message, ProtocolModule, Worker } from '../types/handler.js';
import type { BadPackets } from './bad-packets.js';
import { LoomError } from './errors.js';
import type { Guard } from './guard.js';
import type { WorkerStats } from './stats.js';
import type { Logger } from '../log/logger.js';

/** A row of `loom connections`. */
export interface ConnectionInfo {
  id: number;
  protocol: string;
  /** 'in': accepted by a listener; 'out': an async client (worker.connect()). */
  direction: 'in' | 'out';
  local: string;
  remote: string;
  bytesIn: number;
  bytesOut: number;
  sendQueue: number;
  ageSeconds: number;
  /** Idle, held as the runtime's bare handle (no Socket): see core/bare-handle.ts. */
  parked?: true;
  /** A gateway's client: its id, uid and groups. */
  clientId?: string;
  uid?: string | null;
  groups?: string[];
}

/** Below this many queued bytes a send counts as sent (Node's default high-water mark). */
export const QUEUED_BYTES = 16384;

/** What a connection needs from where it lives: a listener's context, or a client's own. */
export interface ConnectionContext {
  /** The listen or connect URL, for log lines. */
  url: string;
  protocol: ProtocolModule;
  /** Callbacks used when the connection sets none of its own ({} for clients). */
  handler: Handler;
  guard: Guard;
  stats: WorkerStats;
  log: Logger;
  badPackets: BadPackets;
}

/** What a row of `loom connections` reads of a socket (or of a connection's bare handle). */
export type SocketFigures = Pick<Socket, 'localAddress' | 'localPort' | 'bytesRead' | 'bytesWritten'>;

type PeerHandle = { getpeername?(out: { address?: string; port?: number }): number };

/**
 * The peer's address, asked of the handle directly: socket.remoteAddress makes Node keep a
 * peername object on every socket, about 0.75 KB of RSS per idle connection in all.
 */
export function peerOf(socket: Socket): { address?: string; port?: number } {
  const handle = (socket as unknown as { _handle?: PeerHandle | null })._handle;
  const out: { address?: string; port?: number } = {};
  if (handle?.getpeername && handle.getpeername(out) === 0) return out;
  return { address: socket.remoteAddress, port: socket.remotePort };
}

/** The callbacks a connection may carry, each falling back to the handler's. */
type CallbackName = 'onConnect' | 'onMessage' | 'onClose' | 'onError' | 'onBufferFull' | 'onBufferDrain';
type AnyCallback = (conn: Connection, arg?: unknown) => unknown;

/** Sends held back until a client's connection is up (clients/cycle.ts). */
export interface HeldSends {
  readonly bytes: number;
  push(payload: string | Uint8Array): void;
}

export abstract class ConnectionBase implements Connection {
  readonly createdAt = Date.now();
  remoteAddress = '';
  remotePort = 0;
  private data_: Record<string, unknown> | null = null;
  onMessage?: (conn: Connection, data: Message) => unknown;
  onClose?: (conn: Connection) => unknown;
  onError?: (conn: Connection, err: Error) => unknown;
  onBufferFull?: (conn: Connection) => unknown;
  onBufferDrain?: (conn: Connection) => unknown;
  /** onBufferFull was called and onBufferDrain not yet. */
  protected bufferFull = false;

  constructor(
    readonly id: number,
    readonly protocol: string,
    readonly worker: Worker,
    public maxSendBufferSize: number,
    public maxPackageSize: number,
    protected readonly ctx: ConnectionContext,
  ) {}

  /** A free object for the handler, made on first use. */
  get data(): Record<string, unknown> {
    return (this.data_ ??= {});
  }
  set data(v: Record<string, unknown>) {
    this.data_ = v;
  }

  abstract send(data: unknown, raw?: boolean): boolean | null;
  abstract close(data?: unknown, raw?: boolean): void;
  abstract destroy(): void;
  abstract pauseRecv(): void;
  abstract resumeRecv(): void;

  /** Relays this connection's messages to dest, with back-pressure: dest's full buffer pauses this side. */
  pipe(dest: Connection): void {
    this.onMessage = (_c, data) => dest.send(data);
    this.onClose = () => dest.close();
    dest.onBufferFull = () => this.pauseRecv();
    dest.onBufferDrain = () => this.resumeRecv();
  }

  /** A row of `loom connections`; null for a connection without a socket of its own. */
  describe(_now: number): ConnectionInfo | null {
    return null;
  }

  /** describe() for a connection over a TCP or unix socket. */
  protected socketRow(s: SocketFigures, direction: 'in' | 'out', sendQueue: number, now: number): ConnectionInfo {
    return {
      id: this.id,
      protocol: this.protocol,
      direction,
      local: s.localPort ? `${s.localAddress}:${s.localPort}` : String(s.localAddress ?? ''),
      remote: this.remotePort ? `${this.remoteAddress}:${this.remotePort}` : 'unix',
      bytesIn: s.bytesRead,
      bytesOut: s.bytesWritten,
      sendQueue,
      ageSeconds: Math.round((now - this.createdAt) / 1000),
    };
  }

  /** Calls one of this connection's callbacks (or the handler's) under the guard. */
  protected call(name: CallbackName, arg?: unknown): void {
    const own = (this as Partial<Record<CallbackName, AnyCallback>>)[name];
    const fn = own ?? (this.ctx.handler[name] as AnyCallback | undefined);
    if (fn === undefined) return;
    if (arg === undefined) this.ctx.guard.call(name, fn, this.callbackThis(), this);
    else this.ctx.guard.call(name, fn, this.callbackThis(), this, arg);
  }

  /** onMessage on the per-message path: two arguments, no rest arrays. */
  protected deliver(message: unknown): void {
    this.ctx.stats.totalRequests++;
    this.ctx.guard.invoke('onMessage', this.onMessage ?? this.ctx.handler.onMessage, this.callbackThis(), this as Connection, message);
  }

  /** `this` of a callback: the handler module (clients, whose callbacks are their own: the connection). */
  protected callbackThis(): unknown {
    return this.ctx.handler;
  }

  /** Admits a send when fewer than maxSendBufferSize bytes are queued; else refuses it (false). */
  protected admit(queued: number): boolean {
    if (queued < this.maxSendBufferSize) return true;
    this.refuse();
    return false;
  }

  /** A send refused because the buffer is full: counted, and onError told. */
  protected refuse(): void {
    this.ctx.stats.sendFailures++;
    this.call('onError', new LoomError('LOOM_ERR_SEND_BUFFER_FULL', `send buffer of connection ${this.id} is full (${this.maxSendBufferSize} bytes); data dropped`));
  }

  /** After a write: onBufferFull when the queue reached the limit; the send's result. */
  protected afterWrite(queued: number): boolean | null {
    if (!this.bufferFull && queued >= this.maxSendBufferSize) {
      this.full();
      return null;
    }
    // "Sent" unless a backlog past the high-water mark builds up (a slow reader): over TLS
    // nothing leaves synchronously, so "nothing queued" would mean never.
    return queued < QUEUED_BYTES ? true : null;
  }

  protected full(): void {
    this.bufferFull = true;
    this.call('onBufferFull');
  }

  /** The queue is empty again: onBufferDrain, once per onBufferFull. */
  protected drained(): void {
    if (!this.bufferFull) return;
    this.bufferFull = false;
    this.call('onBufferDrain');
  }

  /**
   * A send before the connection is up: held (null) up to maxSendBufferSize bytes, with
   * onBufferFull when that is reached; refused (false) past it, or when no attempt will come.
   */
  protected hold(held: HeldSends, accepting: boolean, encode: () => string | Uint8Array | null): boolean | null {
    if (!accepting) return this.failed();
    if (!this.admit(held.bytes)) return false;
    const payload = encode();
    if (payload === null) return false;
    held.push(payload);
    if (!this.bufferFull && held.bytes >= this.maxSendBufferSize) this.full();
    return null;
  }

  /** A send that cannot go out (closed): counted, false. */
  protected failed(): false {
    this.ctx.stats.sendFailures++;
    return false;
  }
}
