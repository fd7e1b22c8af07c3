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
import { readIncoming } from '../http/body.js';
import type { Logger } from '../log/logger.js';
import { API_METHODS, type GatewayApi } from './api.js';

/** A push request's body larger than this is refused (413). */
const MAX_BODY = 1024 * 1024;

type Method = (typeof API_METHODS)[number];

/**
 * What each argument may be: an id (client id, uid or group: a string, or a number taken as
 * its decimal text); ids (one or a list); an optional list of client ids (absent or null: none
 * given); a message (any JSON value: a string is sent as it is, anything else as its JSON
 * text); an object (a session).
 */
type Kind = 'id' | 'ids' | 'idList?' | 'message' | 'message?' | 'object';
type Param = readonly [name: string, kind: Kind];

const PARAMS: { readonly [M in Method]: readonly Param[] } = {
  sendToClient: [['clientId', 'id'], ['message', 'message']],
  sendToAll: [['message', 'message'], ['onlyClientIds', 'idList?'], ['excludeClientIds', 'idList?']],
  sendToUid: [['uid', 'ids'], ['message', 'message']],
  sendToGroup: [['group', 'ids'], ['message', 'message'], ['excludeClientIds', 'idList?']],
  closeClient: [['clientId', 'id'], ['message', 'message?']],
  isOnline: [['clientId', 'id']],
  isUidOnline: [['uid', 'id']],
  bindUid: [['clientId', 'id'], ['uid', 'id']],
  unbindUid: [['clientId', 'id'], ['uid', 'id']],
  joinGroup: [['clientId', 'id'], ['group', 'id']],
  leaveGroup: [['clientId', 'id'], ['group', 'id']],
  ungroup: [['group', 'id']],
  getAllClientCount: [],
  getClientCountByGroup: [['group', 'id']],
  getClientIdsByGroup: [['group', 'id']],
  getUidsByGroup: [['group', 'id']],
  getClientIdsByUid: [['uid', 'id']],
  setSession: [['clientId', 'id'], ['session', 'object']],
  updateSession: [['clientId', 'id'], ['session', 'object']],
  getSession: [['clientId', 'id']],
};

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
    // The token first, so that nothing (not even which methods exist) is told without it.
    const auth = /^Bearer\s+(\S+)\s*$/i.exec(req.headers.authorization ?? '')?.[1] ?? '';
    if (!timingSafeEqual(digest(auth), expected)) return answer(res, 401, { ok: false, error: 'missing or wrong bearer token' }, { 'www-authenticate': 'Bearer' });
    const name = (req.url ?? '').split('?')[0].replace(/^\/+/, '');
    if (!Object.hasOwn(PARAMS, name)) return answer(res, 404, { ok: false, error: `no such method "${name.slice(0, 64)}"; methods: ${API_METHODS.join(', ')}` });
    const method = name as Method;
    if (req.method !== 'POST') return answer(res, 405, { ok: false, error: 'use POST' }, { allow: 'POST' });
    const body = await readIncoming(req, MAX_BODY, 'drain');
    if (body === null) return answer(res, 413, { ok: false, error: `body over ${MAX_BODY} bytes` });
    let parsed: unknown;
    try {
      parsed = JSON.parse(body.toString('utf8') || '{}');
    } catch (err) {
      return answer(res, 400, { ok: false, error: `bad JSON: ${errorMessage(err)}` });
    }
    if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) return answer(res, 400, { ok: false, error: 'the body must be an object, {"args": [...]}' });
    const args = (parsed as { args?: unknown }).args ?? [];
    if (!Array.isArray(args)) return answer(res, 400, { ok: false, error: '"args" must be an array' });
    const wrong = checkArgs(method, args as unknown[]);
    if (wrong) return answer(res, 400, { ok: false, error: `${method}: ${wrong}` });
    let result: unknown;
    try {
      result = (api[method] as (...a: unknown[]) => unknown).apply(api, args);
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

/** What is wrong with a method's arguments; null when nothing is. */
function checkArgs(method: Method, args: unknown[]): string | null {
  const params = PARAMS[method];
  if (args.length > params.length) return `takes at most ${params.length} argument${params.length === 1 ? '' : 's'} (${params.map(([n]) => n).join(', ') || 'none'}), got ${args.length}`;
  for (const [i, [name, kind]] of params.entries()) {
    const v = args[i];
    const what = `argument ${i + 1} (${name})`;
    switch (kind) {
      case 'id':
        if (!isId(v)) return `${what} must be a string or a number, got ${typeName(v)}`;
        break;
      case 'ids':
        if (!isId(v) && !(Array.isArray(v) && v.every(isId))) return `${what} must be a string or a number, or a list of them, got ${typeName(v)}`;
        break;
      case 'idList?':
        if (v !== undefined && v !== null && !(Array.isArray(v) && v.every(isId))) return `${what} must be a list of client ids, or null, got ${typeName(v)}`;
        break;
      case 'message':
        if (v === undefined) return `${what} is missing`;
        break;
      case 'message?':
        break;
      case 'object':
        if (v === null || typeof v !== 'object' || Array.isArray(v)) return `${what} must be an object, got ${typeName(v)}`;
        break;
    }
  }
  return null;
}

function isId(v: unknown): v is string | number {
  return typeof v === 'string' || (typeof v === 'number' && Number.isFinite(v));
}

function typeName(v: unknown): string {
  if (v === undefined) return 'nothing';
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'a list';
  return typeof v === 'object' ? 'an object' : `a ${typeof v}`;
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
