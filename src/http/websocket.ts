// websocket:// (ws://) listeners: the handshake on Loom's lean HTTP path (wss:// on Node's
// http.Server), framing by the `ws` package (noServer: ws only completes the handshake).
// onWebSocketConnect(conn, request) sees path, query, headers and may refuse the client;
// strings go out as text frames, Buffers as binary; a message over max_package_size closes
// with 1009 (ws's maxPayload); idle peers are pinged and dropped when silent.
import type { IncomingMessage, Server } from 'node:http';
import type { Server as NetServer, Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { WebSocket, WebSocketServer, type RawData } from 'ws';
import type { GroupConfig } from '../config/types.js';
import type { ConnectionInfo } from '../core/connection.js';
import type { ListenerContext } from '../core/context.js';
import { WebSocketBase } from '../core/websocket.js';
import { HttpRequest, type RequestHead } from './request.js';
import { forgetSession } from './session.js';
import { createLeanServer, dropSocketEntry, socketEntry, trackSockets, upgradeRequired } from './server.js';

/** The TCP connection a WebSocket grew from, as listed until the handshake: its id and peer. */
interface Origin { readonly id: number; readonly remoteAddress: string; readonly remotePort: number }

/**
 * ws's WebSocket with a field for its Loom connection: the shared listeners find it there, and
 * a field declared in the class lives inside the object (a symbol added later would not).
 */
class OwnedWs extends WebSocket {
  loomConn: WsConnection | null = null;
}

export class WsConnection extends WebSocketBase {
  /** Answered the last ping (or sent something) since the previous heartbeat. */
  alive = true;
  /** Its socket came from the lean HTTP path, whose listeners left it: its bytes count here. */
  private countsBytes = false;
  protected declare readonly ctx: ListenerContext;

  constructor(readonly socket: Socket, entry: Origin | undefined, ctx: ListenerContext) {
    super(entry?.id ?? ctx.nextConnectionId(), 'websocket', ctx.worker, ctx.maxSendBufferSize, ctx.maxPackageSize, ctx);
    if (entry) {
      this.remoteAddress = entry.remoteAddress;
      this.remotePort = entry.remotePort;
    } else {
      this.remoteAddress = socket.remoteAddress ?? '';
      this.remotePort = socket.remotePort ?? 0;
    }
  }

  /** The handshake is done: the TCP connection is now this WebSocket, listed as such. */
  opened(ws: WebSocket): void {
    this.adopt(ws);
    this.ctx.replace(this);
    dropSocketEntry(this.socket);
    this.countsBytes = forgetSession(this.socket);
    // Shared listeners that find their connection on the WebSocket: no closures per client
    // (and on(), not once(), for close: once() wraps the listener in a closure).
    (ws as OwnedWs).loomConn = this;
    ws.on('pong', WsConnection.onPong);
    ws.on('message', WsConnection.onFrame);
    ws.on('error', WsConnection.onWsError);
    ws.on('close', WsConnection.onWsClose);
    this.call('onConnect');
  }

  private static onPong(this: WebSocket): void { (this as OwnedWs).loomConn!.alive = true; }
  private static onFrame(this: WebSocket, data: RawData, isBinary: boolean): void {
    const conn = (this as OwnedWs).loomConn!;
    conn.alive = true;
    conn.receiveFrame(data, isBinary);
  }
  private static onWsError(this: WebSocket, err: Error & { code?: string }): void {
    const conn = (this as OwnedWs).loomConn!;
    if (err.code === 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH') conn.ctx.stats.badPackets++;
    conn.call('onError', err);
  }
  private static onWsClose(this: WebSocket): void {
    const conn = (this as OwnedWs).loomConn!;
    if (conn.countsBytes) {
      conn.ctx.stats.bytesIn += conn.socket.bytesRead;
      conn.ctx.stats.bytesOut += conn.socket.bytesWritten;
    }
    conn.ctx.unregister(conn);
    conn.call('onClose');
  }

  close(data?: unknown, raw = false): void {
    if (this.ws) this.closeWebSocket(data, raw);
    else this.socket.destroy();
  }

  destroy(): void {
    if (this.ws) this.ws.terminate();
    else this.socket.destroy();
  }

  override describe(now: number): ConnectionInfo | null {
    return this.socketRow(this.socket, 'in', this.ws?.bufferedAmount ?? 0, now);
  }
}

/** A ws:// server on the lean HTTP path; null where the parser binding is missing. */
export function leanWebSocket(group: GroupConfig, ctx: ListenerContext): NetServer | null {
  const wss = webSocketServer(group);
  const lean = createLeanServer(
    group, ctx,
    (ex) => ex.respond(426, UPGRADE_HEADERS, 'text/plain; charset=utf-8', 'Upgrade Required\n'),
    (ex, socket, head) => {
      const conn = new WsConnection(socket, ex.session, ctx);
      void upgrade(wss, ex, ex, socket, head, conn, ctx);
    },
  );
  if (lean === null) return null;
  heartbeat(ctx, group);
  return lean.server;
}

const UPGRADE_HEADERS = { Upgrade: 'websocket', Connection: 'Upgrade' };

function webSocketServer(group: GroupConfig): WebSocketServer {
  // Loom lists its connections itself: ws's client set would hold a closure per client.
  return new WebSocketServer({ noServer: true, clientTracking: false, WebSocket: OwnedWs, maxPayload: group.maxPackageSize, perMessageDeflate: group.permessageDeflate });
}

/** wss:// (and ws:// without the lean path) on http.Server. */
export function attachWebSocket(server: Server, ctx: ListenerContext, group: GroupConfig): void {
  trackSockets(server, ctx);
  const wss = webSocketServer(group);
  server.on('request', (_req, res) => upgradeRequired(res));
  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    const conn = new WsConnection(req.socket, socketEntry(req.socket), ctx);
    const entry = socketEntry(req.socket);
    const head_: RequestHead = {
      method: req.method ?? 'GET', url: req.url ?? '/', headers: req.headers,
      remoteAddress: entry?.remoteAddress ?? req.socket.remoteAddress ?? '', remotePort: entry?.remotePort ?? req.socket.remotePort ?? 0,
    };
    void upgrade(wss, req, head_, socket, head, conn, ctx);
  });
  heartbeat(ctx, group);
}

