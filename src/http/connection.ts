// An HTTP listener's connections. HttpSocket is the TCP connection (listed in worker.connections
// and `loom connections`); HttpConnection is one request on it as the handler sees it: `send`
// answers that request, and its `id` and `data` are the TCP connection's, so keep-alive requests
// on one socket share them.
import type { ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { Readable } from 'node:stream';
import { ConnectionBase, peerOf, type ConnectionInfo } from '../core/connection.js';
import type { ListenerContext } from '../core/context.js';
import type { Connection } from '../types/handler.js';

/** `conn.send({ status, headers, body })`: body a string, Buffer, readable stream or JSON value. */
export interface HttpResponse {
  status?: number;
  headers?: Record<string, string | number | string[]>;
  body?: unknown;
}

export class HttpConnection extends ConnectionBase {
  constructor(private readonly entry: HttpSocket | null, readonly response: ServerResponse, ctx: ListenerContext) {
    super(entry?.id ?? 0, 'http', ctx.worker, ctx.maxSendBufferSize, ctx.maxPackageSize, ctx);
    if (entry) {
      this.remoteAddress = entry.remoteAddress;
      this.remotePort = entry.remotePort;
    }
  }

  override get data(): Record<string, unknown> {
    return this.entry ? this.entry.data : super.data;
  }
  override set data(v: Record<string, unknown>) {
    if (this.entry) this.entry.data = v;
    else super.data = v;
  }

  /** True once this request has been answered. */
  get answered(): boolean {
    return this.response.headersSent || this.response.writableEnded;
  }

  send(data: unknown, raw = false): boolean | null {
    const res = this.response;
    if (this.answered || res.destroyed) return this.failed();
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

  /** The request body goes to dest as it arrives. */
  override pipe(dest: Connection): void {
    this.response.req.on('data', (chunk: Buffer) => dest.send(chunk, true));
  }
}

function isResponse(v: unknown): v is HttpResponse {
  if (v === null || typeof v !== 'object' || Buffer.isBuffer(v) || v instanceof Uint8Array || v instanceof Readable) return false;
  const keys = Object.keys(v);
  return keys.length > 0 && keys.every((k) => k === 'status' || k === 'headers' || k === 'body');
}

/**
 * A TCP connection of an HTTP listener; closing it lets the response in flight finish first.
 * It has no request of its own to answer: the handler answers through the HttpConnection it
 * gets with each request.
 */
export class HttpSocket extends ConnectionBase {
  /** Requests received and not yet answered. */
  inFlight = 0;
  private closing = false;

  constructor(readonly socket: Socket, ctx: ListenerContext) {
    super(ctx.nextConnectionId(), ctx.protocolName, ctx.worker, ctx.maxSendBufferSize, ctx.maxPackageSize, ctx);
    const peer = peerOf(socket);
    this.remoteAddress = peer.address ?? '';
    this.remotePort = peer.port ?? 0;
  }

  send(): boolean | null {
    return this.failed();
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

  // Node's http server reads the socket; requests are paused and resumed one by one
  // (HttpConnection), and a stop must not strand a request whose body is still arriving.
  pauseRecv(): void {}
  resumeRecv(): void {}
  override pipe(): void {}

  override describe(now: number): ConnectionInfo | null {
    return this.socketRow(this.socket, 'in', this.socket.writableLength, now);
  }
}
