// worker.connect(): async clients (tcp, text, frame, custom, tls, ws, wss, udp) with
// reconnect. Skeleton: implemented in the issue on web protocols and clients.
import type { Logger } from '../log/logger.js';
import type { AsyncConnection, ConnectOptions, Worker } from '../types/handler.js';
import type { Guard } from './guard.js';
import type { WorkerStats } from './stats.js';

/** What a client needs from its worker. */
export interface ClientDeps {
  guard: Guard;
  stats: WorkerStats;
  log: Logger;
  handlersDir: string;
  worker: Worker;
}

export function connect(url: string, _opts: ConnectOptions, _deps: ClientDeps): AsyncConnection {
  throw new Error(`worker.connect(${url}): not implemented yet`);
}
