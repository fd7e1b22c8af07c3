// The request object an HTTP handler's onMessage(conn, request) receives. Query, cookies and
// the body text are worked out only when the handler reads them: most handlers read few.
import type { IncomingHttpHeaders } from 'node:http';
import { decodePath, targetPath } from './path.js';

export class HttpRequest {
  readonly method: string;
  /** As sent: path and query string. */
  readonly url: string;
  readonly headers: IncomingHttpHeaders;
  readonly remoteAddress: string;
  readonly remotePort: number;
  private query_?: Record<string, string | string[]>;
  private cookies_?: Record<string, string>;
  private path_?: string;

  constructor(head: RequestHead, readonly rawBody: Buffer) {
    this.method = head.method;
    this.url = head.url;
    this.headers = head.headers;
    this.remoteAddress = head.remoteAddress;
    this.remotePort = head.remotePort;
  }

  /**
   * The path, normalised (an absolute-form target's path; no `.` or `..` segments, in any
   * spelling) and percent-decoded once; a target that is no path (`*`) or has a malformed
   * escape is given as sent.
   */
  get path(): string {
    if (this.path_ === undefined) {
      const target = targetPath(this.url);
      if ('path' in target) this.path_ = decodePath(target.path);
      else {
        const q = this.url.indexOf('?');
        this.path_ = q >= 0 ? this.url.slice(0, q) : this.url;
      }
    }
    return this.path_;
  }

  /** Query parameters; a repeated name gives an array. */
  get query(): Record<string, string | string[]> {
    if (this.query_ === undefined) {
      const out: Record<string, string | string[]> = {};
      const q = this.url.indexOf('?');
      if (q >= 0) {
        for (const [k, v] of new URLSearchParams(this.url.slice(q + 1))) {
          const prev = out[k];
          out[k] = prev === undefined ? v : Array.isArray(prev) ? [...prev, v] : [prev, v];
        }
      }
      this.query_ = out;
    }
    return this.query_;
  }

  get cookies(): Record<string, string> {
    if (this.cookies_ === undefined) this.cookies_ = parseCookies(this.headers.cookie);
    return this.cookies_;
  }

  /** The body as UTF-8 text ('' when none); `rawBody` has the bytes. */
  get body(): string {
    return this.rawBody.toString('utf8');
  }

  /** The body parsed as JSON; undefined when it is not JSON. */
  json(): unknown {
    try { return JSON.parse(this.body) as unknown; } catch { return undefined; }
  }

  /** What JSON.stringify and console.log show: the fields, not the getters' machinery. */
  toJSON(): Record<string, unknown> {
    return { method: this.method, url: this.url, path: this.path, query: this.query, headers: this.headers, cookies: this.cookies, body: this.body, remoteAddress: this.remoteAddress, remotePort: this.remotePort };
  }
}

/** What a request object is made of (an exchange has it; so has a WebSocket handshake). */
export interface RequestHead {
  readonly method: string;
  readonly url: string;
  readonly headers: IncomingHttpHeaders;
  readonly remoteAddress: string;
  readonly remotePort: number;
}

function parseCookies(header: string | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  if (!header) return out;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq < 0) continue;
    const k = part.slice(0, eq).trim();
    let v = part.slice(eq + 1).trim();
    if (v.startsWith('"') && v.endsWith('"')) v = v.slice(1, -1);
    try { v = decodeURIComponent(v); } catch { /* as sent */ }
    if (k && !(k in out)) out[k] = v;
  }
  return out;
}
