// Node's own llhttp binding, the parser http.Server runs on, driven directly by Loom's lean
// HTTP path (http/session.ts): the same parser (smuggling and header rules included), without
// http.Server's IncomingMessage and ServerResponse streams per request. It is reached through
// the `_http_common` built-in; the single executable pins the runtime, so it cannot change
// under a built binary, and test/unit/llhttp.ts catches a change when the pin moves. Where it
// is missing or not what Loom knows, http:// falls back to http.Server.
import type { IncomingHttpHeaders } from 'node:http';

/** What llhttp reports for a malformed request (an Error with its llhttp code). */
export interface ParseError extends Error {
  code: string;
  reason?: string;
  bytesParsed?: number;
}

export interface LlhttpParser {
  initialize(type: number, resource: object, maxHeaderSize: number, lenientFlags: number): void;
  execute(data: Buffer): number | ParseError;
  finish(): number | ParseError | undefined;
  /** Reads the stream handle from C++: no JS Buffer per read. */
  consume(handle: object): void;
  unconsume(): void;
  getCurrentBuffer(): Buffer;
  close(): void;
  /** Ends its async resource (a parser going back to a pool). */
  free(): void;
  remove(): void;
  [callback: number]: unknown;
}

interface ParserClass {
  new (): LlhttpParser;
  REQUEST: number;
  kOnMessageBegin: number;
  kOnHeaders: number;
  kOnHeadersComplete: number;
  kOnBody: number;
  kOnMessageComplete: number;
  kOnExecute: number;
  kOnTimeout: number;
  kLenientNone: number;
}

interface HttpCommon {
  HTTPParser?: ParserClass;
  methods?: string[];
  _checkIsHttpToken?: (s: string) => boolean;
  _checkInvalidHeaderChar?: (s: string) => boolean;
}

export interface Llhttp {
  Parser: ParserClass;
  /** Method names by llhttp's method number. */
  methods: string[];
  isToken(s: string): boolean;
  hasInvalidChar(s: string): boolean;
}

let loaded: Llhttp | null | undefined;

/** The binding, or null when this runtime does not have it in the shape Loom drives. */
export function llhttp(): Llhttp | null {
  if (loaded === undefined) loaded = load();
  return loaded;
}

function load(): Llhttp | null {
  if (process.env.LOOM_HTTP_PARSER === 'node') return null; // forces the fallback (tests)
  let common: HttpCommon | undefined;
  try {
    common = process.getBuiltinModule?.('_http_common') as HttpCommon | undefined;
  } catch {
    return null;
  }
  const P = common?.HTTPParser;
  if (!P || !common?.methods || !common._checkIsHttpToken || !common._checkInvalidHeaderChar) return null;
  const proto = P.prototype as Partial<LlhttpParser>;
  for (const k of ['initialize', 'execute', 'finish', 'consume', 'unconsume', 'getCurrentBuffer', 'close', 'free', 'remove'] as const) {
    if (typeof proto[k] !== 'function') return null;
  }
  for (const k of ['kOnMessageBegin', 'kOnHeaders', 'kOnHeadersComplete', 'kOnBody', 'kOnMessageComplete', 'kOnExecute'] as const) {
    if (typeof P[k] !== 'number') return null;
  }
  const methods = methodTable(P, common.methods);
  if (methods[1] !== 'GET' || methods[3] !== 'POST') return null;
  return { Parser: P, methods, isToken: common._checkIsHttpToken, hasInvalidChar: common._checkInvalidHeaderChar };
}

/**
 * The binding numbers methods as llhttp does, with gaps (QUERY is 46); its name list has no
 * gaps. Each name is parsed once to learn its number.
 */
function methodTable(P: ParserClass, names: string[]): string[] {
  const table: string[] = [];
  const p = new P();
  for (const name of names) {
    p.initialize(P.REQUEST, {}, 0, P.kLenientNone);
    p[P.kOnHeadersComplete] = (_maj: number, _min: number, _h: unknown, method: number) => {
      table[method] = name;
      return 0;
    };
    p[P.kOnMessageComplete] = noop;
    p[P.kOnMessageBegin] = noop;
    p.execute(Buffer.from(`${name} / HTTP/1.1\r\nHost: x\r\n\r\n`));
  }
  p.close();
  return table;
}

function noop(): void {}

/**
 * Headers as Node's IncomingMessage gives them: names lower-cased; a repeated set-cookie an
 * array; repeated fields that may not repeat keep the first; others joined with ", ".
 */
export function headerObject(raw: string[]): IncomingHttpHeaders {
  const out: Record<string, string | string[]> = {};
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const name = lower(raw[i]);
    const value = raw[i + 1];
    const prev = out[name];
    if (prev === undefined) {
      out[name] = name === 'set-cookie' ? [value] : value;
    } else if (name === 'set-cookie') {
      (prev as string[]).push(value);
    } else if (!SINGLE.has(name)) {
      out[name] = name === 'cookie' ? `${prev as string}; ${value}` : `${prev as string}, ${value}`;
    }
  }
  return out as IncomingHttpHeaders;
}

/** Fields whose duplicates Node drops (_http_incoming.js matchKnownFields). */
const SINGLE = new Set([
  'content-type', 'content-length', 'user-agent', 'referer', 'host', 'authorization', 'proxy-authorization',
  'if-modified-since', 'if-unmodified-since', 'from', 'location', 'max-forwards', 'retry-after', 'etag',
  'last-modified', 'server', 'age', 'expires',
]);

/** Common names as sent by browsers and tools, already lower-case: no new string for them. */
const LOWER = new Map<string, string>();
for (const n of ['Host', 'User-Agent', 'Accept', 'Accept-Encoding', 'Accept-Language', 'Connection', 'Content-Type', 'Content-Length', 'Cookie', 'Referer', 'Origin', 'Upgrade', 'Cache-Control', 'Transfer-Encoding', 'Authorization', 'Expect', 'Range', 'If-None-Match', 'If-Modified-Since', 'Sec-WebSocket-Key', 'Sec-WebSocket-Version', 'Sec-WebSocket-Extensions', 'Sec-WebSocket-Protocol', 'Pragma']) {
  LOWER.set(n, n.toLowerCase());
}

function lower(name: string): string {
  return LOWER.get(name) ?? name.toLowerCase();
}
