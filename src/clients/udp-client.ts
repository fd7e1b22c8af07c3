// udp://host:port async clients: a connected dgram socket, so send() goes to that address and
// only its datagrams arrive; each datagram is one message (a Buffer). "Connecting" is only the
// address lookup; a port nobody listens on shows as onError (ECONNREFUSED from the ICMP
// answer) on a later send, and the socket stays usable. Lifecycle: see client.ts.
import { createSocket, type Socket } from 'node:dgram';
import { isIP } from 'node:net';
import type { ListenSpec } from '../config/listen.js';
import type { AsyncConnection, Connection, Message, Worker } from '../types/handler.js';
import {
  CLIENT_MAX_PACKAGE_SIZE, CLIENT_MAX_SEND_BUFFER_SIZE, Cycle, SendQueue, connectError, emit, seconds, timeoutError,
  type ClientBase, type ClientDeps, type ClientState,
} from '../clients/cycle.js';

/** The largest UDP payload over IPv4. */
const MAX_DATAGRAM = 65507;
/** Datagrams kept while receiving is paused; later ones are dropped, as a full socket would. */
const MAX_PAUSED = 1024;

export class UdpClient implements AsyncConnection {
  readonly id: number;
  readonly protocol = 'udp';
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

  socket: Socket | null = null;
  private readonly cycle: Cycle;
  private readonly queue = new SendQueue<Buffer>();
  private readonly deps: ClientDeps;
  private readonly url: string;
  private readonly timeout: number;
  private paused = false;
  private held: Buffer[] = [];
  private failed = 0;

  constructor(base: ClientBase, private readonly spec: ListenSpec) {
    this.id = base.id;
    this.deps = base.deps;
    this.worker = base.deps.worker;
    this.url = base.url;
    this.timeout = base.timeout;
    this.remoteAddress = spec.host;
    this.remotePort = spec.port;
    this.cycle = new Cycle(base.reconnectInterval, base.timeout, (attempt) => this.begin(attempt));
    this.cycle.schedule(0);
  }

  get state(): ClientState {
    return this.cycle.state(false);
  }

  private begin(attempt: number): void {
    const socket = createSocket(isIP(this.spec.host) === 6 ? 'udp6' : 'udp4');
    this.socket = socket;
    socket.on('message', (msg: Buffer) => this.receive(socket, msg));
    socket.on('error', (err) => {
      if (socket !== this.socket) return;
      if (this.cycle.phase === 'connecting') this.fail(attempt, connectError(this.url, err));
      else this.call('onError', this.onError, err);
    });
    socket.on('close', () => this.closed(socket));
    socket.connect(this.spec.port, this.spec.host, (err?: Error) => {
      if (err) this.fail(attempt, connectError(this.url, err));
      else this.established(socket);
    });
    this.cycle.armTimeout(() => this.fail(attempt, timeoutError(this.url, this.timeout)));
  }

  private established(socket: Socket): void {
    if (socket !== this.socket || this.cycle.phase !== 'connecting') return;
    this.cycle.opened();
    const peer = socket.remoteAddress();
    this.remoteAddress = peer.address;
    this.remotePort = peer.port;
    for (const msg of this.queue.take()) this.write(socket, msg);
    this.call('onConnect', this.onConnect);
  }

  private receive(socket: Socket, msg: Buffer): void {
    if (socket !== this.socket) return;
    const { stats } = this.deps;
    if (msg.length > this.maxPackageSize) {
      stats.badPackets++;
      return;
    }
    if (this.paused) {
      if (this.held.length < MAX_PAUSED) this.held.push(msg);
      return;
    }
    stats.totalRequests++;
    stats.bytesIn += msg.length;
    this.deps.guard.invoke('onMessage', this.onMessage, this, this as Connection, msg);
  }

  private fail(attempt: number, err: Error): void {
    if (attempt !== this.cycle.attempt || this.failed === attempt || this.cycle.phase !== 'connecting') return;
    this.failed = attempt;
    this.call('onError', this.onError, err);
    this.socket?.close();
  }

  private closed(socket: Socket): void {
    if (socket !== this.socket || this.cycle.phase === 'closed') return;
    this.cycle.ended();
    this.held = [];
    this.call('onClose', this.onClose);
    if (!this.cycle.next()) this.queue.clear();
  }

  send(data: unknown, raw = false): boolean | null {
    void raw; // a datagram is sent as is: a string or Buffer, anything else as String(data)
    const buf = Buffer.isBuffer(data) ? data : data instanceof Uint8Array ? Buffer.from(data) : Buffer.from(String(data));
    if (buf.length > MAX_DATAGRAM) {
      this.deps.stats.sendFailures++;
      return false;
    }
    const { socket } = this;
    if (this.cycle.phase !== 'open' || !socket) {
      if (!this.cycle.queueing || this.queue.bytes + buf.length > this.maxSendBufferSize) {
        this.deps.stats.sendFailures++;
        return false;
      }
      this.queue.push(buf);
      return null;
    }
    this.write(socket, buf);
    return true;
  }

  private write(socket: Socket, buf: Buffer): void {
    socket.send(buf, (err) => {
      if (err) {
        this.deps.stats.sendFailures++;
        if (socket === this.socket) this.call('onError', this.onError, err);
      } else {
        this.deps.stats.bytesOut += buf.length;
      }
    });
  }

  close(data?: unknown, raw = false): void {
    if (data !== undefined && this.cycle.phase === 'open') this.send(data, raw);
    this.destroy();
  }

  destroy(): void {
    this.cycle.stop();
    this.queue.clear();
    this.shut();
  }

  /** Closes the current socket, if open: onClose follows. */
  private shut(): void {
    if (this.cycle.phase === 'closed') return;
    if (!this.socket) {
      // Closed before the first attempt began.
      this.cycle.ended();
      this.call('onClose', this.onClose);
      return;
    }
    this.failed = this.cycle.attempt;
    try {
      this.socket.close();
    } catch {
      /* already closed */
    }
  }

  reconnect(afterSeconds = 0): void {
    const after = seconds(afterSeconds, 'reconnect(afterSeconds)');
    this.cycle.stopped = false;
    this.cycle.cancel();
    if (this.cycle.phase !== 'closed' && this.socket) {
      this.cycle.requested = after;
      this.shut();
    } else {
      this.cycle.schedule(after);
    }
  }

  pauseRecv(): void {
    this.paused = true;
  }

  resumeRecv(): void {
    if (!this.paused) return;
    this.paused = false;
    const held = this.held;
    this.held = [];
    for (const msg of held) {
      if (this.paused) { this.held.push(msg); continue; }
      if (this.socket) this.receive(this.socket, msg);
    }
  }

  pipe(dest: Connection): void {
    this.onMessage = (_c, d) => dest.send(d);
    this.onClose = () => dest.close();
  }

  private call(label: string, fn: ((...args: never[]) => unknown) | undefined, ...args: unknown[]): void {
    emit(this.deps.guard, label, fn, this, ...args);
  }
}
