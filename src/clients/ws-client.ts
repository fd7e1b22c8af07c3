// ws:// and wss:// async clients, on the `ws` package's WebSocket. Text messages arrive as
// strings, binary ones as Buffers; send(string) sends a text frame, send(Buffer) a binary
// one, anything else as JSON text (raw: String(data)). Lifecycle: see client.ts.
import type { Socket } from 'node:net';
import type { ConnectionOptions } from 'node:tls';
import { WebSocket, type RawData } from 'ws';
import { LoomError } from '../core/errors.js';
import type { AsyncConnection, Connection, Message, Worker } from '../types/handler.js';
import {
  CLIENT_MAX_PACKAGE_SIZE, CLIENT_MAX_SEND_BUFFER_SIZE, Cycle, SendQueue, connectError, emit, seconds, timeoutError,
  type ClientBase, type ClientDeps, type ClientState,
} from '../clients/cycle.js';

/** Node's default high-water mark of a writable stream. */
const HIGH_WATER_MARK = 16384;

export class WsClient implements AsyncConnection {
  readonly id: number;
  readonly protocol = 'websocket';
  readonly worker: Worker;
  readonly createdAt = Date.now();
  remoteAddress: string;
  remotePort: number;
  data: Record<string, unknown> = {};
  maxSendBufferSize = CLIENT_MAX_SEND_BUFFER_SIZE;
  maxPackageSize = CLIENT_MAX_PACKAGE_SIZE;
  onConnect?: (conn: AsyncConnection) => unknown;
  onMessage?: (conn: Connection, data: Message) => unknown;
  onClose?: (conn: Connection) => unknown;
  onError?: (conn: Connection, err: Error) => unknown;
  onBufferFull?: (conn: Connection) => unknown;
  onBufferDrain?: (conn: Connection) => unknown;

  /** The WebSocket of the current attempt. */
  ws: WebSocket | null = null;
  private readonly cycle: Cycle;
  private readonly queue = new SendQueue();
  private readonly deps: ClientDeps;
  private readonly url: string;
  private readonly timeout: number;
  private closing = false;
  private paused = false;
  private bufferFull = false;
  private failed = 0;

  constructor(base: ClientBase, private readonly target: URL, private readonly tls: ConnectionOptions | null) {
    this.id = base.id;
    this.deps = base.deps;
    this.worker = base.deps.worker;
    this.url = base.url;
    this.timeout = base.timeout;
    this.remoteAddress = target.hostname.replace(/^\[(.*)\]$/, '$1');
    this.remotePort = target.port ? Number(target.port) : target.protocol === 'wss:' ? 443 : 80;
    this.cycle = new Cycle(base.reconnectInterval, base.timeout, (attempt) => this.begin(attempt));
    this.cycle.schedule(0);
  }

  get state(): ClientState {
    return this.cycle.state(this.closing);
  }

