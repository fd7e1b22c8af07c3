// Loom's lean HTTP/1.1 path: one HttpSession per TCP connection of an http:// or ws://
// listener, llhttp (Node's own parser, http/llhttp.ts) reading the connection's handle directly,
// and one LeanExchange per request (http/lean-exchange.ts); the listener's side, its parser pool
// and timeout sweep, is http/lean-http.ts. On plain TCP a connection is the runtime's bare handle
// (core/bare-handle.ts) for its whole life, with no net.Socket: answers are written to the
// handle, libuv queues what the kernel does not take at once, and an upgrade to WebSocket makes
// a Socket around the handle for ws. What http.Server does per request with two streams and
// their events is here a few fields: responses are written in request order (a pipelined
// answer that is ready early waits for the ones before it), the answers to one read go out in
// one write (gathered while the parser runs, written when it is done with the read), and the head
// fields come from constants. Timeouts (header, request, keep-alive idle) are checked by one
// sweep per listener rather than a timer per socket.
import { Socket } from 'node:net';
import type { Readable } from 'node:stream';
import { ConnectionBase, peerOf, type ConnectionInfo } from '../core/connection.js';
import {
  handleFigures, readResult, shutdownHandle, socketAround, UV_ECANCELED, UV_EOF, writeToHandle, type HandleWriter, type StreamHandle,
} from '../core/bare-handle.js';
import { LeanExchange } from './lean-exchange.js';
import type { LeanHttp } from './lean-http.js';
import { headerObject, type Llhttp, type LlhttpParser, type ParseError } from './llhttp.js';
import { CONTINUE, errorResponse } from './wire.js';

/** More header fields than this: 431 (Apache's LimitRequestFields). */
const MAX_HEADER_FIELDS = 100;
/** Requests read ahead of their answers before the connection stops reading. */
const MAX_PIPELINED = 128;
/** Queued response bytes past which the connection stops reading (Node's high-water mark). */
const WRITE_HIGH = 64 * 1024;
/** A request whose body is still arriving after this long: 408 (as http.Server's requestTimeout). */
const REQUEST_TIMEOUT_MS = 300_000;

/** After its last answer, a connection still reads (and drops) what comes for this long. */
const LINGER_MS = 5000;
/**
 * A keep-alive connection idle this long gives its parser back (about 6 KB of C++ state each,
 * measured: llhttp's and Node's header slots) and is read from JavaScript until its next
 * request; a new connection has none until its first byte. Parking at once after each answer
 * would cost some 20 % of keep-alive throughput (consume/unconsume and a Buffer per read).
 */
const PARK_MS = 1000;

export const kSession = Symbol('loom.httpSession');
const kHttp = Symbol('loom.leanHttp');
export type OwnedSocket = Socket & { [kSession]?: HttpSession; [kHttp]?: LeanHttp };
export type OwnedHandle = StreamHandle & { [kSession]?: HttpSession; isStreamBase?: boolean };
export type OwnedParser = LlhttpParser & { [kSession]?: HttpSession };
/** A Socket's handle as the parser and flow control see it. */
type SocketHandle = { readStart(): number; readStop(): number; isStreamBase?: boolean; reading?: boolean };
/** Gathered answers up to this size leave a bare handle joined in one buffer; bigger ones part by part. */
const JOIN_BYTES = 16 * 1024;

/** A coarse clock for timeouts, moved by the sweep: no Date.now() per request. */
let clock = Date.now();

/** The sweep's tick: the clock moves to now. */
export function advanceClock(): number {
  return (clock = Date.now());
}

