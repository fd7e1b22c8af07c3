import type { Logger } from '../log/logger.js';
import type { Connection, Handler, ProtocolModule, Worker } from '../types/handler.js';
import type { Guard } from '../core/guard.js';
import type { WorkerStats } from '../core/stats.js';

/** What every connection of one listener shares: its protocol, limits and the handler. */
export interface ListenerContext {
  /** The listen URL, for log lines. */
  url: string;
  protocolName: string;
  protocol: ProtocolModule;
  handler: Handler;
  guard: Guard;
  stats: WorkerStats;
  log: Logger;
  worker: Worker;
  maxPackageSize: number;
  maxSendBufferSize: number;
  connections: Map<number, Connection>;
  nextConnectionId(): number;
}
