// A worker's listener: it adopts the socket the master bound and accepts on it (stream kinds,
// TLS, http and websocket), or reads datagrams from it (udp).
import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { createServer, type Server, type Socket } from 'node:net';
import { createServer as createTlsServer } from 'node:tls';
import type { TlsMaterial } from '../config/tls.js';
import type { GroupConfig } from '../config/types.js';
import type { ListenerContext } from '../core/context.js';
import { LoomError } from '../core/errors.js';
import { StreamConnection } from '../core/stream-connection.js';
import { attachHttp, createWebServer, leanHttp } from '../http/server.js';
import { attachWebSocket, leanWebSocket } from '../http/websocket.js';

/** Handles the kernel gives the master; received here as raw libuv handles. */
export interface RawHandle { fd: number; close(): void }

/** How often (at most) failing accepts are logged: the first at once, then a count per interval. */
const ACCEPT_LOG_MS = 10_000;

export function listenStream(handle: RawHandle, group: GroupConfig, tls: TlsMaterial | null, ctx: ListenerContext, onConnection: (s: Socket) => void): Promise<Server> {
  const listen = group.listen!;
  let server: Server;
  const web = listen.protocol === 'http' || listen.protocol === 'websocket';
  // Plain http:// and ws:// on the lean path; TLS (and a runtime without the parser binding) on http.Server.
  const lean = web && !tls ? (listen.protocol === 'http' ? leanHttp(group, ctx) : leanWebSocket(group, ctx)) : null;
  if (lean) {
    server = lean;
  } else if (web) {
    const node = createWebServer(group, tls);
    if (listen.protocol === 'http') attachHttp(node, ctx, group);
    else attachWebSocket(node, ctx, group);
    server = node;
  } else if (tls) {
    // TLS text/frame/tcp/custom: connections are handed over only after the handshake, so
    // they are not balanced by hand-off (worker/balance.ts); the handshake cost spreads them.
    server = createTlsServer(tls, (socket) => {
      socket.setNoDelay(true);
      new StreamConnection(socket, ctx);
    });
    server.on('tlsClientError', (err: Error, socket: Socket) => {
      ctx.badPackets.report('TLS handshake failed', `from ${socket.remoteAddress}:${socket.remotePort}`, err.message);
    });
  } else {
    // Paused: a connection handed to a sibling must not have a byte read here.
    server = createServer({ noDelay: true, pauseOnConnect: true }, onConnection);
  }
  return new Promise((resolve, reject) => {
    const onBindError = (err: Error) => reject(new LoomError('LOOM_ERR_BIND', `${listen.url}: ${err.message}`));
    server.once('error', onBindError);
    const onListening = () => {
      server.off('error', onBindError);
      watchAcceptErrors(server, ctx);
      resolve(server);
    };
    // A TCP handle is adopted as is; a unix socket handle through its fd (as node:cluster does).
    if (listen.transport === 'unix') server.listen({ fd: handle.fd }, onListening);
    else server.listen(handle as never, onListening);
  });
}

/**
 * accept() errors that Node reports (out of memory or buffers; out of file descriptors only when
 * libuv cannot drop connections by itself, see fd-watch.ts): counted, and logged at once, then
 * once per interval with how many.
 */
function watchAcceptErrors(server: Server, ctx: ListenerContext): void {
  let unlogged = 0;
  let timer: NodeJS.Timeout | null = null;
  const line = (n: number, code: string) =>
    `LOOM_ERR_ACCEPT ${ctx.url}: accept failed ${n} time(s) with ${code}${code === 'EMFILE' || code === 'ENFILE' ? ' (out of file descriptors: raise LimitNOFILE or ulimit -n)' : ''}`;
  server.on('error', (err: NodeJS.ErrnoException) => {
    ctx.stats.acceptErrors++;
    const code = err.code ?? err.message;
    if (timer) {
      unlogged++;
      return;
    }
    ctx.log.error(line(1, code));
    timer = setTimeout(function flush() {
      timer = null;
      if (unlogged > 0) {
        ctx.log.error(line(unlogged, code));
        unlogged = 0;
        timer = setTimeout(flush, ACCEPT_LOG_MS).unref();
      }
    }, ACCEPT_LOG_MS).unref();
  });
}

export function listenUdp(handle: RawHandle, group: GroupConfig): Promise<UdpSocket> {
  return new Promise((resolve, reject) => {
    const socket = createSocket(group.listen!.host.includes(':') ? 'udp6' : 'udp4');
    socket.once('error', (err) => reject(new LoomError('LOOM_ERR_BIND', `${group.listen!.url}: ${err.message}`)));
    socket.bind({ fd: handle.fd }, () => resolve(socket));
  });
}
