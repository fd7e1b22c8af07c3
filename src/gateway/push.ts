// The push API of a gateway group (push_listen, push_token): any program calls the gateway
// API over HTTP, `POST /METHOD` with `{"args": [...]}` in the API's argument order and
// `Authorization: Bearer TOKEN`. Served by the business processes, which hold the API.
//
// A command (a send, a bind, a session change) is answered once every gateway has carried it
// out: the business process that took the request asks each gateway a question after it, on
// the same ordered link, and answers when the replies are in. Without that, a command would be
// answered while still queued on its way, and the caller's next request, taken by another
// business process on links of its own, could overtake it (a sendToGroup before the joinGroup
// that preceded it, a getSession before the setSession).
import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { LoomError, errorMessage } from '../core/errors.js';
import type { Logger } from '../log/logger.js';
import { API_METHODS, type GatewayApi } from './api.js';

/** A push request's body larger than this is refused (413). */
const MAX_BODY = 1024 * 1024;

const METHODS = new Set<string>(API_METHODS);

export function attachPushApi(server: Server, api: GatewayApi, token: string, log: Logger): void {
  // Compared as digests: equal lengths, and the time taken says nothing about the token.
  const expected = digest(token);
  server.on('request', (req: IncomingMessage, res: ServerResponse) => {
    void serve(req, res).catch((err: unknown) => {
      log.error(`LOOM_ERR_GATEWAY push API ${req.method} ${req.url}: ${errorMessage(err)}`);
      if (!res.headersSent) answer(res, 500, { ok: false, error: 'internal error' });
    });
  });

  async function serve(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const auth = /^Bearer\s+(\S+)\s*$/i.exec(req.headers.authorization ?? '')?.[1] ?? '';
    if (!timingSafeEqual(digest(auth), expected)) return answer(res, 401, { ok: false, error: 'missing or wrong bearer token' }, { 'www-authenticate': 'Bearer' });
    const method = (req.url ?? '').split('?')[0].replace(/^\/+/, '');
    if (!METHODS.has(method)) return answer(res, 404, { ok: false, error: `no such method "${method.slice(0, 64)}"; methods: ${API_METHODS.join(', ')}` });
    if (req.method !== 'POST') return answer(res, 405, { ok: false, error: 'use POST' }, { allow: 'POST' });
    const body = await readBody(req);
    if (body === null) return answer(res, 413, { ok: false, error: `body over ${MAX_BODY} bytes` });
    let args: unknown[];
    try {
      const parsed = JSON.parse(body.toString('utf8') || '{}') as { args?: unknown };
      if (parsed === null || typeof parsed !== 'object' || (parsed.args !== undefined && !Array.isArray(parsed.args))) throw new Error('"args" must be an array');
      args = (parsed.args as unknown[] | undefined) ?? [];
    } catch (err) {
      return answer(res, 400, { ok: false, error: `bad JSON: ${errorMessage(err)}` });
    }
    let result: unknown;
    try {
      result = (api[method as (typeof API_METHODS)[number]] as (...a: unknown[]) => unknown).apply(api, args);
      // A question is answered by the gateways; a command is answered once they carried it out.
      if (isThenable(result)) result = await result;
      else await api.getAllClientCount();
    } catch (err) {
      if (err instanceof LoomError || err instanceof TypeError) return answer(res, 400, { ok: false, error: errorMessage(err) });
      throw err;
    }
    answer(res, 200, { ok: true, result: result ?? null });
  }
}

function isThenable(v: unknown): v is PromiseLike<unknown> {
  return v !== null && typeof v === 'object' && typeof (v as PromiseLike<unknown>).then === 'function';
}

function digest(text: string): Buffer {
  return createHash('sha256').update(text).digest();
}

function answer(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(text), ...headers });
  res.end(text);
}

function readBody(req: IncomingMessage): Promise<Buffer | null> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > MAX_BODY) { req.removeAllListeners('data'); req.resume(); resolve(null); return; }
      chunks.push(c);
    });
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', () => resolve(null));
  });
}