/** A TCP connection of a lean HTTP listener; listed in worker.connections as the requests' conn. */
export class HttpSession extends ConnectionBase implements HandleWriter {
  parser: OwnedParser | null;
  /** The connection's Socket; null while it is a bare handle (always, on plain TCP, until an upgrade). */
  private socket: OwnedSocket | null;
  /** The bare handle, when there is no Socket. */
  private handle: OwnedHandle | null;
  /** Bytes written to the bare handle that libuv still holds (the kernel did not take them yet). */
  private handleQueued = 0;
  /** The bare handle is being closed. */
  private wireClosing = false;
  /** FIN asked for on the bare handle (a shutdown), and done. */
  private finWanted = false;
  private finSent = false;
  /** The peer's FIN came. */
  private peerFin = false;
  /** Closed as soon as the FIN is out (an aborted connection), not after lingering. */
  private closeAtFin = false;
  /** Called once what the bare handle holds is written (a Socket's 'drain'). */
  private drainWaiters: (() => void)[] | null = null;
  /** A streamed answer being written: destroyed if the connection closes under it. */
  pumping: Readable | null = null;
  /** Requests not yet fully answered, in the order they came. */
  private queue: LeanExchange[] = [];
  /** The request being read (headers done, body arriving), if any. */
  private reading: LeanExchange | null = null;
  /** Header fields of a request whose head came in several reads. */
  private partHeaders: string[] | null = null;
  private partUrl = '';
  /** When the request being read began (or the connection opened); 0 when none. */
  private requestStart: number;
  private headersDone = false;
  /** When the last answer went out with nothing left to read or answer. */
  private idleSince = 0;
  /** Answers made while the parser runs, written when it is done with the read. */
  private batch: string | null = null;
  private batchParts: (string | Uint8Array)[] | null = null;
  private readStopped = false;
  private paused = false;
  /** No more requests are read; the connection ends once the queue is answered. */
  private ending = false;
  private upgrading: LeanExchange | null = null;
  private waitingDrain = false;
  /** Inside the parser's execute (a callback ran, its kOnExecute has not yet). */
  private inParse = false;
  /** Ended by this side (its last answer made) at this time; 0 while not closing. */
  private lingerSince = 0;
  /** When the FIN went out: dropped LINGER_MS after. */
  private lingerFrom = 0;
  private closing = false;
  private pausedByHandler = false;

  constructor(wire: OwnedSocket | OwnedHandle, readonly http: LeanHttp) {
    const { ctx } = http.s;
    super(ctx.nextConnectionId(), ctx.protocolName, ctx.worker, ctx.maxSendBufferSize, ctx.maxPackageSize, ctx);
    this.requestStart = clock;
    // No parser until the first byte: a connection that never sends costs no parser state.
    this.parser = null;
    this.parked = true;
    let peer: { address?: string; port?: number } = {};
    if (wire instanceof Socket) {
      this.socket = wire;
      this.handle = null;
      this.fresh = false;
      peer = peerOf(wire);
      this.listenTo(wire);
      wire.on('data', onParkedData);
    } else {
      this.socket = null;
      this.handle = wire;
      this.fresh = true;
      wire.getpeername?.(peer);
      wire[kSession] = this;
      wire.onread = onBareRead;
      if (wire.readStart() < 0) this.destroy();
    }
    this.remoteAddress = peer.address ?? '';
    this.remotePort = peer.port ?? 0;
  }

  private listenTo(socket: OwnedSocket): void {
    socket[kSession] = this;
    socket[kHttp] = this.http;
    socket.on('error', ignore);
    socket.on('end', onSocketEnd);
    socket.on('close', onSocketClose); // (not once(): that wraps it in a closure per socket)
  }

  /** The stream handle under this connection (the Socket's, or the bare one). */
  private get streamHandle(): (SocketHandle & StreamHandle) | null {
    return this.handle ?? (this.socket as unknown as { _handle?: SocketHandle & StreamHandle | null })._handle ?? null;
  }

  /** A parser from the pool reads this connection: from its handle directly where it can. */
  private attachParser(): void {
    const p = this.http.takeParser();
    p[kSession] = this;
    this.parser = p;
    const handle = this.streamHandle;
    if (handle?.isStreamBase) {
      p.consume(handle);
      this.consumed = true;
    } else if (this.socket !== null) {
      // Not a plain stream handle: fed from 'data' events instead (a bare one's come to bareRead).
      this.socket.on('data', onSocketData);
    }
  }

  private consumed = false;
  private parked: boolean;
  /** A bare connection that has not sent a byte yet. */
  private fresh: boolean;

