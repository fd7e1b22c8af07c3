// websocket:// (ws://) listeners: the handshake on Node's http server, framing by the `ws`
// package. onWebSocketConnect(conn, request) sees path, query, headers and may refuse the
// client; strings go out as text frames, Buffers as binary; a message over max_package_size
// closes with 1009 (ws's maxPayload); idle peers are pinged and dropped when silent.
import type { IncomingMessage, Server } from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type RawData, type WebSocket } from 'ws';
import type { GroupConfig } from '../config/types.js';
import { LoomError } from '../core/errors.js';
import type { Connection, Message, Worker } from '../types/handler.js';
import type { ListenerContext } from '../core/context.js';
import { buildRequest } from './request.js';
import { socketEntry, trackSockets, upgradeRequired } from './server.js';

/** Below this many buffered bytes a send counts as sent (as on stream connections). */
const QUEUED_BYTES = 16384;

export class WsConnection implements Connection {
  readonly protocol = 'websocket';
  readonly remoteAddress: string;
  readonly remotePort: number;
  readonly worker: Worker;
  readonly createdAt = Date.now();
  data: Record<string, unknown> = {};
  maxSendBufferSize: number;
  maxPackageSize: number;
  ws: WebSocket | null = null;
  alive = true;
  private bufferFull = false;
  onMessage?: (conn: Connection, data: Message) => unknown;
  onClose?: (conn: Connection) => unknown;
  onError?: (conn: Connection, err: Error) => unknown;
  onBufferFull?: (conn: Connection) => unknown;
  onBufferDrain?: (conn: Connection) => unknown;

  constructor(readonly id: number, readonly socket: Socket, private readonly ctx: ListenerContext) {
    this.remoteAddress = socket.remoteAddress ?? '';
    this.remotePort = socket.remotePort ?? 0;
    this.worker = ctx.worker;
    this.maxSendBufferSize = ctx.maxSendBufferSize;
    this.maxPackageSize = ctx.maxPackageSize;
  }

  send(data: unknown, raw = false): boolean | null {
    const { ws, ctx } = this;
    if (!ws || ws.readyState !== ws.OPEN) {
      ctx.stats.sendFailures++;
      return false;
    }
    if (ws.bufferedAmount >= this.maxSendBufferSize) {
      ctx.stats.sendFailures++;
      ctx.guard.call('onError', this.onError ?? ctx.handler.onError, ctx.handler, this, new LoomError('LOOM_ERR_SEND_BUFFER_FULL', `send buffer of connection ${this.id} is full (${this.maxSendBufferSize} bytes); data dropped`));
      return false;
    }
    const payload = typeof data === 'string' || data instanceof Uint8Array ? data : raw ? String(data) : JSON.stringify(data);
    ws.send(payload, { binary: typeof payload !== 'string' }, () => this.sent());
    if (!this.bufferFull && ws.bufferedAmount >= this.maxSendBufferSize) {
      this.bufferFull = true;
      ctx.guard.call('onBufferFull', this.onBufferFull ?? ctx.handler.onBufferFull, ctx.handler, this);
    }
    // Over TLS bytes are always momentarily buffered: 'queued' means a real backlog.
    return ws.bufferedAmount < QUEUED_BYTES ? true : null;
  }

  private sent(): void {
    if (this.bufferFull && this.ws && this.ws.bufferedAmount === 0) {
      this.bufferFull = false;
      this.ctx.guard.call('onBufferDrain', this.onBufferDrain ?? this.ctx.handler.onBufferDrain, this.ctx.handler, this);
    }
  }

  close(data?: unknown, raw = false): void {
    if (data !== undefined) this.send(data, raw);
    if (this.ws) this.ws.close(1000);
    else this.socket.destroy();
  }

  destroy(): void {
    if (this.ws) this.ws.terminate();
    else this.socket.destroy();
  }

  pauseRecv(): void { this.ws?.pause(); }
  resumeRecv(): void { this.ws?.resume(); }

  pipe(dest: Connection): void {
    this.onMessage = (_c, d) => dest.send(d);
    this.onClose = () => dest.close();
    dest.onBufferFull = () => this.pauseRecv();
    dest.onBufferDrain = () => this.resumeRecv();
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
  const entry = socketEntry(req.socket);
  const conn = new WsConnection(entry?.id ?? ctx.nextConnectionId(), req.socket, ctx);
  const request = buildRequest(req, Buffer.alloc(0));
  const refuse = (status: string) => {
    socket.end(`HTTP/1.1 ${status}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
    socket.destroy();
  };
  const check = ctx.handler.onWebSocketConnect;
  if (check) {
    let verdict: unknown;
    try {
      verdict = await check.call(ctx.handler, conn, request);
    } catch (err) {
      ctx.guard.report('onWebSocketConnect', err);
      return refuse('403 Forbidden');
    }
    if (verdict === false) return refuse('403 Forbidden');
  }
  if (socket.destroyed) return;
  wss.handleUpgrade(req, socket, head, (ws) => {
    conn.ws = ws;
    // The TCP connection now belongs to this WebSocket: list it as such.
    if (entry) ctx.connections.set(entry.id, conn);
    else {
      ctx.connections.set(conn.id, conn);
      ctx.stats.connections++;
      ctx.stats.totalConnections++;
      ws.once('close', () => { ctx.connections.delete(conn.id); ctx.stats.connections--; });
    }
    ws.on('pong', () => { conn.alive = true; });
    ws.on('message', (data: RawData, isBinary: boolean) => {
      conn.alive = true;
      ctx.stats.totalRequests++;
      const buf = Array.isArray(data) ? Buffer.concat(data) : Buffer.isBuffer(data) ? data : Buffer.from(data);
      ctx.guard.invoke('onMessage', conn.onMessage ?? ctx.handler.onMessage, ctx.handler, conn as Connection, isBinary ? buf : buf.toString('utf8'));
    });
    ws.on('error', (err: Error & { code?: string }) => {
      if (err.code === 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH') ctx.stats.badPackets++;
      ctx.guard.call('onError', conn.onError ?? ctx.handler.onError, ctx.handler, conn, err);
    });
    ws.once('close', () => ctx.guard.call('onClose', conn.onClose ?? ctx.handler.onClose, ctx.handler, conn));
    ctx.guard.call('onConnect', ctx.handler.onConnect, ctx.handler, conn);
  });
}
