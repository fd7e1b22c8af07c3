// One request and its response, as static files (http/static.ts), the dispatch to the handler
// (http/dispatch.ts) and the handler's conn (http/connection.ts) use it, whichever server read
// it: Loom's lean path (http/session.ts) or Node's http.Server (NodeExchange, below; https://
// and the fallback where the parser binding is missing).
import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ConnectionBase } from '../core/connection.js';
import { readIncoming } from './body.js';
import type { OutHeaders } from './wire.js';

export type { OutHeaders };

export interface HttpExchange {
  readonly method: string;
  /** As sent: path and query string. */
  readonly url: string;
  readonly headers: IncomingHttpHeaders;
  readonly remoteAddress: string;
  readonly remotePort: number;
  /** The TCP connection it came on (its id and data are the handler's conn's), if listed. */
  readonly owner: ConnectionBase | null;

  /** The request says a body follows (Content-Length or Transfer-Encoding). */
  readonly hasBody: boolean;
  /** The whole body, or null when it exceeds max bytes (then nothing more is read). */
  readBody(max: number): Promise<Buffer | null>;
  /** Body bytes arriving after this call go to fn. */
  onBodyData(fn: (chunk: Buffer) => void): void;
  pauseBody(): void;
  resumeBody(): void;

  /** The response has been given (its head is out or queued). */
  readonly answered: boolean;
  /** The connection is gone: nothing can be answered any more. */
  readonly gone: boolean;
  /**
   * A whole response. contentType is added unless null; the body's length is told unless the
   * headers give one. true: taken by the kernel; null: queued behind a slow reader.
   */
  respond(status: number, headers: OutHeaders | undefined, contentType: string | null, body: string | Uint8Array): boolean | null;
  /** A response whose body streams from a Readable; resolves when it is out or failed. */
  respondStream(status: number, headers: OutHeaders | undefined, contentType: string | null, body: Readable): Promise<void>;
  /** The connection closes once this response is out. */
  closeAfter(): void;
  destroy(): void;
}

/** An exchange on Node's http.Server. */
export class NodeExchange implements HttpExchange {
  constructor(readonly req: IncomingMessage, readonly res: ServerResponse, readonly owner: ConnectionBase | null) {}

  get method(): string { return this.req.method ?? 'GET'; }
  get url(): string { return this.req.url ?? '/'; }
  get headers(): IncomingHttpHeaders { return this.req.headers; }
  get remoteAddress(): string { return this.owner?.remoteAddress ?? this.req.socket.remoteAddress ?? ''; }
  get remotePort(): number { return this.owner?.remotePort ?? this.req.socket.remotePort ?? 0; }
  get hasBody(): boolean { return this.req.headers['content-length'] !== undefined || this.req.headers['transfer-encoding'] !== undefined; }

  readBody(max: number): Promise<Buffer | null> {
    return readIncoming(this.req, max, 'pause');
  }

  onBodyData(fn: (chunk: Buffer) => void): void { this.req.on('data', fn); }
  pauseBody(): void { this.req.pause(); }
  resumeBody(): void { this.req.resume(); }

  get answered(): boolean { return this.res.headersSent || this.res.writableEnded; }
  get gone(): boolean { return this.res.destroyed; }

  private head(status: number, headers: OutHeaders | undefined, contentType: string | null): void {
    const res = this.res;
    res.statusCode = status;
    if (headers) for (const k in headers) res.setHeader(k, headers[k] as string | number | string[]);
    if (contentType !== null) res.setHeader('content-type', contentType);
  }

  respond(status: number, headers: OutHeaders | undefined, contentType: string | null, body: string | Uint8Array): boolean | null {
    this.head(status, headers, contentType);
    this.res.end(body);
    return this.res.writableNeedDrain ? null : true;
  }

  async respondStream(status: number, headers: OutHeaders | undefined, contentType: string | null, body: Readable): Promise<void> {
    this.head(status, headers, contentType);
    try {
      await pipeline(body, this.res);
    } catch {
      this.res.destroy(); // the body failed or the client left: the length promised can't be kept
    }
  }

  closeAfter(): void { this.res.shouldKeepAlive = false; }
  destroy(): void { this.res.destroy(); }
}