  /** Idle keep-alive: the parser goes back to the pool; the next bytes come as a 'data' event. */
  private park(): void {
    // (a Socket's parser that is not consuming its handle is fed by 'data' events: left as it is)
    if (this.parser === null || this.inParse || (!this.consumed && this.socket !== null)) return;
    this.parked = true;
    this.releaseParser();
    this.socket?.on('data', onParkedData);
  }

  /** The next request of a parked connection began: a parser again, fed this first read. */
  unpark(data: Buffer): void {
    this.socket?.removeListener('data', onParkedData);
    this.parked = false;
    this.attachParser();
    this.executed(this.parser!.execute(data), data);
  }

  // --- parser events (called through the shared functions below) ---

  messageBegin(): void {
    this.inParse = true;
    this.requestStart = clock;
    this.headersDone = false;
  }

  headers(raw: string[], url: string): void {
    this.inParse = true;
    if (this.partHeaders === null) this.partHeaders = raw.slice();
    else for (const h of raw) this.partHeaders.push(h);
    this.partUrl += url;
  }

  headersComplete(major: number, minor: number, raw: string[] | undefined, method: number, url: string | undefined, upgrade: boolean, keepAlive: boolean): number {
    this.inParse = true;
    if (raw === undefined) {
      raw = this.partHeaders ?? [];
      url = this.partUrl;
      this.partHeaders = null;
      this.partUrl = '';
    }
    this.headersDone = true;
    const ex = new LeanExchange(this, this.http.ll.methods[method] ?? 'GET', url ?? '/', headerObject(raw), keepAlive, major === 1 && minor === 0);
    this.queue.push(ex);
    this.reading = ex;
    if (raw.length > MAX_HEADER_FIELDS * 2) return this.refuseRequest(ex, 431, `${raw.length / 2} header fields (at most ${MAX_HEADER_FIELDS})`);
    const h = ex.headers;
    if (major === 1 && minor >= 1 && h.host === undefined) return this.refuseRequest(ex, 400, 'HTTP/1.1 request without Host');
    if (Number(h['content-length'] ?? 0) > this.http.s.maxBody) return this.refuseRequest(ex, 413, null);
    if (upgrade && this.http.s.onUpgrade !== null) {
      ex.upgrade = true;
      return 0;
    }
    // An upgrade this listener does not speak is an ordinary request, and the last one.
    if (upgrade) ex.keepAlive = false;
    const expect = h.expect;
    if (expect !== undefined) {
      if (!/^100-continue$/i.test(expect.trim())) return this.refuseRequest(ex, 417, null);
      ex.continueWanted = true;
      if (this.queue[0] === ex) this.sendContinue(ex);
    }
    return 0;
  }

  body(chunk: Buffer): void {
    this.inParse = true;
    const ex = this.reading;
    if (ex === null || ex.refused) return;
    ex.bodySize += chunk.length;
    if (ex.bodySize > this.http.s.maxBody) {
      this.refuseRequest(ex, 413, null);
      return;
    }
    (ex.chunks ??= []).push(chunk);
  }

  messageComplete(): void {
    this.inParse = true;
    const ex = this.reading;
    this.reading = null;
    this.requestStart = 0;
    if (ex === null || ex.refused || ex.upgrade) {
      if (ex?.upgrade) this.upgrading = ex;
      return;
    }
    if (!ex.keepAlive) this.ending = true; // nothing after it is read
    ex.complete = true;
    this.http.s.onRequest(ex);
  }

  /** After each read: errors, an upgrade, the gathered answers out, flow control. */
  executed(ret: number | ParseError, data?: Buffer): void {
    this.inParse = false;
    this.flushBatch();
    if (typeof ret !== 'number') return this.parseError(ret);
    if (this.upgrading !== null) return this.handOver(this.upgrading, ret, data);
    if (this.lingerSince !== 0) this.linger();
    else if (this.ending) this.stopReading();
    else if (this.queue.length >= MAX_PIPELINED || this.queuedOut() >= WRITE_HIGH) this.throttle();
  }

