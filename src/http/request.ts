// The request object an HTTP handler's onMessage(conn, request) receives.
import type { IncomingHttpHeaders, IncomingMessage } from 'node:http';

export interface HttpRequest {
  method: string;
  /** As sent: path and query string. */
  url: string;
  path: string;
  query: Record<string, string | string[]>;
  headers: IncomingHttpHeaders;
  cookies: Record<string, string>;
  /** The body as UTF-8 text ('' when none); `rawBody` has the bytes. */
  body: string;
  rawBody: Buffer;
  /** The body parsed as JSON; undefined when it is not JSON. */
  json(): unknown;
  remoteAddress: string;
  remotePort: number;
}

export function buildRequest(req: IncomingMessage, rawBody: Buffer): HttpRequest {
  const url = req.url ?? '/';
  const q = url.indexOf('?');
  const query: Record<string, string | string[]> = {};
  if (q >= 0) {
    for (const [k, v] of new URLSearchParams(url.slice(q + 1))) {
      const prev = query[k];
      query[k] = prev === undefined ? v : Array.isArray(prev) ? [...prev, v] : [prev, v];
    }
  }
  let path = q >= 0 ? url.slice(0, q) : url;
  try { path = decodeURIComponent(path); } catch { /* keep it as sent */ }
  const body = rawBody.toString('utf8');
  return {
    method: req.method ?? 'GET',
    url,
    path,
    query,
    headers: req.headers,
    cookies: parseCookies(req.headers.cookie),
    body,
    rawBody,
    json() {
      try { return JSON.parse(body) as unknown; } catch { return undefined; }
    },
    remoteAddress: req.socket.remoteAddress ?? '',
    remotePort: req.socket.remotePort ?? 0,
  };
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
