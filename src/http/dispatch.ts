// A request on its way in, whichever server read it: static files first (GET/HEAD with a
// root), then its body, then the handler's onMessage(conn, request). A handler that throws or
// rejects before answering gets a 500 answered for it.
import type { GroupConfig } from '../config/types.js';
import type { ListenerContext } from '../core/context.js';
import { HttpConnection } from './connection.js';
import type { HttpExchange } from './exchange.js';
import { HttpRequest } from './request.js';
import { serveStatic } from './static.js';

const TEXT = 'text/plain; charset=utf-8';
const NO_BODY = Buffer.alloc(0);

export function serveRequest(ex: HttpExchange, ctx: ListenerContext, group: GroupConfig): void {
  if (group.root && (ex.method === 'GET' || ex.method === 'HEAD')) {
    serveStatic(group.root, ex).then(
      (served) => { if (!served) withBody(ex, ctx); },
      (err: Error) => {
        ctx.log.warn(`static file for ${ex.url}: ${err.message}`);
        if (!ex.answered && !ex.gone) ex.respond(500, undefined, TEXT, 'Internal Server Error\n');
      },
    );
    return;
  }
  withBody(ex, ctx);
}

function withBody(ex: HttpExchange, ctx: ListenerContext): void {
  // Most requests have no body: answered without a promise in between.
  if (!ex.hasBody) return dispatch(ex, ctx, NO_BODY);
  void ex.readBody(ctx.maxPackageSize).then((body) => {
    if (body !== null) return dispatch(ex, ctx, body);
    ctx.stats.badPackets++;
    ex.closeAfter();
    ex.respond(413, undefined, TEXT, 'Payload Too Large\n');
  });
}

function dispatch(ex: HttpExchange, ctx: ListenerContext, body: Buffer): void {
  const fn = ctx.handler.onMessage;
  if (!fn) {
    ex.respond(404, undefined, TEXT, 'Not Found\n');
    return;
  }
  ctx.stats.totalRequests++;
  const conn = new HttpConnection(ex, ctx);
  let result: unknown;
  try {
    result = fn.call(ctx.handler, conn, new HttpRequest(ex, body));
  } catch (err) {
    ctx.guard.report('onMessage', err);
    answer500(ex);
    return;
  }
  if (result !== null && typeof result === 'object' && typeof (result as PromiseLike<unknown>).then === 'function') {
    // Through the guard, so a rejection is logged with file:line and counted like any other.
    ctx.guard.call('onMessage', () => result, undefined);
    (result as PromiseLike<unknown>).then(undefined, () => answer500(ex));
  }
}

function answer500(ex: HttpExchange): void {
  if (!ex.answered && !ex.gone) ex.respond(500, undefined, TEXT, 'Internal Server Error\n');
}
