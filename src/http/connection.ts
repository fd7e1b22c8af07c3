// An HTTP listener's connections. HttpConnection is one request as the handler sees it: `send`
// answers that request, and its `id` and `data` are the TCP connection's, so keep-alive requests
// on one socket share them. The TCP connection (listed in worker.connections and `loom
// connections`) is an HttpSession on the lean path (http/session.ts), an HttpSocket on
// http.Server.
import type { Socket } from 'node:net';
import { Readable } from 'node:stream';
import { ConnectionBase, peerOf, type ConnectionInfo } from '../core/connection.js';
import type { ListenerContext } from '../core/context.js';
import type { Connection } from '../types/handler.js';
import type { HttpExchange } from './exchange.js';
import { hasContentType } from './wire.js';

/** `conn.send({ status, headers, body })`: body a string, Buffer, readable stream or JSON value. */
export interface HttpResponse {
  status?: number;
  headers?: Record<string, string | number | string[]>;
  body?: unknown;
}

export class HttpConnection extends ConnectionBase {
  constructor(readonly exchange: HttpExchange, ctx: ListenerContext) {
    super(exchange.owner?.id ?? 0, 'http', ctx.worker, ctx.maxSendBufferSize, ctx.maxPackageSize, ctx);
    this.remoteAddress = exchange.remoteAddress;
    this.remotePort = exchange.remotePort;
  }

  override get data(): Record<string, unknown> {
    const owner = this.exchange.owner;
    return owner ? owner.data : super.data;
  }
  override set data(v: Record<string, unknown>) {
    const owner = this.exchange.owner;
    if (owner) owner.data = v;
    else super.data = v;
  }

  /** True once this request has been answered. */
  get answered(): boolean {
    return this.exchange.answered;
  }

  send(data: unknown, raw = false): boolean | null {
    const ex = this.exchange;
    if (ex.answered || ex.gone) return this.failed();
    let status = 200;
    let headers: HttpResponse['headers'];
    let body: unknown = data;
    if (!raw && isResponse(data)) {
      status = data.status ?? 200;
      headers = data.headers;
      body = data.body;
    }
    const typed = hasContentType(headers);
    if (body instanceof Readable) {
      void ex.respondStream(status, headers, null, body);
      return null;
    }
    if (body === undefined || body === null) body = '';
    if (typeof body === 'string') return ex.respond(status, headers, typed ? null : TEXT, body);
    if (body instanceof Uint8Array) return ex.respond(status, headers, typed ? null : BINARY, body);
    return ex.respond(status, headers, typed ? null : JSON_TYPE, JSON.stringify(body));
  }

  /** Answers (when data is given) and closes the TCP connection after the response. */
  close(data?: unknown, raw = false): void {
    this.exchange.closeAfter();
    if (data !== undefined) this.send(data, raw);
    else if (!this.answered) this.send({ status: 204 });
  }

  destroy(): void {
    this.exchange.destroy();
  }

  pauseRecv(): void {
    this.exchange.pauseBody();
  }

  resumeRecv(): void {
    this.exchange.resumeBody();
  }

  /** The request body goes to dest as it arrives. */
  override pipe(dest: Connection): void {
    this.exchange.onBodyData((chunk: Buffer) => dest.send(chunk, true));
  }
}

const TEXT = 'text/plain; charset=utf-8';
const BINARY = 'application/octet-stream';
const JSON_TYPE = 'application/json; charset=utf-8';

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
