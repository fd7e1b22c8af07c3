/** Counters of one worker process, reported to the master for `status`. */
export interface WorkerStats {
  connections: number;
  totalConnections: number;
  totalRequests: number;
  sendFailures: number;
  handlerErrors: number;
  badPackets: number;
  bytesIn: number;
  bytesOut: number;
  /** Fresh connections handed to a less-loaded sibling (worker/balance.ts). */
  handedOff: number;
  /** accept() errors Node reported (each may have dropped waiting connections). */
  acceptErrors: number;
  /** Seconds seen with every file descriptor in use: new connections were dropped meanwhile. */
  fdExhausted: number;
  /** Requests in the last whole second. */
  qps: number;
}

export function newStats(): WorkerStats {
  return { connections: 0, totalConnections: 0, totalRequests: 0, sendFailures: 0, handlerErrors: 0, badPackets: 0, bytesIn: 0, bytesOut: 0, qps: 0, handedOff: 0, acceptErrors: 0, fdExhausted: 0 };
}
