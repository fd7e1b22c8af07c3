// The servers of http:// and ws:// listeners. Plain http:// and ws:// run on Loom's lean path
// (http/session.ts: llhttp on the socket, no http.Server); https:// and wss:// on Node's
// http.Server, whose cost TLS dwarfs, and which is also the fallback where the parser binding
// is missing. Both give the same exchanges to the same dispatch (http/dispatch.ts).
import { createServer as createHttp, type IncomingMessage, type Server, type ServerOptions, type ServerResponse } from 'node:http';
import { createServer as createHttps, Server as HttpsServer } from 'node:https';
import { createServer as createNet, type Server as NetServer, type Socket } from 'node:net';
import type { TlsMaterial } from '../config/tls.js';
import type { GroupConfig } from '../config/types.js';
import type { StreamHandle } from '../core/bare-handle.js';
import type { ListenerContext } from '../core/context.js';
import { HttpSocket } from './connection.js';
import { serveRequest } from './dispatch.js';
import { NodeExchange } from './exchange.js';
import { llhttp } from './llhttp.js';
import type { LeanExchange } from './lean-exchange.js';
import { LeanHttp, type LeanSettings } from './lean-http.js';

/**
 * A lean http:// or ws:// server, not yet listening; null where the parser binding is missing.
 * onUpgrade: ws:// listeners take upgrade requests; others answer 426 to plain requests.
 */
export function createLeanServer(
  group: GroupConfig,
  ctx: ListenerContext,
  onRequest: (ex: LeanExchange) => void,
  onUpgrade: ((ex: LeanExchange, socket: Socket, head: Buffer) => void) | null,
  onUpgradeHandle: LeanSettings['onUpgradeHandle'] = null,
): { server: NetServer; http: LeanHttp } | null {
  const ll = llhttp();
  if (ll === null) return null;
  const http = new LeanHttp({
    ctx,
    headerTimeoutMs: group.headerTimeout * 1000,
    idleTimeoutMs: group.idleTimeout * 1000,
    maxBody: group.maxPackageSize,
    onRequest,
    onUpgrade,
    onUpgradeHandle,
  }, ll);
  // Half-open: a client's FIN still lets the answers to what it asked go out.
  const server = createNet({ noDelay: true, allowHalfOpen: true }, http.accept);
  server.on('close', () => http.stop());
  leanServers.set(server, http);
  return { server, http };
}

const leanServers = new WeakMap<NetServer, LeanHttp>();

/**
 * What takes a lean server's connection as a bare handle (no net.Socket), for the worker to
 * install with acceptHandles beside its balancer; null for any other server.
 */
export function leanHandleAcceptor(server: NetServer): ((handle: StreamHandle) => void) | null {
  return leanServers.get(server)?.acceptHandle ?? null;
}

/** Serves http:// requests on the lean path: static files first, then the handler. */
export function leanHttp(group: GroupConfig, ctx: ListenerContext): NetServer | null {
  return createLeanServer(group, ctx, (ex) => serveRequest(ex, ctx, group), null)?.server ?? null;
}

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

/** Serves https:// requests (and http:// without the lean path) on http.Server. */
export function attachHttp(server: Server, ctx: ListenerContext, group: GroupConfig): void {
  trackSockets(server, ctx);
  server.on('request', (req: IncomingMessage, res: ServerResponse) => {
    const entry = socketEntry(req.socket);
    if (entry) {
      entry.inFlight++;
      res.once('close', () => entry.answered());
    }
    serveRequest(new NodeExchange(req, res, entry ?? null), ctx, group);
  });
}

/** 426 for a plain HTTP request to a websocket listener. */
export function upgradeRequired(res: ServerResponse): void {
  res.writeHead(426, { 'content-type': 'text/plain; charset=utf-8', upgrade: 'websocket', connection: 'Upgrade' });
  res.end('Upgrade Required\n');
}
