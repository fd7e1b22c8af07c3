// http:// listeners (and https:// with ssl_cert/ssl_key), on Node's own http server and its
// llhttp parser: keep-alive, pipelining (answered in order), HEAD, header and idle timeouts.
// Static files under `root` are tried first; the handler answers the rest.
import { createServer as createHttp, type IncomingMessage, type Server, type ServerOptions, type ServerResponse } from 'node:http';
import { createServer as createHttps, Server as HttpsServer } from 'node:https';
import type { Socket } from 'node:net';
import type { TlsMaterial } from '../config/tls.js';
import type { GroupConfig } from '../config/types.js';
import type { ListenerContext } from '../core/context.js';
import { HttpConnection, HttpSocket } from './connection.js';
import { buildRequest } from './request.js';
import { serveStatic } from './static.js';

/** An http(s) server with the group's timeouts, not yet listening; https with TLS material. */
export function createWebServer(group: GroupConfig, tls: TlsMaterial | null): Server {
  const options: ServerOptions = {
    headersTimeout: group.headerTimeout * 1000,
    requestTimeout: Math.max(group.headerTimeout * 1000, 300_000),
    keepAliveTimeout: group.idleTimeout * 1000,
    // How often the timeouts above are checked (Node's default, 30 s, lets slowloris linger).
    connectionsCheckingInterval: Math.min(1000, group.headerTimeout * 1000),
    noDelay: true,
  };
  return tls ? createHttps({ ...options, ...tls }) : createHttp(options);
}

const kEntry = Symbol('loom.httpSocket');
type TrackedSocket = Socket & { [kEntry]?: HttpSocket };

