// worker.connect(url, opts): async clients with Workerman's AsyncTcpConnection / beyod
// StreamClient semantics. This file parses the URL and holds the stream client (tcp, text,
// frame, custom NAME:// protocols, each optionally over TLS; tls:// is tcp over TLS); ws://
// and wss:// are in client-ws.ts, udp:// in client-udp.ts, the reconnect cycle shared by all
// three in client-cycle.ts.
//
// Semantics, for all clients:
// - connect() returns at once; the first attempt starts on the next turn of the event loop,
//   so the caller sets onConnect/onMessage/onClose/onError/onBufferFull/onBufferDrain first.
// - state: 'connecting' -> 'established' -> 'closing' -> 'closed'.
// - A failed attempt (refused, unreachable, TLS or WebSocket handshake refused, or no
//   connection within `timeout` seconds) calls onError with a LoomError whose code is
//   LOOM_ERR_CONNECT_FAILED (the system error as its cause) or LOOM_ERR_CONNECT_TIMEOUT,
//   then onClose, as Workerman does (so a pipe() partner is closed too).
// - reconnectInterval > 0: after a failed attempt or a passive close (the peer closed, a
//   network error, a bad packet) the client tries again after that many seconds. close() and
//   destroy() never reconnect; reconnect(afterSeconds) does it on demand, also after close(),
//   and on a live connection drops it first (onClose fires, then the new attempt).
// - send() before the connection is up (or while a reconnect is due) queues the encoded data
//   and returns null, up to maxSendBufferSize bytes (onBufferFull when reached, then false
//   with onError LOOM_ERR_SEND_BUFFER_FULL); the queue goes out, in order, before onConnect
//   runs. It is dropped when the client is closed or gives up (no reconnect due).
// - close() while connecting abandons the attempt and the queued data.
import { connect as netConnect, isIP, type Socket } from 'node:net';
import { connect as tlsConnect, type ConnectionOptions } from 'node:tls';
import { parseListen, type ListenSpec } from '../config/listen.js';
import { findProtocolFile, loadProtocolFile } from '../core/protocol-loader.js';
import { LoomError } from '../core/errors.js';
import { BUILTIN } from '../protocols/builtin.js';
import type { AsyncConnection, ConnectOptions, ProtocolModule } from '../types/handler.js';
import {
  CLIENT_MAX_PACKAGE_SIZE, CLIENT_MAX_SEND_BUFFER_SIZE, Cycle, SendQueue, connectError, seconds, timeoutError,
  type ClientBase, type ClientDeps, type ClientState,
} from '../clients/cycle.js';
import { UdpClient } from '../clients/udp-client.js';
import { WsClient } from '../clients/ws-client.js';
import { StreamBase, type StreamContext } from '../core/stream.js';

export type { ClientDeps } from '../clients/cycle.js';

let nextClientId = 1;

export function connect(url: string, opts: ConnectOptions, deps: ClientDeps): AsyncConnection {
  if (typeof url !== 'string') throw new LoomError('LOOM_ERR_CONNECT_URL', `worker.connect(): the URL must be a string, got ${typeof url}`);
  const base: ClientBase = {
    id: deps.nextConnectionId ? deps.nextConnectionId() : nextClientId++,
    url,
    reconnectInterval: seconds(opts.reconnectInterval, 'reconnectInterval'),
    timeout: seconds(opts.timeout, 'timeout'),
    deps,
  };
  const scheme = /^([A-Za-z][A-Za-z0-9_+-]*):\/\//.exec(url.trim())?.[1].toLowerCase();
  if (scheme === 'ws' || scheme === 'wss') {
    let parsed: URL;
    try {
      parsed = new URL(url.trim());
    } catch {
      throw new LoomError('LOOM_ERR_CONNECT_URL', `worker.connect("${url}"): not a valid ws:// or wss:// URL`);
    }
    return new WsClient(base, parsed, tlsOptions(opts.tls, parsed.hostname.replace(/^\[(.*)\]$/, '$1')));
  }
  let spec: ListenSpec;
  try {
    spec = parseListen(url);
  } catch (err) {
    throw new LoomError('LOOM_ERR_CONNECT_URL', `worker.connect("${url}"): ${(err as Error).message}`);
  }
  if (spec.transport === 'udp') return new UdpClient(base, spec);
  let name = spec.protocol;
  let tls = opts.tls !== undefined && opts.tls !== false;
  if (name === 'tls') { name = 'tcp'; tls = true; }
  if (name === 'http' || name === 'https' || name === 'websocket' || name === 'wss') {
    throw new LoomError('LOOM_ERR_CONNECT_URL', `worker.connect("${url}"): ${name} is not a client protocol of Loom; use ws:// or wss:// for WebSocket, fetch() for HTTP`);
  }
  if (tls && spec.transport === 'unix') {
    throw new LoomError('LOOM_ERR_CONNECT_URL', `worker.connect("${url}"): TLS over a unix socket is not supported`);
  }
  let protocol: ProtocolModule | Promise<ProtocolModule> | undefined = BUILTIN[name];
  if (!protocol) {
    const file = findProtocolFile(deps.handlersDir, name);
    if (!file) throw new LoomError('LOOM_ERR_CONNECT_URL', `worker.connect("${url}"): no protocol module ${name} in ${deps.handlersDir}/protocols (.js, .cjs, .mjs or .ts)`);
    protocol = loadProtocol(file);
  }
  return new StreamClient(base, spec, name, protocol, tls ? tlsOptions(opts.tls === undefined ? true : opts.tls, spec.host) : null);
}

