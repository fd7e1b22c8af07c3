// Messages between the master and its workers over the fork() IPC channel.
import type { TlsMaterial } from '../config/tls.js';
import type { GroupConfig } from '../config/types.js';
import type { ConnectionInfo } from '../core/connection.js';
import type { LoomErrorCode } from '../core/errors.js';
import type { WorkerStats } from '../core/stats.js';
import type { GatewayReport } from '../gateway/gateway.js';

export type { ConnectionInfo };

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
  /** The group's TLS files, read by the master (null: a plain listener). */
  tls: TlsMaterial | null;
  /** A part of a gateway group (model = gateway); null: an ordinary worker. */
  gateway: GatewayPart | null;
}

/** What a process of a gateway group needs beyond its GroupConfig. */
export interface GatewayPart {
  role: 'gateway' | 'business';
  /** The config.ini section: names the group on the bus. */
  section: string;
  /** Gateway processes (`count`) and business processes (`business_count`) of the group. */
  gateways: number;
  businesses: number;
  /** Directory of the local bus's sockets. */
  busDir: string;
}

export interface WorkerReport {
  stats: WorkerStats;
  /** Short hash of the handler file this process loaded (null: no handler). */
  handlerVersion: string | null;
  /** A gateway process's figures. */
  gateway?: GatewayReport;
  /** Open file descriptors and the process's limit on them (null: unknown). */
  files: number | null;
  fileLimit: number | null;
  timers: number;
  state: string;
  /** RSS in bytes once serving, before its first connection: what the connections since add to it is theirs. */
  baseRss: number;
  connections?: ConnectionInfo[];
}

export type ToWorker =
  | WorkerInit
  /** drainMs: how long connections may stay open on their own before they are closed. */
  | { t: 'stop'; reason: 'stop' | 'reload'; drainMs: number }
  | { t: 'report'; req: number; connections: boolean }
  | { t: 'reopen-logs' }
  /** A gateway group was scaled: its gateway and business processes learn the new counts. */
  | { t: 'scale'; gateways: number; businesses: number }
  /** Liveness probe: a worker whose event loop is stuck never answers. */
  | { t: 'ping'; seq: number }
  /** Least connection count among the group's other workers, for the balancer. */
  | { t: 'balance'; minSibling: number; siblings: number }
  /** A connection handed over by a sibling (the handle travels with the message). */
  | { t: 'adopt' };

export type ToMaster =
  | { t: 'ready' }
  /** The worker could not start; code is a LOOM_ERR_* code. */
  | { t: 'fatal'; code: LoomErrorCode; message: string }
  | { t: 'pong'; seq: number }
  | { t: 'report'; req: number; report: WorkerReport }
  | { t: 'load'; connections: number }
  | { t: 'handoff' };

/** Environment variable that makes the executable run as a worker instead of the CLI. */
export const ROLE_ENV = 'LOOM_ROLE';
