// One http:// or ws:// listener's lean HTTP (http/session.ts has a connection's): its
// sessions, a pool of llhttp parsers lent to connections while they are mid-request, and one
// sweep of every connection's timeouts instead of a timer per socket.
import type { Socket } from 'node:net';
import type { ListenerContext } from '../core/context.js';
import type { StreamHandle } from '../core/bare-handle.js';
import type { LeanExchange } from './lean-exchange.js';
import type { Llhttp } from './llhttp.js';
import { HttpSession, advanceClock, kSession, listenToParser, type OwnedHandle, type OwnedParser, type OwnedSocket } from './session.js';

export interface LeanSettings {
  ctx: ListenerContext;
  headerTimeoutMs: number;
  idleTimeoutMs: number;
  maxBody: number;
  /** A complete request (its body read): static files, then the handler. */
  onRequest(ex: LeanExchange): void;
  /** ws:// listeners: an upgrade request, the socket it came on and the bytes after it. */
  onUpgrade: ((ex: LeanExchange, socket: Socket, head: Buffer) => void) | null;
  /**
   * ws:// listeners, before onUpgrade on a bare connection: true when it took the handle as it
   * is (a handshake answered without a Socket); false leaves it for onUpgrade, with a Socket.
   */
  onUpgradeHandle: ((ex: LeanExchange, handle: StreamHandle, head: Buffer) => boolean) | null;
}

/** Parsers kept for reuse. */
const POOL_MAX = 256;
const PARSER_RESOURCE = {};

/** One listener's lean HTTP: accepts sockets, sweeps their timeouts. */
export class LeanHttp {
  readonly sessions = new Set<HttpSession>();
  readonly ll: Llhttp;
  readonly keepAliveSeconds: number;
  private readonly sweeper: NodeJS.Timeout;
  private readonly pool: OwnedParser[] = [];

  constructor(readonly s: LeanSettings, ll: Llhttp) {
    this.ll = ll;
    this.keepAliveSeconds = Math.max(1, Math.round(s.idleTimeoutMs / 1000));
    this.sweeper = setInterval(() => this.sweep(), Math.max(100, Math.min(1000, s.headerTimeoutMs / 2)));
    this.sweeper.unref();
  }

  /** The listener's connection callback. */
  readonly accept = (socket: Socket): void => this.open(socket as OwnedSocket);

  /** A connection taken as a bare handle (acceptHandles). */
  readonly acceptHandle = (handle: StreamHandle): void => this.open(handle as OwnedHandle);

  private open(wire: OwnedSocket | OwnedHandle): void {
    const session = new HttpSession(wire, this);
    this.sessions.add(session);
    this.s.ctx.register(session);
  }

  takeParser(): OwnedParser {
    const P = this.ll.Parser;
    let p = this.pool.pop();
    if (p === undefined) {
      p = new P() as OwnedParser;
      listenToParser(p, this.ll);
    }
    p.initialize(P.REQUEST, PARSER_RESOURCE, 0, P.kLenientNone);
    return p;
  }

  /** Not during the execute that gave it back: the C++ parser may still be on the stack. */
  giveParser(p: OwnedParser): void {
    setImmediate(() => {
      if (this.pool.length < POOL_MAX) {
        p.free();
        this.pool.push(p);
      } else {
        p.close();
      }
    });
  }

  /** The listener closed for good: its sweep stops once its connections are gone. */
  stop(): void {
    this.stopped = true;
    if (this.sessions.size === 0) clearInterval(this.sweeper);
  }

  private stopped = false;

  private sweep(): void {
    const now = advanceClock();
    const { headerTimeoutMs, idleTimeoutMs } = this.s;
    for (const s of this.sessions) s.sweep(now, headerTimeoutMs, idleTimeoutMs);
  }

  /** A socket of this listener closed (an upgraded one too: its bytes count here). */
  socketClosed(socket: OwnedSocket): void {
    const s = socket[kSession];
    socket[kSession] = undefined;
    this.wireClosed(s, socket.bytesRead, socket.bytesWritten);
  }

  /** A bare connection's handle closed. */
  handleClosed(handle: OwnedHandle): void {
    const s = handle[kSession];
    handle[kSession] = undefined;
    this.wireClosed(s, handle.bytesRead, handle.bytesWritten);
  }

  private wireClosed(s: HttpSession | undefined, bytesIn: number, bytesOut: number): void {
    const { stats } = this.s.ctx;
    stats.bytesIn += bytesIn;
    stats.bytesOut += bytesOut;
    if (!s) return;
    this.sessions.delete(s);
    s.closed();
    if (this.stopped && this.sessions.size === 0) clearInterval(this.sweeper);
  }
}