/** Custom protocol modules, loaded once per worker process. */
const protocols = new Map<string, Promise<ProtocolModule>>();

function loadProtocol(file: string): Promise<ProtocolModule> {
  let p = protocols.get(file);
  if (!p) {
    p = loadProtocolFile(file);
    // A module that failed to load is tried again by the next connect(), once fixed.
    p.catch(() => protocols.delete(file));
    protocols.set(file, p);
  }
  return p;
}

/** tls.connect options from ConnectOptions.tls; SNI names the host unless it is an IP. */
function tlsOptions(tls: ConnectOptions['tls'], host: string): ConnectionOptions | null {
  if (tls === undefined || tls === false) return null;
  const opts: ConnectionOptions = tls === true ? {} : { ...(tls as ConnectionOptions) };
  if (opts.servername === undefined && host && isIP(host) === 0) opts.servername = host;
  return opts;
}

/** A stream client: the framing and send buffer of server connections, over its own socket. */
export class StreamClient extends StreamBase implements AsyncConnection {
  onConnect?: (conn: AsyncConnection) => unknown;
  private readonly cycle: Cycle;
  private readonly queue = new SendQueue();
  /** The attempt whose failure was reported: its later socket errors are not news. */
  private failed = 0;
  private loading: Promise<ProtocolModule> | null = null;
  private readonly url: string;
  private readonly timeout: number;

  constructor(
    base: ClientBase,
    private readonly spec: ListenSpec,
    protocolName: string,
    protocol: ProtocolModule | Promise<ProtocolModule>,
    private readonly tls: ConnectionOptions | null,
  ) {
    const { deps } = base;
    const ctx: StreamContext = {
      url: base.url,
      protocol: protocol instanceof Promise ? BUILTIN.tcp : protocol,
      handler: {},
      guard: deps.guard,
      stats: deps.stats,
      log: deps.log,
    };
    super(base.id, protocolName, deps.worker, CLIENT_MAX_SEND_BUFFER_SIZE, CLIENT_MAX_PACKAGE_SIZE, ctx);
    this.url = base.url;
    this.timeout = base.timeout;
    if (protocol instanceof Promise) this.loading = protocol;
    this.remoteAddress = spec.transport === 'unix' ? spec.path : spec.host;
    this.remotePort = spec.port;
    this.cycle = new Cycle(base.reconnectInterval, base.timeout, (attempt) => void this.begin(attempt));
    this.cycle.schedule(0);
  }

  override get state(): ClientState {
    return this.cycle.state(this.closing);
  }

