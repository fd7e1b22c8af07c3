// websocket:// (ws://) listeners: the handshake on Loom's lean HTTP path (wss:// on Node's
// http.Server), framing by the `ws` package (noServer: ws only completes the handshake).
// onWebSocketConnect(conn, request) sees path, query, headers and may refuse the client;
// strings go out as text frames, Buffers as binary; a message over max_package_size closes
// with 1009 (ws's maxPayload); idle peers are pinged and dropped when silent.
import { createHash, hash } from 'node:crypto';
import type { IncomingMessage, Server } from 'node:http';
import { Socket, type Server as NetServer } from 'node:net';
import type { Duplex } from 'node:stream';
import { WebSocket, WebSocketServer, type RawData } from 'ws';
import type { GroupConfig } from '../config/types.js';
import type { ConnectionInfo } from '../core/connection.js';
import type { ListenerContext } from '../core/context.js';
import { SMALL, WebSocketBase, smallFrame } from '../core/websocket.js';
import { bareHandles, detachHandle, handleFigures, readResult, shutdownHandle, socketAround, UV_ECANCELED, UV_EOF, writeToHandle, type HandleWriter, type StreamHandle } from '../core/bare-handle.js';
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

/** What parking reads of ws's state (ws 8), and the method that gives a WebSocket its socket. */
interface WsState {
  _extensions: Record<string, unknown>;
  _paused: boolean;
  _closeFrameSent: boolean;
  _closeFrameReceived: boolean;
  _protocol: string;
  _pendingAutoPongs?: number;
  _receiver: { _bufferedBytes: number; _state: number; _fragmented: number; _loop: boolean; _errored: boolean; writableLength: number } | null;
  _sender: { _state: number; _queue: unknown[]; _firstFragment: boolean; _bufferedBytes: number } | null;
  setSocket(socket: Socket, head: Buffer, options: Record<string, unknown>): void;
}

/** A connection with no frame either way for this long (one to two sweeps) is parked. */
const PARK_MS = 1000;
/** A server's ping with no payload, written to a parked connection. */
const PING = Buffer.from([0x89, 0x00]);
const EMPTY = Buffer.alloc(0);
const kConn = Symbol('loom.wsConnection');
type ParkedHandle = StreamHandle & { [kConn]?: WsConnection };

/**
 * A client's answer to the ping above, whole in one read: masked, opcode pong, FIN, a payload
 * a control frame may have (up to 125 bytes), nothing after it. It keeps a parked connection
 * parked; anything else wakes the connection and goes to ws.
 */
function isWholePong(b: Buffer): boolean {
  return b.length >= 6 && b[0] === 0x8a && (b[1] & 0x80) !== 0 && b.length === 6 + (b[1] & 0x7f);
}

/**
 * An accepted WebSocket. Idle, it is parked: ws's objects and the Socket are let go and only
 * the runtime's handle is kept (core/bare-handle.ts), some 2 KB instead of 6-7; its first frame
 * (or a send ws must frame, a close, a pause) makes them anew around the same handle. Small
 * frames to a parked client (a broadcast) are written to the handle as they are; the heartbeat's
 * ping too, and the pong it brings back is recognised without waking the connection.
 */
export class WsConnection extends WebSocketBase implements HandleWriter {
  /** Answered the last ping (or sent something) since the previous heartbeat. */
  alive = true;
  /** A frame went either way since the last park sweep. */
  private active = true;
  /** Its socket came from the lean HTTP path, whose listeners left it: its bytes count here. */
  private countsBytes = false;
  /** While parked: the handle; the WebSocket (ws) is null then. */
  private handle: ParkedHandle | null = null;
  /** Bytes written to the parked handle that the kernel has not taken yet. */
  private handleQueued = 0;
  /** The subprotocol agreed in the handshake, for the WebSocket made on waking. */
  private subprotocol = '';
  /** The TCP connection's Socket; null while parked (it is let go then). */
  socket: Socket | null;
  protected declare readonly ctx: ListenerContext;

  /**
   * socket: null for a lean session's bare handle (openOnHandle). wss: whose options a
   * WebSocket made on waking takes; null: never parked (TLS).
   */
  constructor(socket: Socket | null, entry: Origin | undefined, ctx: ListenerContext, private readonly wss: WebSocketServer | null) {
    super(entry?.id ?? ctx.nextConnectionId(), 'websocket', ctx.worker, ctx.maxSendBufferSize, ctx.maxPackageSize, ctx);
    this.socket = socket;
    if (entry) {
      this.remoteAddress = entry.remoteAddress;
      this.remotePort = entry.remotePort;
    } else {
      this.remoteAddress = socket?.remoteAddress ?? '';
      this.remotePort = socket?.remotePort ?? 0;
    }
  }

