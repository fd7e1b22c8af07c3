// ws:// and wss:// async clients, on the `ws` package's WebSocket: the frames and send buffer of
// accepted WebSocket connections (core/websocket.ts). Lifecycle: clients/cycle.ts.
import type { Socket } from 'node:net';
import type { ConnectionOptions } from 'node:tls';
import { WebSocket } from 'ws';
import type { ConnectionInfo } from '../core/connection.js';
import { WebSocketBase } from '../core/websocket.js';
import { BUILTIN } from '../protocols/builtin.js';
import type { AsyncConnection } from '../types/handler.js';
import { ClientCycle, connectError, type ClientState, type ClientTransport } from './cycle.js';
import { CLIENT_MAX_PACKAGE_SIZE, CLIENT_MAX_SEND_BUFFER_SIZE, clientContext, type ClientSettings } from './options.js';

export class WsClient extends WebSocketBase implements AsyncConnection, ClientTransport {
  onConnect?: (conn: AsyncConnection) => unknown;
  readonly cycle: ClientCycle;
  /** The WebSocket of the current attempt (this.ws once it is open). */
  private attemptWs: WebSocket | null = null;

  constructor(s: ClientSettings, private readonly target: URL, private readonly tls: ConnectionOptions | null) {
    super(s.id, 'websocket', s.deps.worker, CLIENT_MAX_SEND_BUFFER_SIZE, CLIENT_MAX_PACKAGE_SIZE, clientContext(s, BUILTIN.tcp));
    this.remoteAddress = target.hostname.replace(/^\[(.*)\]$/, '$1');
    this.remotePort = target.port ? Number(target.port) : target.protocol === 'wss:' ? 443 : 80;
    this.cycle = new ClientCycle(this, s.reconnectInterval, s.timeout, s.url);
  }

  get state(): ClientState {
    return this.cycle.state(this.closing);
  }

  /** @internal ClientTransport */
  begin(attempt: number): void {
    let ws: WebSocket;
    try {
      ws = new WebSocket(this.target, { ...(this.tls ?? {}), maxPayload: this.maxPackageSize });
    } catch (err) {
      // ws validates the URL synchronously; a bad one never gets better.
      this.cycle.stop();
      this.cycle.fail(attempt, connectError(this.ctx.url, err as Error));
      return;
    }
    this.attemptWs = ws;
    ws.on('open', () => this.established(ws));
    ws.on('message', (data, isBinary) => { if (ws === this.ws) this.receiveFrame(data, isBinary); });
    ws.on('error', (err: Error & { code?: string }) => {
      if (ws !== this.attemptWs) return;
      if (err.code === 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH') this.ctx.stats.badPackets++;
      this.cycle.error(attempt, err);
    });
    ws.on('close', () => this.closedWs(ws));
  }

  private established(ws: WebSocket): void {
    if (ws !== this.attemptWs) return;
    this.cycle.opened();
    const socket = (ws as unknown as { _socket?: Socket })._socket;
    if (socket?.remoteAddress) this.remoteAddress = socket.remoteAddress;
    if (socket?.remotePort) this.remotePort = socket.remotePort;
    this.adopt(ws);
    for (const item of this.cycle.queue.take()) ws.send(item, { binary: typeof item !== 'string' }, this.sent);
    if (this.bufferFull) this.sent();
    this.call('onConnect');
  }

  private closedWs(ws: WebSocket): void {
    if (ws !== this.attemptWs || this.cycle.phase === 'closed') return;
    this.attemptWs = null;
    this.cycle.ended();
    this.call('onClose');
    this.cycle.afterClose();
  }

  /** @internal ClientTransport */
  hasTransport(): boolean {
    return this.attemptWs !== null;
  }

  /** @internal ClientTransport */
  dropTransport(): void {
    this.attemptWs?.terminate();
  }

  /** @internal ClientTransport */
  reportError(err: Error): void {
    this.call('onError', err);
  }

  /** @internal ClientTransport */
  closedWithoutTransport(): void {
    this.call('onClose');
  }

  /** @internal ClientTransport */
  queueDropped(): void {
    this.bufferFull = false;
  }

  protected override callbackThis(): unknown {
    return this;
  }

  override send(data: unknown, raw = false): boolean | null {
    if (this.cycle.phase === 'open') return super.send(data, raw);
    return this.hold(this.cycle.queue, this.cycle.queueing, () =>
      typeof data === 'string' || data instanceof Uint8Array ? data : raw ? String(data) : JSON.stringify(data));
  }

  close(data?: unknown, raw = false): void {
    if (this.cycle.phase !== 'open') return this.cycle.abandon();
    this.cycle.stop();
    this.closeWebSocket(data, raw);
  }

  destroy(): void {
    if (this.cycle.phase !== 'open') return this.cycle.abandon();
    this.cycle.stop();
    this.closing = true;
    this.ws?.terminate();
  }

  reconnect(afterSeconds = 0): void {
    this.cycle.reconnect(afterSeconds);
  }

  override describe(now: number): ConnectionInfo | null {
    const s = (this.ws as unknown as { _socket?: Socket } | null)?._socket;
    return this.cycle.phase === 'open' && s ? this.socketRow(s, 'out', this.ws?.bufferedAmount ?? 0, now) : null;
  }
}