  // --- the bare handle ---

  /** A read of the bare handle that the parser does not take (it is not consuming the handle). */
  bareRead(data: Buffer): void {
    if (this.lingerSince !== 0) return; // dropped
    if (this.parked) {
      if (this.fresh) this.firstRead(data);
      else this.unpark(data);
    } else if (this.parser !== null && !this.consumed) {
      this.executed(this.parser.execute(data), data);
    }
  }

  /**
   * A bare connection's first read is parsed by a parser from the pool that goes back as soon
   * as the read held whole requests, all answered: a burst of new connections (10,000 clients
   * each asking once) then needs a few parsers, not one each (some 6 KB of C++ state apiece,
   * which the allocator keeps once the burst is over). A connection that asks again gets its
   * parser on the handle as usual.
   */
  private firstRead(data: Buffer): void {
    this.fresh = false;
    this.parked = false;
    const p = this.http.takeParser();
    p[kSession] = this;
    this.parser = p;
    this.executed(p.execute(data), data);
    if (this.parser === p && !this.inParse && this.requestStart === 0 && this.queue.length === 0 && this.reading === null && this.lingerSince === 0) {
      this.parked = true;
      this.releaseParser();
    }
  }

  /** The bare handle's end of stream (the peer's FIN) or a read error (a reset): closed then. */
  bareEnded(code: number): void {
    if (code !== UV_EOF) return this.destroy();
    this.peerFin = true;
    if (this.lingerSince === 0) this.peerEnded();
    else if (!this.finWanted || this.finSent) this.destroy();
  }

  /** Bytes written but not yet taken by the kernel. */
  queuedOut(): number {
    return this.socket !== null ? this.socket.writableLength : this.handleQueued;
  }

  /** The connection can still be written to. */
  private get writable(): boolean {
    return this.socket !== null ? this.socket.writable && !this.socket.destroyed : this.handle !== null && !this.wireClosing && !this.finWanted;
  }

  /** Bytes to the connection now: false once what is queued is past the high-water mark (wait for whenDrained). */
  private put(data: string | Uint8Array): boolean {
    if (this.socket !== null) return this.socket.write(data);
    if (!this.writable) return false;
    const r = writeToHandle(this.handle!, data, this);
    if (r < 0) {
      // As a Socket whose write failed: dropped.
      this.destroy();
      return false;
    }
    this.handleQueued += r;
    return this.handleQueued < WRITE_HIGH;
  }

  /** A write libuv held for the bare handle is done (in order); failed: the connection is dropped. */
  handleWritten(status: number, bytes: number): void {
    this.handleQueued -= bytes;
    if (status === UV_ECANCELED) return; // closed under it
    if (status < 0) return this.destroy();
    if (this.handleQueued > 0) return;
    if (this.waitingDrain) this.drainedSocket();
    const waiters = this.drainWaiters;
    this.drainWaiters = null;
    if (waiters !== null) for (const w of waiters) w();
  }

  /** A Socket's end() is done: the FIN is out. */
  finSentOnSocket(): void {
    this.lingerFrom = clock || 1;
  }

  /** fn once what is queued now is written (the Socket's 'drain'). */
  whenDrained(fn: () => void): void {
    if (this.socket !== null) this.socket.once('drain', fn);
    else (this.drainWaiters ??= []).push(fn);
  }

  cancelDrained(fn: () => void): void {
    if (this.socket !== null) this.socket.off('drain', fn);
    else if (this.drainWaiters !== null) this.drainWaiters = this.drainWaiters.filter((w) => w !== fn);
  }

  /** FIN on the bare handle once what it holds is written; closed then if asked, or once the peer's FIN came too. */
  private shutdownBare(thenClose: boolean): void {
    const handle = this.handle;
    if (handle === null || this.wireClosing) return;
    if (thenClose) this.closeAtFin = true;
    if (this.finSent) {
      if (this.closeAtFin || this.peerFin) this.destroy();
      return;
    }
    // Asked for already: its completion closes the handle if closeAtFin is now set.
    if (this.finWanted) return;
    this.finWanted = true;
    shutdownHandle(handle, () => {
      this.finSent = true;
      this.lingerFrom = clock || 1;
      if (this.closeAtFin || this.peerFin) this.destroy();
    });
  }