  /**
   * Answers a plain handshake (plainAccept) itself and starts parked: a client that sends
   * nothing never gets ws's WebSocket, Receiver and Sender, nor their garbage in a burst of
   * handshakes. False, with nothing changed, when this connection cannot park (TLS), the
   * handshake is not a plain one or the socket cannot give its handle up now: ws completes
   * the handshake then.
   */
  openParked(socket: Socket, head: Buffer, req: Pick<IncomingMessage, 'method' | 'headers'>): boolean {
    if (this.wss === null) return false;
    const answer = plainAccept(req, this.wss);
    if (answer === null) return false;
    const handle = detachHandle(socket, WsConnection.onParkedRead) as ParkedHandle | null;
    if (handle === null) return false;
    // Its bytes so far are the handle's too: the connection counts them when it ends.
    this.countsBytes = forgetSession(socket);
    dropSocketEntry(socket);
    this.socket = null;
    this.bornParked(handle, head, answer);
    return true;
  }

  /** As openParked, for a lean session's bare handle (never a Socket): its bytes count here. */
  openOnHandle(handle: StreamHandle, head: Buffer, answer: string): void {
    handle.onread = WsConnection.onParkedRead;
    this.countsBytes = true;
    this.bornParked(handle, head, answer);
  }

  private bornParked(handle: ParkedHandle, head: Buffer, answer: string): void {
    this.handle = handle;
    handle[kConn] = this;
    this.active = false;
    this.ctx.replace(this);
    const r = writeToHandle(handle, answer, this);
    if (r > 0) this.handleQueued += r;
    this.call('onConnect');
    // A failed write: dropped after its onConnect, as ws reports a socket that failed.
    if (r < 0) this.shutParked();
    else if (head.length > 0 && this.handle !== null) this.wake(head);
  }

  /** The handshake is done: the TCP connection is now this WebSocket, listed as such. */
  opened(ws: WebSocket): void {
    const socket = this.socket!;
    this.adopt(ws);
    this.ctx.replace(this);
    dropSocketEntry(socket);
    this.countsBytes = forgetSession(socket);
    this.listen(ws);
    // Held since the handshake (the lean session paused it), unless the handler paused it.
    if (!this.paused) socket.resume();
    this.call('onConnect');
  }

  private listen(ws: WebSocket): void {
    // Shared listeners that find their connection on the WebSocket: no closures per client
    // (and on(), not once(), for close: once() wraps the listener in a closure).
    (ws as OwnedWs).loomConn = this;
    ws.on('pong', WsConnection.onPong);
    ws.on('message', WsConnection.onFrame);
    ws.on('error', WsConnection.onWsError);
    ws.on('close', WsConnection.onWsClose);
  }