  private async begin(attempt: number): Promise<void> {
    if (this.loading) {
      try {
        this.ctx.protocol = await this.loading;
        this.loading = null;
      } catch (err) {
        if (attempt !== this.cycle.attempt || this.cycle.stopped) return;
        // A broken protocol module does not get better by retrying: report, stop.
        this.cycle.stop();
        this.call('onError', this.onError, err instanceof Error ? err : new Error(String(err)));
        this.endWithoutSocket();
        return;
      }
      if (attempt !== this.cycle.attempt || this.cycle.stopped) return;
    }
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
    this.cycle.armTimeout(() => this.fail(attempt, timeoutError(this.url, this.timeout)));
  }

  private established(socket: Socket): void {
    if (socket !== this.socket || this.closed) return;
    this.cycle.opened();
    if (socket.remoteAddress) this.remoteAddress = socket.remoteAddress;
    if (socket.remotePort) this.remotePort = socket.remotePort;
    const queued = this.queue.take();
    if (queued.length > 0) {
      socket.cork();
      for (const item of queued) socket.write(item);
      socket.uncork();
    }
    // The buffer was full (sends queued while connecting, or the previous socket's backlog):
    // onBufferDrain once the kernel took it all.
    if (this.bufferFull) socket.write(Buffer.alloc(0), this.afterFlush);
    this.call('onConnect', this.onConnect as ((c: unknown) => unknown) | undefined);
  }

  /** A failed attempt: onError once, then the socket is dropped (onClose, maybe a retry). */
  private fail(attempt: number, err: Error): void {
    if (attempt !== this.cycle.attempt || this.failed === attempt || this.cycle.phase !== 'connecting') return;
    this.failed = attempt;
    this.call('onError', this.onError, err);
    this.socket.destroy();
  }

  protected override socketError(socket: Socket, err: Error): void {
    if (socket !== this.socket) return;
    if (this.cycle.phase === 'connecting') this.fail(this.cycle.attempt, connectError(this.url, err));
    else super.socketError(socket, err);
  }

  protected override socketClosed(socket: Socket): void {
    if (socket !== this.socket || this.closed) return;
    this.cycle.ended();
    super.socketClosed(socket); // onClose
    this.afterClose();
  }

  protected detached(): void {}

  private afterClose(): void {
    if (!this.cycle.next()) this.dropQueue();
  }

  /** onClose for an attempt that ended before it had a socket (close() while loading). */
  private endWithoutSocket(): void {
    this.cycle.ended();
    this.closed = true;
    this.call('onClose', this.onClose);
    this.afterClose();
  }

  private dropQueue(): void {
    this.queue.clear();
    this.bufferFull = false;
  }

  override send(data: unknown, raw = false): boolean | null {
    if (this.cycle.phase === 'open') return super.send(data, raw);
    if (!this.cycle.queueing) {
      this.ctx.stats.sendFailures++;
      return false;
    }
    if (this.queue.bytes >= this.maxSendBufferSize) {
      this.refuse();
      return false;
    }
    const payload = this.encode(data, raw);
    if (payload === null) return false;
    this.queue.push(payload);
    if (!this.bufferFull && this.queue.bytes >= this.maxSendBufferSize) this.full();
    return null;
  }

  override close(data?: unknown, raw = false): void {
    this.cycle.stop();
    if (this.cycle.phase === 'open') return super.close(data, raw);
    this.abandon();
  }

  override destroy(): void {
    this.cycle.stop();
    if (this.cycle.phase === 'open') return this.abort();
    this.abandon();
  }

  /** close() or destroy() before the connection is up: the attempt and the queue are dropped. */
  private abandon(): void {
    this.dropQueue();
    if (this.cycle.phase !== 'connecting') return; // closed already (maybe waiting to reconnect: cancelled)
    if (this.socket && !this.socket.destroyed && !this.closed) this.socket.destroy(); // onClose follows
    else this.endWithoutSocket();
  }

  reconnect(afterSeconds = 0): void {
    const after = seconds(afterSeconds, 'reconnect(afterSeconds)');
    this.cycle.stopped = false;
    this.cycle.cancel();
    const live = this.socket && !this.closed && !this.socket.destroyed;
    if (live) {
      this.cycle.requested = after;
      this.socket.destroy(); // onClose, then the attempt after `after` seconds
    } else {
      this.cycle.schedule(after);
    }
  }

  protected override peerDescription(): string {
    return `to ${this.spec.transport === 'unix' ? this.spec.path : `${this.remoteAddress}:${this.remotePort}`}`;
  }
}
