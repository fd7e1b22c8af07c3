// A worker's graceful stop (stop, or retirement after a reload): stop accepting, let in-flight
// handler work finish, then close what is left, in the order README's "Graceful stop" gives.
import type { Guard } from '../core/guard.js';
import type { WorkerTimers } from '../core/timers.js';
import type { Logger } from '../log/logger.js';
import type { Connection, Handler, Worker } from '../types/handler.js';
import type { WorkerClients } from './clients.js';

// Handles that sit idle without being "work": sockets, servers, the IPC pipe, signals, ttys.
const IDLE_RESOURCES = new Set([
  'PipeWrap', 'TCPWrap', 'TCPSocketWrap', 'TCPServerWrap', 'PipeServerWrap', 'PipeSocketWrap',
  'TTYWrap', 'UDPWrap', 'SignalWrap', 'FSEventWrap', 'StatWatcher', 'ProcessWrap',
]);

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms).unref());

/**
 * Resolves when the handler has no timer, file operation or lookup left pending: the
 * in-flight work of a graceful stop (a reply sent from a setTimeout, say) has finished.
 */
export async function waitForQuiet(): Promise<void> {
  while (process.getActiveResourcesInfo().some((r) => !IDLE_RESOURCES.has(r))) await sleep(10);
}

export interface StopParts {
  reason: 'stop' | 'reload';
  /** reload: how long accepted connections may stay open on their own before they are closed. */
  drainMs: number;
  /** Stops accepting (listeners closed). */
  closeListeners(): void;
  handler: Handler;
  worker: Worker;
  guard: Guard;
  timers: WorkerTimers;
  connections: Map<number, Connection>;
  clients: WorkerClients;
  log: Logger;
  /** A business process: leave the gateways first (they hold its events for its successor). */
  leave?: () => Promise<void>;
  /** Last: whatever else the process holds open (its bus links). */
  finish?: () => void;
}

export async function gracefulStop(p: StopParts): Promise<void> {
  const { handler, worker, guard, connections, clients } = p;
  p.closeListeners();
  // A client waiting to retry would keep waitForQuiet() busy until stop_timeout kills us.
  clients.retire();
  await p.leave?.();
  if (p.reason === 'reload') {
    guard.call('onWorkerReload', handler.onWorkerReload, handler, worker);
    await guard.idle();
    // Like Workerman's graceful reload: keep serving the connections already accepted until
    // their clients close them, or the drain time is up; a new process takes the new ones.
    const deadline = Date.now() + p.drainMs;
    while (connections.size > 0 && Date.now() < deadline) await sleep(20);
  }
  for (const c of connections.values()) c.pauseRecv();
  p.timers.delPersistent();
  await guard.idle();
  await waitForQuiet();
  guard.call('onWorkerStop', handler.onWorkerStop, handler, worker);
  await guard.idle();
  for (const c of connections.values()) c.close();
  clients.closeAll();
  while (connections.size > 0 || clients.open) await sleep(10);
  p.finish?.();
  p.log.info(p.reason === 'reload' ? 'drained after reload' : 'stopped');
}
