// An HTTP exchange seen as a Loom connection: `send` answers this request. One per request;
// `id` is the TCP connection's, so keep-alive requests on one socket share it.
import type { ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { Readable } from 'node:stream';
import type { Connection, Message, Worker } from '../types/handler.js';
import type { ListenerContext } from '../core/context.js';

/** `conn.send({ status, headers, body })`: body a string, Buffer, readable stream or JSON value. */
export interface HttpResponse {
  status?: number;
  headers?: Record<string, string | number | string[]>;
  body?: unknown;
}

export class HttpConnection implements Connection {
  readonly protocol = 'http';
  readonly remoteAddress: string;
  readonly remotePort: number;
  readonly worker: Worker;
  data: Record<string, unknown>;
  maxSendBufferSize: number;
  maxPackageSize: number;
  onMessage?: (conn: Connection, data: Message) => unknown;

  constructor(readonly id: number, readonly response: ServerResponse, private readonly ctx: ListenerContext, data: Record<string, unknown>) {
    const socket = response.socket as Socket;
    this.remoteAddress = socket?.remoteAddress ?? '';
    this.remotePort = socket?.remotePort ?? 0;
    this.worker = ctx.worker;
    this.data = data;
    this.maxSendBufferSize = ctx.maxSendBufferSize;
    this.maxPackageSize = ctx.maxPackageSize;
  }

  /** True once this request has been answered. */
  get answered(): boolean {
    return this.response.headersSent || this.response.writableEnded;
  }

  send(data: unknown, raw = false): boolean | null {
    const res = this.response;
    if (this.answered || res.destroyed) {
      this.ctx.stats.sendFailures++;
      return false;
    }
    const r: HttpResponse = !raw && isResponse(data) ? data : { body: data };
    res.statusCode = r.status ?? 200;
    for (const [k, v] of Object.entries(r.headers ?? {})) res.setHeader(k, v);
    let body = r.body;
    if (body instanceof Readable) {
      body.on('error', () => res.destroy());
      body.pipe(res);
      return null;
    }
    if (body === undefined || body === null) body = '';
    else if (typeof body !== 'string' && !(body instanceof Uint8Array)) {
      body = JSON.stringify(body);
      if (!res.hasHeader('content-type')) res.setHeader('content-type', 'application/json; charset=utf-8');
    }
    if (!res.hasHeader('content-type')) res.setHeader('content-type', typeof body === 'string' ? 'text/plain; charset=utf-8' : 'application/octet-stream');
    res.end(body as string | Uint8Array);
    return res.writableNeedDrain ? null : true;
  }

  /** Answers (when data is given) and closes the TCP connection after the response. */
  close(data?: unknown, raw = false): void {
    this.response.shouldKeepAlive = false;
    if (data !== undefined) this.send(data, raw);
    else if (!this.answered) this.send({ status: 204 });
  }

  destroy(): void {
    this.response.socket?.destroy();
  }

  pauseRecv(): void {
    this.response.req.pause();
  }

  resumeRecv(): void {
    this.response.req.resume();
  }

  pipe(dest: Connection): void {
    this.response.req.on('data', (chunk: Buffer) => dest.send(chunk, true));
  }
}

function isResponse(v: unknown): v is HttpResponse {
  if (v === null || typeof v !== 'object' || Buffer.isBuffer(v) || v instanceof Uint8Array || v instanceof Readable) return false;
  const keys = Object.keys(v);
  return keys.length > 0 && keys.every((k) => k === 'status' || k === 'headers' || k === 'body');
}

/**
 * A TCP connection of an HTTP listener, listed in worker.connections and `loom connections`;
 * closing it lets the response in flight finish first.
 */
export class HttpSocket implements Connection {
  readonly protocol: string;
  readonly remoteAddress: string;
  readonly remotePort: number;
  readonly worker: Worker;
  readonly createdAt = Date.now();
  data: Record<string, unknown> = {};
  maxSendBufferSize: number;
  maxPackageSize: number;
  /** Requests received and not yet answered. */
  inFlight = 0;
  private closing = false;

  constructor(readonly id: number, readonly socket: Socket, ctx: ListenerContext) {
    this.protocol = ctx.protocolName;
    this.remoteAddress = socket.remoteAddress ?? '';
    this.remotePort = socket.remotePort ?? 0;
    this.worker = ctx.worker;
    this.maxSendBufferSize = ctx.maxSendBufferSize;
    this.maxPackageSize = ctx.maxPackageSize;
  }

  /** No request to answer on the bare socket: use the connection given to onMessage. */
  send(): boolean | null {
    return false;
  }

  close(): void {
    this.closing = true;
    if (this.inFlight === 0) this.socket.destroy();
  }

  /** A response finished: a closing socket goes now. */
  answered(): void {
    this.inFlight--;
    if (this.closing && this.inFlight === 0) this.socket.destroy();
  }

  destroy(): void {
    this.socket.destroy();
  }

  pauseRecv(): void {}
  resumeRecv(): void {}
  pipe(): void {}
}
