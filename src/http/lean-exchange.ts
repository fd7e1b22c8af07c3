// One request and its answer on Loom's lean HTTP path (http/session.ts): what the handler's
// request and `conn.send` forms reach through HttpExchange, written to the session in request
// order, a streamed body pumped with the connection's back-pressure.
import type { IncomingHttpHeaders } from 'node:http';
import type { Readable } from 'node:stream';
import { QUEUED_BYTES } from '../core/connection.js';
import type { HttpExchange } from './exchange.js';
import type { HttpSession } from './session.js';
import { badField, bodiless, hasField, responseHead, type Framing, type OutHeaders } from './wire.js';

/** One request and its answer on a lean session. */
export class LeanExchange implements HttpExchange {
  /** Body chunks as they came (none for most requests). */
  chunks: Buffer[] | null = null;
  bodySize = 0;
  complete = false;
  upgrade = false;
  refused = false;
  continueWanted = false;
  answered = false;
  finished = false;
  /** Bytes answered while an earlier request was still being answered. */
  held: (string | Uint8Array)[] | null = null;
  /** A streamed answer waiting for its turn. */
  private waiting: (() => void) | null = null;

  constructor(
    readonly session: HttpSession,
    readonly method: string,
    readonly url: string,
    readonly headers: IncomingHttpHeaders,
    public keepAlive: boolean,
    readonly http10: boolean,
  ) {}

  get owner(): HttpSession { return this.session; }
  get remoteAddress(): string { return this.session.remoteAddress; }
  get remotePort(): number { return this.session.remotePort; }
  get hasBody(): boolean { return this.bodySize > 0 || this.headers['content-length'] !== undefined || this.headers['transfer-encoding'] !== undefined; }
  get gone(): boolean { return !this.session.alive || (this.finished && !this.answered); }

  readBody(max: number): Promise<Buffer | null> {
    if (this.bodySize > max) return Promise.resolve(null);
    const c = this.chunks;
    return Promise.resolve(c === null ? EMPTY : c.length === 1 ? c[0] : Buffer.concat(c));
  }

  // The body has been read whole before the handler runs: nothing more arrives.
  onBodyData(): void {}
  pauseBody(): void { this.session.pauseRecv(); }
  resumeBody(): void { this.session.resumeRecv(); }

  closeAfter(): void {
    this.keepAlive = false;
  }

  destroy(): void {
    this.session.destroy();
  }

  private head(status: number, headers: OutHeaders | undefined, contentType: string | null, framing: Framing): string {
    const ll = this.session.http.ll;
    return responseHead({ status, headers, contentType, framing, keepAlive: this.keepAlive, keepAliveSeconds: this.session.http.keepAliveSeconds }, (name, value) => {
      if (!ll.isToken(name)) throw badField(name, 'name');
      if (ll.hasInvalidChar(value)) throw badField(name, 'value');
    });
  }

  respond(status: number, headers: OutHeaders | undefined, contentType: string | null, body: string | Uint8Array): boolean | null {
    const noBody = bodiless(status);
    const length = noBody ? 'none' : typeof body === 'string' ? (body.length < 128 && isAscii(body) ? body.length : Buffer.byteLength(body)) : body.byteLength;
    const head = this.head(status, headers, contentType, length);
    this.answered = true;
    const s = this.session;
    if (noBody || this.method === 'HEAD' || (typeof length === 'number' && length === 0)) s.out(this, head);
    else if (typeof body === 'string') s.out(this, head + body);
    else {
      s.out(this, head);
      s.out(this, body);
    }
    s.done(this);
    if (this.held !== null) return null;
    return s.queuedOut() < QUEUED_BYTES ? true : null;
  }

  respondStream(status: number, headers: OutHeaders | undefined, contentType: string | null, body: Readable): Promise<void> {
    this.answered = true;
    const declared = hasField(headers, 'content-length');
    const framing: Framing = bodiless(status) ? 'none' : declared ? 0 : this.http10 ? 'close' : 'chunked';
    if (framing === 'close') this.keepAlive = false;
    const head = this.head(status, headers, contentType, framing);
    return new Promise((resolve) => {
      const start = () => {
        this.waiting = null;
        const s = this.session;
        s.out(this, head);
        if (this.method === 'HEAD' || framing === 'none') {
          body.destroy();
          s.done(this);
          return resolve();
        }
        pump(s, body, framing === 'chunked', () => { s.done(this); resolve(); }, () => { s.destroy(); resolve(); });
      };
      if (this.session.isFirst(this)) start();
      else this.waiting = start;
    });
  }

  /** It became the oldest unanswered request: a streamed answer waiting for that starts. */
  promoted(): void {
    this.waiting?.();
  }
}

/** Streams a body onto the connection, pausing it while the connection's buffer is full. */
function pump(s: HttpSession, body: Readable, chunked: boolean, done: () => void, failed: () => void): void {
  const onDrain = () => body.resume();
  s.pumping = body;
  body.on('data', (chunk: Buffer | string) => {
    const n = typeof chunk === 'string' ? Buffer.byteLength(chunk) : chunk.length;
    if (n === 0) return;
    // (each write: the chunk's three parts must all go, whatever the first returned)
    const ok = chunked ? [s.write(`${n.toString(16)}\r\n`), s.write(chunk), s.write('\r\n')][2] : s.write(chunk);
    if (!ok) {
      body.pause();
      s.whenDrained(onDrain);
    }
  });
  body.once('end', () => {
    s.cancelDrained(onDrain);
    s.pumping = null;
    if (chunked) s.write('0\r\n\r\n');
    done();
  });
  body.once('error', () => {
    s.cancelDrained(onDrain);
    s.pumping = null;
    failed();
  });
}

const EMPTY = Buffer.alloc(0);

function isAscii(s: string): boolean {
  for (let i = 0; i < s.length; i++) if (s.charCodeAt(i) > 127) return false;
  return true;
}