  /** A Socket around the bare handle, for the rest of the connection's life (an upgrade: ws needs one). */
  private toSocket(): OwnedSocket {
    const handle = this.handle!;
    this.handle = null;
    handle[kSession] = undefined;
    // Half-open, as the listener's sockets: the client's FIN still lets an answer go out.
    const socket = socketAround(handle, !this.readStopped, true) as OwnedSocket;
    this.socket = socket;
    this.listenTo(socket);
    return socket;
  }

  // --- answers ---

  isFirst(ex: LeanExchange): boolean {
    return this.queue[0] === ex;
  }

  /** Writes bytes of ex: now when it is the oldest unanswered request, later otherwise. */
  out(ex: LeanExchange, data: string | Uint8Array): void {
    if (this.queue[0] === ex) this.write(data);
    else (ex.held ??= []).push(data);
  }

  /**
   * Every byte of this connection goes out here, in order. While the parser runs, answers are
   * gathered (strings joined) and leave as one write when it is done with the read: a
   * pipelined batch is one syscall, a single request costs no cork/uncork machinery.
   */
  write(data: string | Uint8Array): boolean {
    if (!this.inParse) return this.put(data);
    if (typeof data === 'string' && this.batchParts === null) {
      this.batch = this.batch === null ? data : this.batch + data;
    } else {
      const parts = (this.batchParts ??= []);
      if (this.batch !== null) { parts.push(this.batch); this.batch = null; }
      parts.push(data);
    }
    return true;
  }

  private flushBatch(): void {
    if (this.batch !== null) {
      const b = this.batch;
      this.batch = null;
      this.put(b);
    } else if (this.batchParts !== null) {
      const parts = this.batchParts;
      this.batchParts = null;
      const s = this.socket;
      if (s !== null) {
        s.cork();
        for (const p of parts) s.write(p);
        s.uncork();
        return;
      }
      // A bare handle: small parts joined into one write, big ones (a file's bytes) as they are.
      let total = 0;
      for (const p of parts) total += typeof p === 'string' ? p.length * 3 : p.byteLength;
      if (total <= JOIN_BYTES) this.put(Buffer.concat(parts.map((p) => (typeof p === 'string' ? Buffer.from(p) : p))));
      else for (const p of parts) this.put(p);
    }
  }

  /** ex is fully answered: the next requests' held answers go out. */
  done(ex: LeanExchange): void {
    ex.finished = true;
    if (!ex.keepAlive) this.ending = true;
    while (this.queue.length > 0 && this.queue[0].finished) {
      const first = this.queue.shift()!;
      if (!first.keepAlive) {
        // Requests after a "close" one are not answered (they were not read either).
        for (const dropped of this.queue) dropped.finished = true;
        this.queue.length = 0;
        break;
      }
      const next = this.queue[0];
      if (next === undefined) break;
      if (next.continueWanted && !next.answered) this.sendContinue(next);
      if (next.held) {
        for (const d of next.held) this.write(d);
        next.held = null;
      }
      next.promoted();
    }
    if (this.queue.length === 0) {
      if (this.ending || this.closing) {
        this.finish();
        return;
      }
      if (this.reading === null) this.idleSince = clock;
    }
    if (this.paused && this.queue.length < MAX_PIPELINED / 2) this.unthrottle();
  }

  private sendContinue(ex: LeanExchange): void {
    ex.continueWanted = false;
    if (!ex.answered) this.write(CONTINUE);
  }

  /** An answer Loom gives itself to a request it will not pass on; the connection then ends. */
  private refuseRequest(ex: LeanExchange, status: number, why: string | null): number {
    const { ctx } = this.http.s;
    ex.refused = true;
    ex.keepAlive = false;
    this.ending = true;
    if (why !== null) ctx.badPackets.report(`closed connection ${this.id}`, `from ${this.remoteAddress}:${this.remotePort}`, `${status} ${why}`);
    else ctx.stats.badPackets++;
    ex.answered = true;
    this.out(ex, errorResponse(status));
    this.done(ex);
    return 0;
  }

