// websocket:// (ws://) listeners: the handshake on Node's http server, framing by the `ws`
// package. onWebSocketConnect(conn, request) sees path, query, headers and may refuse the
// client; strings go out as text frames, Buffers as binary; a message over max_package_size
// closes with 1009 (ws's maxPayload); idle peers are pinged and dropped when silent.
import type { IncomingMessage, Server } from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type RawData, type WebSocket } from 'ws';
import type { GroupConfig } from '../config/types.js';
import type { ConnectionInfo } from '../core/connection.js';
import type { ListenerContext } from '../core/context.js';
import { WebSocketBase } from '../core/websocket.js';
import type { HttpSocket } from './connection.js';
import { buildRequest } from './request.js';
import { dropSocketEntry, socketEntry, trackSockets, upgradeRequired } from './server.js';

const kConn = Symbol('loom.wsConnection');
type OwnedWs = WebSocket & { [kConn]?: WsConnection };

export class WsConnection extends WebSocketBase {
  /** Answered the last ping (or sent something) since the previous heartbeat. */
  alive = true;
  protected declare readonly ctx: ListenerContext;

  constructor(readonly socket: Socket, entry: HttpSocket | undefined, ctx: ListenerContext) {
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
    // Shared listeners that find their connection on the WebSocket: no closures per client.
    (ws as OwnedWs)[kConn] = this;
    ws.on('pong', WsConnection.onPong);
    ws.on('message', WsConnection.onFrame);
    ws.on('error', WsConnection.onWsError);
    ws.once('close', WsConnection.onWsClose);
    this.call('onConnect');
  }

  private static onPong(this: OwnedWs): void { this[kConn]!.alive = true; }
  private static onFrame(this: OwnedWs, data: RawData, isBinary: boolean): void {
    const conn = this[kConn]!;
    conn.alive = true;
    conn.receiveFrame(data, isBinary);
  }
  private static onWsError(this: OwnedWs, err: Error & { code?: string }): void {
    const conn = this[kConn]!;
    if (err.code === 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH') conn.ctx.stats.badPackets++;
    conn.call('onError', err);
  }
  private static onWsClose(this: OwnedWs): void {
    const conn = this[kConn]!;
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

export function attachWebSocket(server: Server, ctx: ListenerContext, group: GroupConfig): void {
  trackSockets(server, ctx);
  const wss = new WebSocketServer({ noServer: true, maxPayload: group.maxPackageSize, perMessageDeflate: group.permessageDeflate });
  server.on('request', (_req, res) => upgradeRequired(res));
  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    void upgrade(wss, req, socket, head, ctx);
  });
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

async function upgrade(wss: WebSocketServer, req: IncomingMessage, socket: Duplex, head: Buffer, ctx: ListenerContext): Promise<void> {
  const conn = new WsConnection(req.socket, socketEntry(req.socket), ctx);
  const refuse = (status: string) => {
    socket.end(`HTTP/1.1 ${status}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
    socket.destroy();
  };
  const check = ctx.handler.onWebSocketConnect;
  if (check) {
    let verdict: unknown;
    try {
      verdict = await check.call(ctx.handler, conn, buildRequest(req, Buffer.alloc(0)));
    } catch (err) {
      ctx.guard.report('onWebSocketConnect', err);
      return refuse('403 Forbidden');
    }
    if (verdict === false) return refuse('403 Forbidden');
  }
  if (socket.destroyed) return;
  wss.handleUpgrade(req, socket, head, (ws) => conn.opened(ws));
}