/** Lists the TCP connections of a web server in worker.connections (status, graceful stop). */
export function trackSockets(server: Server, ctx: ListenerContext): void {
  // One listener for every socket, which finds its entry on the socket: a closure per socket
  // would keep the entry alive after a WebSocket took the connection over.
  function closed(this: TrackedSocket): void {
    const entry = this[kEntry];
    if (entry) ctx.unregister(entry); // (a WebSocket unregisters itself)
    ctx.stats.bytesIn += this.bytesRead;
    ctx.stats.bytesOut += this.bytesWritten;
  }
  server.on(server instanceof HttpsServer ? 'secureConnection' : 'connection', (socket: TrackedSocket) => {
    const entry = new HttpSocket(socket, ctx);
    socket[kEntry] = entry;
    ctx.register(entry);
    socket.once('close', closed);
  });
  server.on('tlsClientError', (err: Error, socket: Socket) => {
    ctx.badPackets.report('TLS handshake failed', `from ${socket.remoteAddress}:${socket.remotePort}`, err.message);
  });
  server.on('clientError', (err: NodeJS.ErrnoException, socket: Socket) => {
    // Malformed requests and header timeouts: count, answer if possible, close.
    if (err.code !== 'ECONNRESET') {
      const entry = (socket as TrackedSocket)[kEntry];
      ctx.badPackets.report(`closed connection ${entry?.id ?? '?'}`, `from ${entry?.remoteAddress ?? socket.remoteAddress}:${entry?.remotePort ?? socket.remotePort}`, `${err.code ?? 'error'} ${err.message}`);
    }
    if (socket.writable && !socket.destroyed) {
      const status = err.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? '408 Request Timeout' : err.code === 'HPE_HEADER_OVERFLOW' ? '431 Request Header Fields Too Large' : '400 Bad Request';
      socket.end(`HTTP/1.1 ${status}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
    }
    socket.destroy();
  });
}

/** The listed connection of an HTTP listener's socket. */
export function socketEntry(socket: Socket): HttpSocket | undefined {
  return (socket as TrackedSocket)[kEntry];
}

/** The socket became a WebSocket's: its HTTP entry is not needed any more (nor its memory). */
export function dropSocketEntry(socket: Socket): void {
  (socket as TrackedSocket)[kEntry] = undefined;
}

/** Serves http:// requests: static files first, then the handler's onMessage(conn, request). */
export function attachHttp(server: Server, ctx: ListenerContext, group: GroupConfig): void {
  trackSockets(server, ctx);
  server.on('request', (req: IncomingMessage, res: ServerResponse) => {
    const entry = socketEntry(req.socket);
    if (entry) {
      entry.inFlight++;
      res.once('close', () => entry.answered());
    }
    handle(req, res, ctx, group, entry);
  });
}

/** Static files first (GET/HEAD with root), then the body, then the handler. */
function handle(req: IncomingMessage, res: ServerResponse, ctx: ListenerContext, group: GroupConfig, entry: HttpSocket | undefined): void {
  if (group.root && (req.method === 'GET' || req.method === 'HEAD')) {
    serveStatic(group.root, req, res).then(
      (served) => { if (!served) withBody(req, res, ctx, entry); },
      (err: Error) => {
        ctx.log.warn(`static file for ${req.url}: ${err.message}`);
        if (!res.headersSent) { res.statusCode = 500; res.end(); }
      },
    );
    return;
  }
  withBody(req, res, ctx, entry);
}

const NO_BODY = Buffer.alloc(0);

function withBody(req: IncomingMessage, res: ServerResponse, ctx: ListenerContext, entry: HttpSocket | undefined): void {
  // Most requests have no body: answer them without a promise in between.
  if (!req.headers['content-length'] && !req.headers['transfer-encoding']) return dispatch(req, res, ctx, entry, NO_BODY);
  void readBody(req, ctx.maxPackageSize).then((body) => {
    if (body !== null) return dispatch(req, res, ctx, entry, body);
    ctx.stats.badPackets++;
    res.shouldKeepAlive = false;
    res.writeHead(413, { 'content-type': 'text/plain; charset=utf-8', connection: 'close' });
    res.end('Payload Too Large\n');
  });
}

function dispatch(req: IncomingMessage, res: ServerResponse, ctx: ListenerContext, entry: HttpSocket | undefined, body: Buffer): void {
  const fn = ctx.handler.onMessage;
  if (!fn) {
    res.writeHead(404, { 'content-type': 'text/plain; charset=utf-8' });
    res.end('Not Found\n');
    return;
  }
  ctx.stats.totalRequests++;
  const conn = new HttpConnection(entry ?? null, res, ctx);
  const answer500 = () => {
    if (!conn.answered && !res.destroyed) { res.statusCode = 500; res.end('Internal Server Error\n'); }
  };
  let result: unknown;
  try {
    result = fn.call(ctx.handler, conn, buildRequest(req, body));
  } catch (err) {
    ctx.guard.report('onMessage', err);
    answer500();
    return;
  }
  if (result !== null && typeof result === 'object' && typeof (result as PromiseLike<unknown>).then === 'function') {
    // Through the guard, so a rejection is logged with file:line and counted like any other.
    ctx.guard.call('onMessage', () => result, undefined);
    (result as PromiseLike<unknown>).then(undefined, answer500);
  }
}

/** The request body, or null when it exceeds max_package_size (then nothing more is read). */
function readBody(req: IncomingMessage, max: number): Promise<Buffer | null> {
  const declared = Number(req.headers['content-length'] ?? 0);
  if (declared > max) return Promise.resolve(null);
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > max) { req.removeAllListeners('data'); req.pause(); resolve(null); return; }
      chunks.push(c);
    });
    req.once('end', () => resolve(chunks.length === 1 ? chunks[0] : Buffer.concat(chunks)));
    req.once('error', () => resolve(null));
  });
}

/** 426 for a plain HTTP request to a websocket listener. */
export function upgradeRequired(res: ServerResponse): void {
  res.writeHead(426, { 'content-type': 'text/plain; charset=utf-8', upgrade: 'websocket', connection: 'Upgrade' });
  res.end('Upgrade Required\n');
}