  private parseError(err: ParseError): void {
    const { ctx } = this.http.s;
    ctx.badPackets.report(`closed connection ${this.id}`, `from ${this.remoteAddress}:${this.remotePort}`, `${err.code} ${err.reason ?? err.message}`);
    const status = err.code === 'HPE_HEADER_OVERFLOW' ? 431 : 400;
    this.abort(status);
  }

  /** Ends a connection whose input cannot be trusted: the error answer, then the close. */
  private abort(status: number): void {
    this.stopReading();
    this.queue.length = 0;
    this.reading = null;
    // Timed from now as a closing connection (the sweep), not again as a late request.
    this.requestStart = 0;
    if (this.lingerSince === 0) this.lingerSince = clock || 1;
    const s = this.socket;
    if (s === null) {
      if (this.writable) {
        this.flushBatch();
        this.put(errorResponse(status));
      }
      this.shutdownBare(true);
      return;
    }
    if (s.writable && !s.destroyed) {
      this.flushBatch();
      s.end(errorResponse(status));
    }
    s.destroySoon();
  }

  // --- timeouts ---

  sweep(now: number, headerTimeoutMs: number, idleTimeoutMs: number): void {
    if (this.lingerSince !== 0) {
      // Closing: dropped LINGER_MS after its FIN went out; until then its last answers have
      // idle_timeout to leave (a slow download is not cut off, a reader that stopped is).
      if (this.lingerFrom !== 0 ? now - this.lingerFrom >= LINGER_MS : now - this.lingerSince >= Math.max(idleTimeoutMs, LINGER_MS)) this.destroy();
      return;
    }
    if (this.requestStart !== 0) {
      const limit = this.headersDone ? REQUEST_TIMEOUT_MS : headerTimeoutMs;
      if (now - this.requestStart >= limit) {
        const { ctx } = this.http.s;
        ctx.badPackets.report(`closed connection ${this.id}`, `from ${this.remoteAddress}:${this.remotePort}`, `ERR_HTTP_REQUEST_TIMEOUT ${this.headersDone ? 'request body' : 'request headers'} not received within ${Math.round(limit / 1000)} s`);
        this.abort(408);
      }
      return;
    }
    if (this.queue.length === 0 && this.idleSince !== 0 && this.reading === null) {
      if (now - this.idleSince >= idleTimeoutMs) this.destroy();
      else if (!this.parked && now - this.idleSince >= PARK_MS) this.park();
    }
  }

  // --- reading ---

  private throttle(): void {
    this.paused = true;
    this.readStop();
    if (!this.waitingDrain && this.queuedOut() > 0) {
      this.waitingDrain = true;
      // (a bare handle's completion checks waitingDrain: no closure per connection)
      this.socket?.once('drain', onSocketDrain);
    }
  }

  drainedSocket(): void {
    this.waitingDrain = false;
    if (this.paused && this.queue.length < MAX_PIPELINED / 2) this.unthrottle();
  }

  private unthrottle(): void {
    if (this.queuedOut() >= WRITE_HIGH) {
      if (!this.waitingDrain) {
        this.waitingDrain = true;
        this.socket?.once('drain', onSocketDrain);
      }
      return;
    }
    this.paused = false;
    if (!this.ending && !this.pausedByHandler) this.readStart();
  }

  private readStop(): void {
    if (this.readStopped) return;
    this.readStopped = true;
    if (this.handle !== null) {
      this.handle.readStop();
      return;
    }
    const handle = (this.socket as unknown as { _handle?: SocketHandle | null })._handle;
    // As http.Server does for a consumed socket; `reading` keeps net.Socket's view in step.
    if (this.parser && handle?.isStreamBase) { handle.reading = false; handle.readStop(); }
    else this.socket!.pause();
  }

