// What every connection of one listener shares: its protocol, limits, the handler, and the
// worker's table of live connections, in which each connection kind registers the same way.
import type { Logger } from '../log/logger.js';
import type { Connection, Handler, ProtocolModule, Worker } from '../types/handler.js';
import { BadPackets } from './bad-packets.js';
import type { ConnectionContext } from './connection.js';
import type { Guard } from './guard.js';
import type { WorkerStats } from './stats.js';

export interface ListenerSettings {
  /** The listen URL, for log lines ('' for a group without a listener). */
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
  /** The worker's live server connections (worker.connections). */
  connections: Map<number, Connection>;
  /** The worker's connection id counter: ids are unique within the process. */
  nextConnectionId(): number;
}

export class ListenerContext implements ConnectionContext {
  readonly url: string;
  readonly protocolName: string;
  protocol: ProtocolModule;
  readonly handler: Handler;
  readonly guard: Guard;
  readonly stats: WorkerStats;
  readonly log: Logger;
  readonly worker: Worker;
  readonly maxPackageSize: number;
  readonly maxSendBufferSize: number;
  readonly connections: Map<number, Connection>;
  readonly nextConnectionId: () => number;
  readonly badPackets: BadPackets;

  constructor(s: ListenerSettings) {
    this.url = s.url;
    this.protocolName = s.protocolName;
    this.protocol = s.protocol;
    this.handler = s.handler;
    this.guard = s.guard;
    this.stats = s.stats;
    this.log = s.log;
    this.worker = s.worker;
    this.maxPackageSize = s.maxPackageSize;
    this.maxSendBufferSize = s.maxSendBufferSize;
    this.connections = s.connections;
    this.nextConnectionId = s.nextConnectionId;
    this.badPackets = new BadPackets(s.url, s.stats, s.log);
  }

  /** A new connection: listed in worker.connections and counted. */
  register(conn: Connection): void {
    this.connections.set(conn.id, conn);
    this.stats.connections++;
    this.stats.totalConnections++;
  }

  /** The same TCP connection under a new face (an HTTP connection upgraded to WebSocket). */
  replace(conn: Connection): void {
    if (this.connections.has(conn.id)) this.connections.set(conn.id, conn);
    else this.register(conn);
  }

  /** A connection closed: no longer listed. */
  unregister(conn: Connection): void {
    if (this.connections.get(conn.id) !== conn) return;
    this.connections.delete(conn.id);
    this.stats.connections--;
  }
}