  private begin(attempt: number): void {
    this.closing = false;
    let ws: WebSocket;
    try {
      ws = new WebSocket(this.target, { ...(this.tls ?? {}), maxPayload: this.maxPackageSize });
    } catch (err) {
      // ws validates the URL synchronously; a bad one never gets better.
      this.cycle.stop();
      this.call('onError', this.onError, connectError(this.url, err as Error));
      this.cycle.ended();
      this.call('onClose', this.onClose);
      return;
    }
    this.ws = ws;
    ws.on('open', () => this.established(ws));
    ws.on('message', (data: RawData, isBinary: boolean) => {
      if (ws !== this.ws) return;
      this.deps.stats.totalRequests++;
      const buf = Array.isArray(data) ? Buffer.concat(data) : Buffer.isBuffer(data) ? data : Buffer.from(data);
      this.deps.guard.invoke('onMessage', this.onMessage, this, this as Connection, isBinary ? buf : buf.toString('utf8'));
    });
    ws.on('error', (err: Error & { code?: string }) => {
      if (ws !== this.ws) return;
      if (err.code === 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH') this.deps.stats.badPackets++;
      if (this.cycle.phase === 'connecting') this.fail(attempt, connectError(this.url, err));
      else this.call('onError', this.onError, err);
    });
    ws.on('close', () => this.closed(ws));
    this.cycle.armTimeout(() => this.fail(attempt, timeoutError(this.url, this.timeout)));
  }

  private established(ws: WebSocket): void {
    if (ws !== this.ws) return;
    this.cycle.opened();
    const socket = (ws as unknown as { _socket?: Socket })._socket;
    if (socket?.remoteAddress) this.remoteAddress = socket.remoteAddress;
    if (socket?.remotePort) this.remotePort = socket.remotePort;
    if (this.paused) ws.pause();
    for (const item of this.queue.take()) ws.send(item, { binary: typeof item !== 'string' }, () => this.sent());
    if (this.bufferFull) this.sent();
    this.call('onConnect', this.onConnect);
  }

  private fail(attempt: number, err: Error): void {
    if (attempt !== this.cycle.attempt || this.failed === attempt || this.cycle.phase !== 'connecting') return;
    this.failed = attempt;
    this.call('onError', this.onError, err);
    this.ws?.terminate();
  }

  private closed(ws: WebSocket): void {
    if (ws !== this.ws || this.cycle.phase === 'closed') return;
    this.cycle.ended();
    this.call('onClose', this.onClose);
    if (!this.cycle.next()) this.dropQueue();
  }

  send(data: unknown, raw = false): boolean | null {
    const { ws } = this;
    const payload = typeof data === 'string' || data instanceof Uint8Array ? data : raw ? String(data) : JSON.stringify(data);
    if (this.cycle.phase !== 'open' || !ws) {
      if (!this.cycle.queueing) {
        this.deps.stats.sendFailures++;
        return false;
      }
      if (this.queue.bytes >= this.maxSendBufferSize) {
        this.refuse();
        return false;
      }
      this.queue.push(payload);
      if (!this.bufferFull && this.queue.bytes >= this.maxSendBufferSize) this.full();
      return null;
    }
    if (this.closing || ws.readyState !== WebSocket.OPEN) {
      this.deps.stats.sendFailures++;
      return false;
    }
    if (ws.bufferedAmount >= this.maxSendBufferSize) {
      this.refuse();
      return false;
    }
    ws.send(payload, { binary: typeof payload !== 'string' }, () => this.sent());
    if (!this.bufferFull && ws.bufferedAmount >= this.maxSendBufferSize) {
      this.full();
      return null;
    }
    // As on stream connections: "sent" unless a backlog past the stream's high-water mark
    // builds up (over TLS nothing leaves synchronously, so 0 would mean never).
    return ws.bufferedAmount < HIGH_WATER_MARK ? true : null;
  }

  private refuse(): void {
    this.deps.stats.sendFailures++;
    this.call('onError', this.onError, new LoomError('LOOM_ERR_SEND_BUFFER_FULL', `send buffer of connection ${this.id} is full (${this.maxSendBufferSize} bytes); data dropped`));
  }

  private full(): void {
    this.bufferFull = true;
    this.call('onBufferFull', this.onBufferFull);
  }

  /** Callback of every write: drained once the WebSocket holds nothing unsent. */
  private sent(): void {
    if (this.bufferFull && this.ws && this.ws.bufferedAmount === 0) {
      this.bufferFull = false;
      this.call('onBufferDrain', this.onBufferDrain);
    }
  }

  close(data?: unknown, raw = false): void {
    this.cycle.stop();
    if (this.cycle.phase === 'open' && this.ws) {
      if (this.closing) return;
      if (data !== undefined) this.send(data, raw);
      this.closing = true;
      this.ws.close(1000);
      return;
    }
    this.abandon();
  }

  destroy(): void {
    this.cycle.stop();
    if (this.cycle.phase === 'open' && this.ws) {
      this.closing = true;
      this.ws.terminate();
      return;
    }
    this.abandon();
  }

  private abandon(): void {
    this.dropQueue();
    if (this.cycle.phase !== 'connecting') return; // closed already (a due reconnect is cancelled)
    if (this.ws) return this.drop(this.ws); // onClose follows
    // Closed before the first attempt began.
    this.cycle.ended();
    this.call('onClose', this.onClose);
  }

  /** Ends the current attempt or connection without an onError for it. */
  private drop(ws: WebSocket): void {
    this.failed = this.cycle.attempt;
    ws.terminate();
  }

  private dropQueue(): void {
    this.queue.clear();
    this.bufferFull = false;
  }

  reconnect(afterSeconds = 0): void {
    const after = seconds(afterSeconds, 'reconnect(afterSeconds)');
    this.cycle.stopped = false;
    this.cycle.cancel();
    if (this.cycle.phase !== 'closed' && this.ws) {
      this.cycle.requested = after;
      this.drop(this.ws); // onClose, then the attempt after `after` seconds
    } else {
      this.cycle.schedule(after);
    }
  }

  pauseRecv(): void {
    this.paused = true;
    this.ws?.pause();
  }

  resumeRecv(): void {
    this.paused = false;
    this.ws?.resume();
  }

  pipe(dest: Connection): void {
    this.onMessage = (_c, d) => dest.send(d);
    this.onClose = () => dest.close();
    dest.onBufferFull = () => this.pauseRecv();
    dest.onBufferDrain = () => this.resumeRecv();
  }

  private call(label: string, fn: ((...args: never[]) => unknown) | undefined, ...args: unknown[]): void {
    emit(this.deps.guard, label, fn, this, ...args);
  }
}