  private readStart(): void {
    if (!this.readStopped) return;
    this.readStopped = false;
    if (this.handle !== null) {
      if (!this.wireClosing) this.handle.readStart();
      return;
    }
    const handle = (this.socket as unknown as { _handle?: SocketHandle | null })._handle;
    if (this.parser && handle?.isStreamBase) { handle.reading = true; handle.readStart(); }
    else this.socket!.resume();
  }

  private stopReading(): void {
    this.ending = true;
    this.readStop();
  }

  /** The client sent FIN: what was asked is answered, then the connection ends. */
  peerEnded(): void {
    this.ending = true;
    if (this.queue.length === 0) this.finish();
  }

  /**
   * Everything asked is answered and nothing more will be: FIN now, then whatever still comes
   * (the rest of a refused body) is read and dropped until the peer closes or LINGER_MS pass:
   * closing with unread bytes would reset the connection and could lose the last answer.
   */
  private finish(): void {
    const s = this.socket;
    if (this.lingerSince !== 0) return;
    this.lingerSince = clock || 1;
    this.flushBatch();
    if (s === null) {
      this.shutdownBare(false);
    } else if (!s.destroyed) {
      s.end();
      s.once('finish', onSocketFinish);
    }
    if (!this.inParse) this.linger();
  }

  /** Outside the parser's execute: the parser goes, the connection's bytes are dropped. */
  private linger(): void {
    this.releaseParser();
    const s = this.socket;
    if (s === null) {
      // bareRead drops them.
      this.readStart();
      return;
    }
    s.removeListener('data', onSocketData);
    s.removeListener('data', onParkedData);
    s.on('data', ignore);
    this.readStopped = false;
    s.resume();
  }

  // --- the upgrade to WebSocket ---

  /** data: the read just parsed, when it was given to execute() (else the parser has it). */
  private handOver(ex: LeanExchange, parsed: number, data: Buffer | undefined): void {
    const p = this.parser!;
    if (this.queue[0] !== ex) {
      // Requests before the upgrade still unanswered: not something browsers do.
      this.abort(400);
      return;
    }
    const head = Buffer.from((data ?? p.getCurrentBuffer()).subarray(parsed));
    this.releaseParser();
    const { handle } = this;
    const { onUpgradeHandle } = this.http.s;
    if (handle !== null && onUpgradeHandle !== null && onUpgradeHandle(ex, handle, head)) {
      // The WebSocket took the bare handle, this session's place in the list and its bytes.
      this.handle = null;
      handle[kSession] = undefined;
      this.queue.length = 0;
      this.http.sessions.delete(this);
      return;
    }
    const s = this.socket ?? this.toSocket();
    s.removeListener('end', onSocketEnd);
    s.removeListener('data', onSocketData);
    s.removeListener('data', onParkedData);
    // Bytes after the handshake wait in the Socket until ws listens (it resumes it then): a
    // flowing Socket with no 'data' listener would drop them during an async verdict.
    s.pause();
    this.queue.length = 0;
    this.http.sessions.delete(this);
    // Still listed (and found on the socket) until the WebSocket takes its place: a refused
    // handshake closes the socket and unlists it here.
    this.http.s.onUpgrade!(ex, s, head);
  }

  private releaseParser(): void {
    const p = this.parser;
    if (p === null) return;
    this.parser = null;
    p[kSession] = undefined;
    if (this.consumed) {
      this.consumed = false;
      p.unconsume();
    } else {
      this.socket?.removeListener('data', onSocketData);
    }
    p.remove();
    this.http.giveParser(p);
  }

  /** The socket closed: requests in flight are answered to nobody. */
  closed(): void {
    this.releaseParser();
    this.pumping?.destroy();
    this.pumping = null;
    this.drainWaiters = null;
    for (const ex of this.queue) ex.finished = true;
    this.queue.length = 0;
    this.reading = null;
    this.http.s.ctx.unregister(this); // unless a WebSocket took its place
  }

  // --- the Connection API (a stop, `loom connections`) ---

  send(): boolean | null {
    return this.failed();
  }

  /** A graceful close: the requests in flight are answered first. */
  close(): void {
    this.closing = true;
    this.stopReading();
    if (this.queue.length === 0) this.finish();
  }

