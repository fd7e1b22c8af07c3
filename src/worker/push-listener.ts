// A gateway group's push API listener, in its business processes: an HTTP server on the
// socket the master bound for push_listen.
import { createServer, type Server } from 'node:http';
import type { GroupConfig } from '../config/types.js';
import { LoomError } from '../core/errors.js';
import type { GatewayApi } from '../gateway/api.js';
import { attachPushApi } from '../gateway/push.js';
import type { Logger } from '../log/logger.js';
import type { RawHandle } from './listen.js';

export function listenPush(handle: RawHandle, group: GroupConfig, api: GatewayApi, log: Logger): Promise<Server> {
  const server = createServer({ headersTimeout: group.headerTimeout * 1000, keepAliveTimeout: group.idleTimeout * 1000, noDelay: true });
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
