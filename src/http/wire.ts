// The bytes of a response head on the lean HTTP path: status lines built once per status, a
// Date header made once a second, and the connection fields chosen from two constants. The
// handler's own header names and values are checked as Node's setHeader checks them (no CR,
// LF or other control characters: no response splitting).
import { STATUS_CODES } from 'node:http';
import { LoomError } from '../core/errors.js';

/** Response fields as a handler gives them. */
export type OutHeaders = Record<string, string | number | readonly string[]>;

const statusLines: string[] = [];

function statusLine(status: number): string {
  return (statusLines[status] ??= `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? 'Unknown'}\r\n`);
}

let dateLine = '';
let dateTimer: NodeJS.Timeout | null = null;

/** `Date: …\r\n`, refreshed by a timer once a second while HTTP is being served. */
function date(): string {
  if (dateTimer === null) {
    dateLine = `Date: ${new Date().toUTCString()}\r\n`;
    // The first refresh lands on the next second boundary, then one a second.
    dateTimer = setTimeout(tick, 1000 - (Date.now() % 1000));
    dateTimer.unref();
  }
  return dateLine;
}

function tick(): void {
  dateLine = `Date: ${new Date().toUTCString()}\r\n`;
  dateTimer = setTimeout(tick, 1000 - (Date.now() % 1000));
  dateTimer.unref();
}

/** Statuses that never have a body (nor a Content-Length of one). */
export function bodiless(status: number): boolean {
  return status === 204 || status === 304 || (status >= 100 && status < 200);
}

/** How the body's end is told: its length, chunked, or the connection closing (HTTP/1.0). */
export type Framing = number | 'chunked' | 'close' | 'none';

export interface HeadOptions {
  status: number;
  headers: OutHeaders | undefined;
  contentType: string | null;
  framing: Framing;
  keepAlive: boolean;
  /** Seconds an idle keep-alive connection is kept: told in Keep-Alive. */
  keepAliveSeconds: number;
}

/** Fields Loom writes itself unless the handler set them. */
const enum Own { Length = 1, Encoding = 2, Connection = 4, Date = 8, KeepAlive = 16 }

let keepAliveLine = '';
let keepAliveFor = -1;

/** The head of a response; throws LOOM_ERR_HTTP_HEADER for a field Node would refuse. */
export function responseHead(o: HeadOptions, check: (name: string, value: string) => void): string {
  let s = statusLine(o.status);
  let own = 0;
  const h = o.headers;
  if (h !== undefined) {
    for (const name in h) {
      const v = h[name];
      own |= ownField(name);
      if (typeof v === 'object') {
        for (const one of v) { check(name, one); s += `${name}: ${one}\r\n`; }
      } else {
        const value = typeof v === 'number' ? String(v) : v;
        check(name, value);
        s += `${name}: ${value}\r\n`;
      }
    }
  }
  if (o.contentType !== null) s += `Content-Type: ${o.contentType}\r\n`;
  if (!(own & Own.Date)) s += date();
  const keepAlive = o.keepAlive && o.framing !== 'close' && !(own & Own.Connection);
  if (!(own & Own.Connection)) {
    if (keepAlive) {
      if (keepAliveFor !== o.keepAliveSeconds) {
        keepAliveFor = o.keepAliveSeconds;
        keepAliveLine = `Connection: keep-alive\r\nKeep-Alive: timeout=${o.keepAliveSeconds}\r\n`;
      }
      s += own & Own.KeepAlive ? 'Connection: keep-alive\r\n' : keepAliveLine;
    } else {
      s += 'Connection: close\r\n';
    }
  }
  const f = o.framing;
  if (typeof f === 'number') {
    if (!(own & (Own.Length | Own.Encoding))) s += `Content-Length: ${f}\r\n`;
  } else if (f === 'chunked' && !(own & Own.Encoding)) {
    s += 'Transfer-Encoding: chunked\r\n';
  }
  return s + '\r\n';
}

/** Which of Loom's own fields a handler's field name is (case-insensitive, cheap for others). */
function ownField(name: string): number {
  switch (name.length) {
    case 4: return name.toLowerCase() === 'date' ? Own.Date : 0;
    case 10: {
      const n = name.toLowerCase();
      return n === 'connection' ? Own.Connection : n === 'keep-alive' ? Own.KeepAlive : 0;
    }
    case 14: return name.toLowerCase() === 'content-length' ? Own.Length : 0;
    case 17: return name.toLowerCase() === 'transfer-encoding' ? Own.Encoding : 0;
    default: return 0;
  }
}

/** Whether the handler's fields name `field` (lower-case), in any spelling. */
export function hasField(h: OutHeaders | undefined, field: string): boolean {
  if (h === undefined) return false;
  for (const name in h) if (name.length === field.length && name.toLowerCase() === field) return true;
  return false;
}

/** Whether the handler's fields name a Content-Type (so Loom adds none). */
export function hasContentType(h: OutHeaders | undefined): boolean {
  return hasField(h, 'content-type');
}

/** A handler's field with a name or value Node's setHeader refuses. */
export function badField(name: string, what: 'name' | 'value'): LoomError {
  return new LoomError('LOOM_ERR_HTTP_HEADER', `response header ${what === 'name' ? 'name' : 'value'} of ${JSON.stringify(name)} holds characters not allowed in HTTP`);
}

/** A bodiless answer Loom gives by itself (400, 408, 413, 431…), closing the connection. */
export function errorResponse(status: number): string {
  const body = `${STATUS_CODES[status] ?? 'Error'}\n`;
  return `${statusLine(status)}Content-Type: text/plain; charset=utf-8\r\n${date()}Connection: close\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`;
}

export const CONTINUE = 'HTTP/1.1 100 Continue\r\n\r\n';