  destroy(): void {
    if (this.socket !== null) {
      this.socket.destroy();
      return;
    }
    const handle = this.handle;
    if (handle === null || this.wireClosing) return;
    this.wireClosing = true;
    handle.readStop();
    handle.close(() => this.http.handleClosed(handle));
  }

  pauseRecv(): void {
    this.pausedByHandler = true;
    this.readStop();
  }

  resumeRecv(): void {
    this.pausedByHandler = false;
    if (!this.paused && !this.ending) this.readStart();
  }

  override pipe(): void {}

  override describe(now: number): ConnectionInfo | null {
    if (this.socket !== null) return this.socketRow(this.socket, 'in', this.socket.writableLength, now);
    return this.socketRow(handleFigures(this.handle!), 'in', this.handleQueued, now);
  }

  /** The connection is still open: its requests can be answered. */
  get alive(): boolean {
    return this.socket !== null ? !this.socket.destroyed : !this.wireClosing;
  }
}

function ignore(): void {}

// Parser callbacks: one function each for every connection, the session found on the parser.

/** A new parser's callbacks: the session it reads for is found on it. */
export function listenToParser(p: OwnedParser, ll: Llhttp): void {
  const P = ll.Parser;
  p[P.kOnMessageBegin] = onMessageBegin;
  p[P.kOnHeaders] = onHeaders;
  p[P.kOnHeadersComplete] = onHeadersComplete;
  p[P.kOnBody] = onBody;
  p[P.kOnMessageComplete] = onMessageComplete;
  p[P.kOnExecute] = onExecute;
}

function onMessageBegin(this: OwnedParser): number {
  this[kSession]?.messageBegin();
  return 0;
}
function onHeaders(this: OwnedParser, raw: string[], url: string): void {
  this[kSession]?.headers(raw, url);
}
function onHeadersComplete(this: OwnedParser, major: number, minor: number, raw: string[] | undefined, method: number, url: string | undefined, _status: unknown, _message: unknown, upgrade: boolean, keepAlive: boolean): number {
  return this[kSession]?.headersComplete(major, minor, raw, method, url, upgrade, keepAlive) ?? 0;
}
function onBody(this: OwnedParser, chunk: Buffer): void {
  this[kSession]?.body(chunk);
}
function onMessageComplete(this: OwnedParser): void {
  this[kSession]?.messageComplete();
}
function onExecute(this: OwnedParser, ret: number | ParseError): void {
  this[kSession]?.executed(ret);
}

// Socket events, shared the same way.
function onSocketData(this: OwnedSocket, data: Buffer): void {
  const s = this[kSession];
  if (!s?.parser) return;
  s.executed(s.parser.execute(data), data);
}
function onParkedData(this: OwnedSocket, data: Buffer): void {
  this[kSession]?.unpark(data);
}
function onSocketEnd(this: OwnedSocket): void {
  this[kSession]?.peerEnded();
}
function onSocketDrain(this: OwnedSocket): void {
  this[kSession]?.drainedSocket();
}
function onSocketFinish(this: OwnedSocket): void {
  this[kSession]?.finSentOnSocket();
}
function onBareRead(this: OwnedHandle, buf?: ArrayBuffer): void {
  const s = this[kSession];
  if (!s) return;
  const got = readResult(buf);
  if (typeof got !== 'number') s.bareRead(got);
  else if (got < 0) s.bareEnded(got);
}
function onSocketClose(this: OwnedSocket): void {
  this[kHttp]?.socketClosed(this);
}

/**
 * The socket is a WebSocket's now: its session and this path's listeners are not needed any
 * more (nor their memory: a listener beside ws's own makes an array per event and socket).
 * True when it was a lean session's socket: its bytes are then the WebSocket's to count.
 */
export function forgetSession(socket: Socket): boolean {
  const owned = socket as OwnedSocket;
  if (owned[kHttp] === undefined) return false;
  owned[kSession] = undefined;
  owned[kHttp] = undefined;
  socket.removeListener('close', onSocketClose);
  socket.removeListener('error', ignore);
  return true;
}

