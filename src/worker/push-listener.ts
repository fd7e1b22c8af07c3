// A gateway group's push API listener, in its business processes: an HTTP server on the
// socket the master bound for push_listen.
import { Server } from 'node:http';
import { Server as NetServer, type Socket } from 'node:net';
import type { GroupConfig } from '../config/types.js';
import { LoomError } from '../core/errors.js';
import type { GatewayApi } from '../gateway/api.js';
import { attachPushApi } from '../gateway/push.js';
import type { Logger } from '../log/logger.js';
import type { RawHandle } from './listen.js';

/** How long, once the server closes, its open connections may still bring a request. */
const CLOSE_GRACE_MS = 1000;

/**
 * An HTTP server whose close() (a graceful stop, a reload) drops no request. Node's close()
 * also closes at once every connection that has no request in progress: one accepted a moment
 * ago whose request has not been read yet, and a kept-alive one between two requests of its
 * caller, whose next request then meets a closed connection (ECONNRESET, "other side closed";
 * a caller pushing steadily saw some at every reload). Here close() stops accepting;
 * connections keep being served for up to CLOSE_GRACE_MS (less once none is left
 * open), each answer from then on closing its connection; then the idle ones are closed. The
 * grace timer also holds the graceful stop until it is over.
 */
class PushServer extends Server {
  private readonly sockets = new Set<Socket>();
  private closing = false;
  private grace: NodeJS.Timeout | null = null;

  constructor(group: GroupConfig) {
    super({ headersTimeout: group.headerTimeout * 1000, keepAliveTimeout: group.idleTimeout * 1000, noDelay: true });
    this.on('connection', (socket: Socket) => {
      this.sockets.add(socket);
      socket.once('close', () => {
        this.sockets.delete(socket);
        if (this.closing && this.sockets.size === 0) this.endGrace();
      });
    });
    // Registered before the push API's own listener: set before it answers.
    this.on('request', (_req, res) => {
      if (this.closing) res.shouldKeepAlive = false;
    });
  }

  override close(callback?: (err?: Error) => void): this {
    NetServer.prototype.close.call(this, callback);
    if (!this.closing) {
      this.closing = true;
      if (this.sockets.size > 0) this.grace = setTimeout(() => this.endGrace(), CLOSE_GRACE_MS);
    }
    return this;
  }

  private endGrace(): void {
    if (this.grace) clearTimeout(this.grace);
    this.grace = null;
    this.closeIdleConnections();
  }
}

export function listenPush(handle: RawHandle, group: GroupConfig, api: GatewayApi, log: Logger): Promise<Server> {
  const server = new PushServer(group);
  attachPushApi(server, api, group.pushToken, log);
  return new Promise((resolve, reject) => {
    const onError = (err: Error) => reject(new LoomError('LOOM_ERR_BIND', `${group.listen!.url}: ${err.message}`));
    server.once('error', onError);
    server.listen(handle as never, () => {
      server.off('error', onError);
      resolve(server);
    });
  });
}