function heartbeat(ctx: ListenerContext, group: GroupConfig): void {
  // Heartbeat: a peer that has not answered the last ping within idle_timeout is dropped.
  const timer = setInterval(() => {
    for (const c of ctx.connections.values()) {
      if (!(c instanceof WsConnection) || !c.ws) continue;
      if (!c.alive) { c.ws.terminate(); continue; }
      c.alive = false;
      c.ws.ping();
    }
  }, group.idleTimeout * 1000);
  timer.unref();
}

/**
 * onWebSocketConnect's verdict, then ws's handshake. req is what ws reads (method, url,
 * headers): an IncomingMessage, or the lean path's exchange.
 */
async function upgrade(wss: WebSocketServer, req: Pick<IncomingMessage, 'method' | 'url' | 'headers'>, request: RequestHead, socket: Duplex, head: Buffer, conn: WsConnection, ctx: ListenerContext): Promise<void> {
  const refuse = (status: string) => {
    socket.end(`HTTP/1.1 ${status}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
    socket.destroy();
  };
  const check = ctx.handler.onWebSocketConnect;
  if (check) {
    let verdict: unknown;
    try {
      verdict = await check.call(ctx.handler, conn, new HttpRequest(request, Buffer.alloc(0)));
    } catch (err) {
      ctx.guard.report('onWebSocketConnect', err);
      return refuse('403 Forbidden');
    }
    if (verdict === false) return refuse('403 Forbidden');
  }
  if (socket.destroyed) return;
  wss.handleUpgrade(req as IncomingMessage, socket, head, (ws) => conn.opened(ws));
}
