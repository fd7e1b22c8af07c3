// tcp, text, frame and custom NAME:// clients, each optionally over TLS (tls:// is tcp over
// TLS), and their unix-socket forms: the framing and send buffer of server stream connections,
// over a socket of their own that every (re)connect replaces. Lifecycle: clients/cycle.ts.
import { connect as netConnect, type Socket } from 'node:net';
import { connect as tlsConnect, type ConnectionOptions } from 'node:tls';
import type { ListenSpec } from '../config/listen.js';
import type { ConnectionInfo } from '../core/connection.js';
import { StreamBase } from '../core/stream.js';
import { BUILTIN } from '../protocols/builtin.js';
import type { AsyncConnection, ProtocolModule } from '../types/handler.js';
import { ClientCycle, type ClientState, type ClientTransport } from './cycle.js';
import { CLIENT_MAX_PACKAGE_SIZE, CLIENT_MAX_SEND_BUFFER_SIZE, clientContext, type ClientSettings } from './options.js';

const EMPTY = Buffer.alloc(0);

export class StreamClient extends StreamBase implements AsyncConnection, ClientTransport {
  onConnect?: (conn: AsyncConnection) => unknown;
  readonly cycle: ClientCycle;
  /** A custom protocol module still loading (the first attempt waits for it). */
  private loading: Promise<ProtocolModule> | null;

  constructor(
    s: ClientSettings,
    private readonly spec: ListenSpec,
    protocolName: string,
    protocol: ProtocolModule | Promise<ProtocolModule>,
    private readonly tls: ConnectionOptions | null,
  ) {
    const ready = protocol instanceof Promise ? null : protocol;
    super(s.id, protocolName, s.deps.worker, CLIENT_MAX_SEND_BUFFER_SIZE, CLIENT_MAX_PACKAGE_SIZE, clientContext(s, ready ?? BUILTIN.tcp));
    this.loading = ready ? null : (protocol as Promise<ProtocolModule>);
    this.remoteAddress = spec.transport === 'unix' ? spec.path : spec.host;
    this.remotePort = spec.port;
    this.cycle = new ClientCycle(this, s.reconnectInterval, s.timeout, s.url);
  }

  override get state(): ClientState {
    return this.cycle.state(this.closing);
  }

  /** @internal ClientTransport */
  begin(attempt: number): void {
    if (this.loading) {
      this.loading.then((protocol) => {
        this.ctx.protocol = protocol;
        this.loading = null;
        if (this.cycle.current(attempt)) this.open();
      }, (err: unknown) => {
        if (!this.cycle.current(attempt)) return;
        // A broken protocol module does not get better by retrying: report, stop.
        this.cycle.stop();
        this.cycle.fail(attempt, err instanceof Error ? err : new Error(String(err)));
      });
      return;
    }
    this.open();
  }

  private open(): void {
    const { spec } = this;
    let socket: Socket;
    if (this.tls) {
      socket = tlsConnect({ ...this.tls, host: spec.host, port: spec.port });
      socket.once('secureConnect', () => this.established(socket));
    } else {
      socket = spec.transport === 'unix' ? netConnect({ path: spec.path }) : netConnect({ host: spec.host, port: spec.port });
      socket.once('connect', () => this.established(socket));
    }
    socket.setNoDelay(true);
    this.attach(socket);
  }

  private established(socket: Socket): void {
    if (socket !== this.socket || this.closed) return;
    this.cycle.opened();
    if (socket.remoteAddress) this.remoteAddress = socket.remoteAddress;
    if (socket.remotePort) this.remotePort = socket.remotePort;
    const queued = this.cycle.queue.take();
    if (queued.length > 0) {
      socket.cork();
      for (const item of queued) socket.write(item);
      socket.uncork();
    }
    // The buffer was full (sends queued while connecting, or the previous socket's backlog):
    // onBufferDrain once the kernel took it all.
    if (this.bufferFull) socket.write(EMPTY, this.afterFlush);
    this.call('onConnect');
  }

  /** @internal ClientTransport */
  hasTransport(): boolean {
    return this.socket !== undefined && !this.closed && !this.socket.destroyed;
  }

  /** @internal ClientTransport */
  dropTransport(): void {
    this.socket.destroy();
  }

  /** @internal ClientTransport */
  reportError(err: Error): void {
    this.call('onError', err);
  }

  /** @internal ClientTransport */
  closedWithoutTransport(): void {
    this.closed = true;
    this.call('onClose');
  }

  /** @internal ClientTransport */
  queueDropped(): void {
    this.bufferFull = false;
  }

  protected override socketError(socket: Socket, err: Error): void {
    if (socket === this.socket) this.cycle.error(this.cycle.attempt, err);
  }

  protected override socketClosed(socket: Socket): void {
    if (socket !== this.socket || this.closed) return;
    this.cycle.ended();
    super.socketClosed(socket); // onClose
    this.cycle.afterClose();
  }

  protected detached(): void {}

  protected override callbackThis(): unknown {
    return this;
  }

  override send(data: unknown, raw = false): boolean | null {
    if (this.cycle.phase === 'open') return super.send(data, raw);
    return this.hold(this.cycle.queue, this.cycle.queueing, () => this.encode(data, raw));
  }

  override close(data?: unknown, raw = false): void {
    if (this.cycle.phase !== 'open') return this.cycle.abandon();
    this.cycle.stop();
    super.close(data, raw);
  }

  override destroy(): void {
    if (this.cycle.phase !== 'open') return this.cycle.abandon();
    this.cycle.stop();
    this.abort();
  }

  reconnect(afterSeconds = 0): void {
    this.cycle.reconnect(afterSeconds);
  }

  override describe(now: number): ConnectionInfo | null {
    return this.cycle.phase === 'open' ? this.socketRow(this.socket, 'out', this.socket.writableLength, now) : null;
  }

  protected override peerDescription(): string {
    return `to ${this.spec.transport === 'unix' ? this.spec.path : `${this.remoteAddress}:${this.remotePort}`}`;
  }
}
