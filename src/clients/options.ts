// What every async client is made from: its worker's facilities and the connect() options.
import { BadPackets } from '../core/bad-packets.js';
import type { ConnectionContext } from '../core/connection.js';
import type { Guard } from '../core/guard.js';
import type { WorkerStats } from '../core/stats.js';
import type { Logger } from '../log/logger.js';
import type { ProtocolModule, Worker } from '../types/handler.js';

/** What a client needs from its worker. */
export interface ClientDeps {
  guard: Guard;
  stats: WorkerStats;
  log: Logger;
  handlersDir: string;
  worker: Worker;
  /** The worker's connection id counter, so client ids never equal a server connection's. */
  nextConnectionId: () => number;
}

/** Settings every client kind takes from connect(). */
export interface ClientSettings {
  id: number;
  url: string;
  reconnectInterval: number;
  timeout: number;
  deps: ClientDeps;
}

/** A client's limits until the handler changes them (config.ini's defaults). */
export const CLIENT_MAX_PACKAGE_SIZE = 1024 * 1024;
export const CLIENT_MAX_SEND_BUFFER_SIZE = 1024 * 1024;

/** A client's own context: no handler module, its callbacks are its own. */
export function clientContext(s: ClientSettings, protocol: ProtocolModule): ConnectionContext {
  const { guard, stats, log } = s.deps;
  return { url: s.url, protocol, handler: {}, guard, stats, log, badPackets: new BadPackets(s.url, stats, log) };
}
