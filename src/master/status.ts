// What `loom status` and `loom connections` show, gathered from the workers over IPC and
// from the kernel (memory, CPU) through pidusage.
import { loadavg } from 'node:os';
import type { ConnectionInfo } from '../ipc/messages.js';
import type { GatewayReport } from '../gateway/gateway.js';
import { VERSION } from '../util/version.js';
import type { Master } from './master.js';

export interface ProcessStatus {
  pid: number;
  group: string;
  workerId: number;
  listen: string;
  memory: number;
  /** RSS in bytes when it began serving, before its first connection (null: unknown). */
  baseMemory: number | null;
  cpu: number;
  connections: number;
  totalRequests: number;
  qps: number;
  sendFailures: number;
  handlerErrors: number;
  badPackets: number;
  handedOff: number;
  acceptErrors: number;
  /** Seconds at the file descriptor limit (new connections dropped meanwhile). */
  fdExhausted: number;
  /** Open file descriptors, and the limit (null: unknown). */
  files: number | null;
  fileLimit: number | null;
  /** Short hash of the handler file the process loaded. */
  handlerVersion: string | null;
  /** A gateway process: its clients, uids, groups, message rates and business queue. */
  gateway?: GatewayReport;
  timers: number;
  /** starting, running, stopping, or unresponsive (pings unanswered: its event loop is blocked). */
  state: string;
  uptime: number;
}

export interface GroupStatus {
  name: string;
  listen: string;
  count: number;
  deaths: number;
  exitStatuses: Record<string, number>;
  reloads: number;
  lastReloadError: string | null;
  /** Handler versions its serving processes run: more than one after a hot reload that failed part-way. */
  handlerVersions: string[];
  /** The gateway part of a gateway group: its processes' figures summed. */
  gateway?: GatewayReport;
  /** Its processes' connections and RSS (bytes), summed. */
  connections: number;
  memory: number;
  /**
   * Estimated bytes per connection: the RSS its processes grew by since they began serving,
   * over their connections (null: no connections). Garbage and caches count in too.
   */
  memoryPerConnection: number | null;
}

export interface Status {
  version: string;
  node: string;
  masterPid: number;
  startedAt: string;
  uptime: number;
  loadavg: number[];
  groups: GroupStatus[];
  processCount: number;
  processes: ProcessStatus[];
}

export async function buildStatus(master: Master): Promise<Status> {
  const processes: ProcessStatus[] = [];
  const pids: number[] = [];
  const versions = new Map<string, Set<string>>();
  const gatewaySums = new Map<string, GatewayReport>();
  for (const g of master.groups) {
    const reports = await g.reports(false);
    const live = new Set(g.live());
    const seen = new Set<string>();
    versions.set(g.name, seen);
    for (const [wp, r] of reports) if (live.has(wp) && r?.handlerVersion) seen.add(r.handlerVersion);
    for (const r of reports.values()) if (r?.gateway) gatewaySums.set(g.name, addReports(gatewaySums.get(g.name), r.gateway));
    for (const [wp, r] of reports) {
      pids.push(wp.pid);
      processes.push({
        pid: wp.pid,
        group: g.name,
        workerId: wp.id,
        listen: g.config.listen?.url ?? '',
        memory: 0,
        baseMemory: r?.baseRss ?? null,
        cpu: 0,
        connections: r?.stats.connections ?? 0,
        totalRequests: r?.stats.totalRequests ?? 0,
        qps: r?.stats.qps ?? 0,
        sendFailures: r?.stats.sendFailures ?? 0,
        handlerErrors: r?.stats.handlerErrors ?? 0,
        badPackets: r?.stats.badPackets ?? 0,
        handedOff: r?.stats.handedOff ?? 0,
        acceptErrors: r?.stats.acceptErrors ?? 0,
        fdExhausted: r?.stats.fdExhausted ?? 0,
        files: r?.files ?? null,
        fileLimit: r?.fileLimit ?? null,
        handlerVersion: r?.handlerVersion ?? null,
        ...(r?.gateway ? { gateway: r.gateway } : {}),
        timers: r?.timers ?? 0,
        state: wp.unresponsive ? 'unresponsive' : r?.state ?? wp.state,
        uptime: Math.round((Date.now() - wp.startedAt) / 1000),
      });
    }
  }
  if (pids.length > 0) {
    try {
      // Loaded here, not at the top: the bundle is one scope, and workers never need it.
      const { default: pidusage } = await import('pidusage');
      const usage = await pidusage(pids);
      for (const p of processes) {
        const u = usage[String(p.pid)];
        if (u) { p.memory = u.memory; p.cpu = Math.round(u.cpu * 10) / 10; }
      }
    } catch { /* a process exited meanwhile: leave zeros */ }
  }
  return {
    version: VERSION,
    node: process.version,
    masterPid: process.pid,
    startedAt: new Date(master.startedAt).toISOString(),
    uptime: Math.round((Date.now() - master.startedAt) / 1000),
    loadavg: loadavg().map((n) => Math.round(n * 100) / 100),
    groups: master.groups.map((g) => ({
      name: g.name,
      listen: g.config.listen?.url ?? '',
      count: g.config.count,
      deaths: g.deaths,
      exitStatuses: Object.fromEntries(g.exitStatuses),
      reloads: g.reloads,
      lastReloadError: g.lastReloadError,
      handlerVersions: [...(versions.get(g.name) ?? [])].sort(),
      ...(gatewaySums.has(g.name) ? { gateway: gatewaySums.get(g.name) } : {}),
      ...memoryOf(processes.filter((p) => p.group === g.name)),
    })),
    processCount: processes.length,
    processes,
  };
}

export interface ConnectionRow extends ConnectionInfo { group: string; workerId: number; pid: number }

export async function buildConnections(master: Master): Promise<ConnectionRow[]> {
  const rows: ConnectionRow[] = [];
  for (const g of master.groups) {
    for (const [wp, r] of await g.reports(true)) {
      for (const c of r?.connections ?? []) rows.push({ group: g.name, workerId: wp.id, pid: wp.pid, ...c });
    }
  }
  return rows;
}

/** A group's connections and memory, and the estimated memory per connection. */
function memoryOf(processes: ProcessStatus[]): Pick<GroupStatus, 'connections' | 'memory' | 'memoryPerConnection'> {
  let connections = 0;
  let memory = 0;
  let grown = 0;
  let counted = 0;
  for (const p of processes) {
    connections += p.connections;
    memory += p.memory;
    // Only processes whose RSS was read now and at their start: a missing reading is not growth.
    if (p.memory > 0 && p.baseMemory !== null) {
      grown += p.memory - p.baseMemory;
      counted += p.connections;
    }
  }
  // A heap that shrank since the start (garbage of the startup collected) is no negative cost.
  return { connections, memory, memoryPerConnection: counted > 0 ? Math.max(0, Math.round(grown / counted)) : null };
}

/** Two gateway processes' figures added up (a uid or group on both counts twice). */
function addReports(a: GatewayReport | undefined, b: GatewayReport): GatewayReport {
  if (!a) return { ...b };
  const out = { ...a };
  for (const k of Object.keys(b) as (keyof GatewayReport)[]) out[k] += b[k];
  return out;
}