  private static onPong(this: WebSocket): void { (this as OwnedWs).loomConn!.alive = true; }
  private static onFrame(this: WebSocket, data: RawData, isBinary: boolean): void {
    const conn = (this as OwnedWs).loomConn!;
    conn.alive = true;
    conn.active = true;
    conn.receiveFrame(data, isBinary);
  }
  private static onWsError(this: WebSocket, err: Error & { code?: string }): void {
    const conn = (this as OwnedWs).loomConn!;
    if (err.code === 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH') conn.ctx.stats.badPackets++;
    conn.call('onError', err);
  }
  private static onWsClose(this: WebSocket): void {
    const conn = (this as OwnedWs).loomConn!;
    const socket = conn.socket!;
    conn.ended(socket.bytesRead, socket.bytesWritten);
  }

  private ended(bytesIn: number, bytesOut: number): void {
    if (this.countsBytes) {
      this.ctx.stats.bytesIn += bytesIn;
      this.ctx.stats.bytesOut += bytesOut;
    }
    this.ctx.unregister(this);
    this.call('onClose');
  }

  // --- parking ---

  /** The park sweep: a connection that saw no frame since the last one is parked. */
  sweep(): void {
    if (this.ws === null) return;
    if (this.active) this.active = false;
    else this.park();
  }

  /** Parks the connection when nothing is under way in ws, its socket or the handler's flow control. */
  private park(): void {
    const ws = this.ws as (WebSocket & WsState) | null;
    if (ws === null || this.wss === null || this.closing || this.paused || this.bufferFull || ws.readyState !== WebSocket.OPEN) return;
    const r = ws._receiver;
    const sd = ws._sender;
    if (ws._paused || ws._closeFrameSent || ws._closeFrameReceived || (ws._pendingAutoPongs ?? 0) > 0 || Object.keys(ws._extensions).length > 0) return;
    if (!r || r._bufferedBytes !== 0 || r._state !== 0 || r._fragmented !== 0 || r._loop || r._errored || r.writableLength !== 0) return;
    if (!sd || sd._state !== 0 || sd._queue.length !== 0 || !sd._firstFragment || sd._bufferedBytes !== 0) return;
    const handle = detachHandle(this.socket!, WsConnection.onParkedRead) as ParkedHandle | null;
    if (handle === null) return;
    this.socket = null;
    ws.removeAllListeners();
    (ws as unknown as OwnedWs).loomConn = null;
    this.subprotocol = ws._protocol;
    this.ws = null;
    this.handle = handle;
    handle[kConn] = this;
  }

  private static onParkedRead(this: ParkedHandle, buf?: ArrayBuffer): void {
    const conn = this[kConn];
    if (!conn) return;
    const got = readResult(buf);
    if (typeof got === 'number') {
      if (got < 0) conn.parkedEnded(got);
      return;
    }
    conn.alive = true;
    if (!isWholePong(got)) conn.wake(got);
  }

  /** A WebSocket and a Socket around the parked handle again; head: bytes read while parked. */
  private wake(head: Buffer): void {
    const handle = this.handle!;
    const wss = this.wss!;
    this.handle = null;
    handle[kConn] = undefined;
    const socket = socketAround(handle, !this.paused);
    this.socket = socket;
    // As ws's server makes one: no address (a server's end), the server's options.
    const ws = new (OwnedWs as unknown as new (address: null, protocols: undefined, options: object) => OwnedWs & WsState)(null, undefined, wss.options);
    ws._protocol = this.subprotocol;
    const o = wss.options as Record<string, unknown>;
    ws.setSocket(socket, head, {
      allowSynchronousEvents: o.allowSynchronousEvents, maxBufferedChunks: o.maxBufferedChunks,
      maxFragments: o.maxFragments, maxPayload: o.maxPayload, skipUTF8Validation: o.skipUTF8Validation,
    });
    this.adopt(ws);
    this.listen(ws);
    this.active = true;
  }

  /**
   * The peer's FIN or reset on a parked connection: closed, after what libuv still holds of a
   * write for a FIN (ws ends its socket so); no onError for a reset, as ws reports none.
   */
  private parkedEnded(code: number): void {
    const handle = this.handle;
    if (handle === null || this.closing) return;
    this.closing = true;
    handle.readStop();
    if (code === UV_EOF && this.handleQueued > 0) shutdownHandle(handle, () => this.closeParked(handle));
    else this.closeParked(handle);
  }

  /** Closes a parked connection's handle now (as ws.terminate() would its socket). */
  private shutParked(): void {
    const handle = this.handle;
    if (handle === null || this.closing) return;
    this.closing = true;
    handle.readStop();
    this.closeParked(handle);
  }

  private closeParked(handle: ParkedHandle): void {
    handle.close(() => {
      this.handle = null;
      handle[kConn] = undefined;
      this.ended(handle.bytesRead, handle.bytesWritten);
    });
  }

  /** A frame straight to the parked handle; undefined when it must go through ws (woken). */
  private writeParked(frame: Buffer): boolean | null | undefined {
    if (this.closing) return this.failed();
    if (this.handleQueued > 0) {
      // The kernel is not taking bytes: ws and its Socket keep the count from here on.
      this.wake(EMPTY);
      return undefined;
    }
    const r = writeToHandle(this.handle!, frame, this);
    if (r < 0) return this.failed();
    this.handleQueued += r;
    return this.afterWrite(this.handleQueued);
  }

  /**
   * A queued write to the parked handle is done: drained when nothing else is queued. Failed:
   * the connection is dropped (ws reports no error for its socket's). Cancelled: it was closed.
   */
  handleWritten(status: number): void {
    this.handleQueued = 0;
    if (status === UV_ECANCELED || this.closing) return;
    if (status < 0) {
      if (this.handle !== null) this.shutParked();
      return;
    }
    if (!this.bufferFull) return;
    if (this.handle !== null || (this.ws !== null && this.queuedOf(this.ws) === 0)) this.drained();
    else this.watchFlush();
  }

  protected override queuedOf(ws: WebSocket): number {
    return ws.bufferedAmount + this.handleQueued;
  }

  override sendFrame(payload: string | Uint8Array, text: boolean): boolean | null {
    if (this.handle !== null) {
      if (this.closing) return this.failed();
      const n = typeof payload === 'string' ? Buffer.byteLength(payload) : payload.byteLength;
      const r = n < SMALL ? this.writeParked(smallFrame(payload, text)) : (this.wake(EMPTY), undefined);
      if (r !== undefined) return r;
    }
    this.active = true;
    return super.sendFrame(payload, text);
  }

  override sendBuilt(frame: Buffer, payload: Buffer, text: boolean): boolean | null {
    if (this.handle !== null) {
      const r = this.writeParked(frame);
      if (r !== undefined) return r;
    }
    this.active = true;
    return super.sendBuilt(frame, payload, text);
  }

  /** The heartbeat: a peer that did not answer the last ping is dropped, the others pinged. */
  heartbeat(): void {
    if (this.handle !== null) {
      if (!this.alive) return this.shutParked();
      this.alive = false;
      if (this.writeParked(PING) === undefined) this.ws?.ping(); // woken: the kernel was not taking bytes
      return;
    }
    const { ws } = this;
    if (ws === null) return;
    if (!this.alive) { ws.terminate(); return; }
    this.alive = false;
    ws.ping();
  }

  close(data?: unknown, raw = false): void {
    if (this.handle !== null && !this.closing) this.wake(EMPTY);
    if (this.ws) this.closeWebSocket(data, raw);
    else this.socket?.destroy();
  }

  destroy(): void {
    if (this.handle !== null) this.shutParked();
    else if (this.ws) this.ws.terminate();
    else this.socket?.destroy();
  }

  override pauseRecv(): void {
    super.pauseRecv();
    this.handle?.readStop();
  }

  override resumeRecv(): void {
    const wasPaused = this.paused;
    super.resumeRecv();
    if (wasPaused && this.handle !== null && !this.closing) this.handle.readStart();
  }

  override describe(now: number): ConnectionInfo | null {
    const { handle } = this;
    if (handle === null) return this.socket ? this.socketRow(this.socket, 'in', this.ws?.bufferedAmount ?? 0, now) : null;
    return { ...this.socketRow(handleFigures(handle), 'in', this.handleQueued, now), parked: true };
  }
}

/** A ws:// server on the lean HTTP path; null where the parser binding is missing. */
export function leanWebSocket(group: GroupConfig, ctx: ListenerContext): NetServer | null {
  const wss = webSocketServer(group);
  const lean = createLeanServer(
    group, ctx,
    (ex) => ex.respond(426, UPGRADE_HEADERS, 'text/plain; charset=utf-8', 'Upgrade Required\n'),
    (ex, socket, head) => {
      const conn = new WsConnection(socket, ex.session, ctx, wss);
      void upgrade(wss, ex, ex, socket, head, conn, ctx);
    },
    // A plain handshake to a handler that does not vet clients: answered on the bare handle.
    (ex, handle, head) => {
      if (ctx.handler.onWebSocketConnect || !bareHandles) return false;
      const answer = plainAccept(ex, wss);
      if (answer === null) return false;
      new WsConnection(null, ex.session, ctx, wss).openOnHandle(handle, head, answer);
      return true;
    },
  );
  if (lean === null) return null;
  heartbeat(ctx, group);
  if (bareHandles) {
    const parker = setInterval(() => {
      for (const c of ctx.connections.values()) if (c instanceof WsConnection) c.sweep();
    }, PARK_MS);
    parker.unref();
  }
  return lean.server;
}

const GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';
/** A Sec-WebSocket-Key as ws accepts it: 16 bytes in base64. */
const KEY = /^[+/0-9A-Za-z]{22}==$/;
/** One-shot SHA-1 (no Hash object with native state per handshake) where the runtime has it. */
const sha1 = typeof hash === 'function'
  ? (s: string) => hash('sha1', s, 'base64')
  : (s: string) => createHash('sha1').update(s).digest('base64');

/**
 * The 101 answer to a handshake that ws would accept exactly as it is and that leaves nothing
 * to choose (no subprotocol asked for, no extension to negotiate), checked as ws checks it;
 * null for anything else, which ws answers (its own errors included).
 */
function plainAccept(req: Pick<IncomingMessage, 'method' | 'headers'>, wss: WebSocketServer): string | null {
  const h = req.headers;
  if (req.method !== 'GET' || h['sec-websocket-protocol'] !== undefined) return null;
  if (wss.options.perMessageDeflate && h['sec-websocket-extensions'] !== undefined) return null;
  const key = h['sec-websocket-key'];
  const version = Number(h['sec-websocket-version']);
  if (h.upgrade?.toLowerCase() !== 'websocket' || key === undefined || !KEY.test(key) || (version !== 13 && version !== 8)) return null;
  return `HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${sha1(key + GUID)}\r\n\r\n`;
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
    const conn = new WsConnection(req.socket, socketEntry(req.socket), ctx, null);
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
    for (const c of ctx.connections.values()) if (c instanceof WsConnection) c.heartbeat();
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
  if (socket instanceof Socket && conn.openParked(socket, head, req)) return;
  wss.handleUpgrade(req as IncomingMessage, socket, head, (ws) => conn.opened(ws));
}
