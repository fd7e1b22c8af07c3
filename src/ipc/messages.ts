// Messages between the master and its workers over the fork() IPC channel.
import type { GroupConfig } from '../config/types.js';
import type { WorkerStats } from '../core/stats.js';

export interface WorkerInit {
  t: 'init';
  name: string;
  group: GroupConfig;
  workerId: number;
  handlersDir: string;
  logFile: string;
  foreground: boolean;
  /** Drop to this account before any user code loads. */
  user: { uid: number; gid: number } | null;
}

export interface ConnectionInfo {
  id: number;
  protocol: string;
  local: string;
  remote: string;
  bytesIn: number;
  bytesOut: number;
  sendQueue: number;
  ageSeconds: number;
}

export interface WorkerReport {
  stats: WorkerStats;
  timers: number;
  state: string;
  connections?: ConnectionInfo[];
}

export type ToWorker =
  | WorkerInit
  /** drainMs: how long connections may stay open on their own before they are closed. */
  | { t: 'stop'; reason: 'stop' | 'reload'; drainMs: number }
  | { t: 'report'; req: number; connections: boolean }
  | { t: 'reopen-logs' }
  /** Least connection count among the group's other workers, for the balancer. */
  | { t: 'balance'; minSibling: number; siblings: number }
  /** A connection handed over by a sibling (the handle travels with the message). */
  | { t: 'adopt' };

export type ToMaster =
  | { t: 'ready' }
  | { t: 'fatal'; message: string }
  | { t: 'report'; req: number; report: WorkerReport }
  | { t: 'load'; connections: number }
  | { t: 'handoff' };

/** Environment variable that makes the executable run as a worker instead of the CLI. */
export const ROLE_ENV = 'LOOM_ROLE';
