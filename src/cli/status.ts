// status and connections: ask the master, print a table (or JSON for machines).
import type { LoomConfig } from '../config/types.js';
import { controlSocketPath } from '../master/pidfile.js';
import type { ConnectionRow, Status } from '../master/status.js';
import { askMaster } from '../master/control.js';
import { EXIT_FAILURE } from '../core/errors.js';
import type { ReloadResult } from '../master/master.js';

export async function status(config: LoomConfig, json: boolean, watch: boolean): Promise<void> {
  const path = controlSocketPath(config.pidFile);
  for (;;) {
    const s = (await askMaster(path, 'status')) as Status;
    const text = json ? JSON.stringify(s, null, 2) : formatStatus(s);
    if (!watch) {
      process.stdout.write(text + '\n');
      return;
    }
    process.stdout.write(`\x1b[2J\x1b[H${text}\n`);
    await new Promise((r) => setTimeout(r, 1000));
  }
}

/** Rolling reload through the control socket; exit 1 when any group failed to reload. */
export async function reload(config: LoomConfig): Promise<void> {
  // Each process of each group is replaced in turn, and a handler's onWorkerStart may be slow.
  const r = (await askMaster(controlSocketPath(config.pidFile), 'reload', 300000)) as ReloadResult;
  for (const line of r.lines) (r.ok ? process.stdout : process.stderr).write(line + '\n');
  if (!r.ok) {
    process.stderr.write(`loom: LOOM_ERR_RELOAD reload finished with errors; see ${config.logFile}\n`);
    process.exitCode = EXIT_FAILURE;
  } else {
    process.stdout.write(`${config.name} reloaded\n`);
  }
}

export async function connections(config: LoomConfig, json: boolean): Promise<void> {
  const rows = (await askMaster(controlSocketPath(config.pidFile), 'connections')) as ConnectionRow[];
  if (json) {
    process.stdout.write(JSON.stringify(rows, null, 2) + '\n');
    return;
  }
  process.stdout.write(table(
    ['group', 'worker', 'pid', 'id', 'dir', 'protocol', 'local', 'remote', 'bytes_in', 'bytes_out', 'send_q', 'age_s', 'client', 'uid', 'groups'],
    rows.map((r) => [r.group, r.workerId, r.pid, r.id, r.direction, r.protocol, r.local, r.remote, r.bytesIn, r.bytesOut, r.sendQueue, r.ageSeconds,
      r.clientId ?? '-', r.uid ?? '-', r.groups?.join(',') || '-']),
  ) + `\n${rows.length} connection(s)\n`);
}

function formatStatus(s: Status): string {
  const lines = [
    `Loom ${s.version}   Node.js ${s.node}   master pid ${s.masterPid}`,
    `started ${s.startedAt}   uptime ${formatUptime(s.uptime)}   load average ${s.loadavg.join(', ')}`,
    `${s.groups.length} group(s)   ${s.processCount} process(es)`,
    '',
    table(['group', 'listen', 'count', 'conns', 'memory', 'mem/conn', 'deaths', 'exit statuses', 'reloads', 'handler'], s.groups.map((g) => [
      g.name, g.listen || '-', g.count, g.connections, megabytes(g.memory), perConnection(g.memoryPerConnection), g.deaths,
      Object.entries(g.exitStatuses).map(([k, v]) => `${k}:${v}`).join(' ') || '-', g.reloads,
      g.handlerVersions.length > 1 ? `MIXED ${g.handlerVersions.join(' ')}` : g.handlerVersions[0] ?? '-',
    ])),
    ...s.groups.filter((g) => g.lastReloadError).map((g) => `[${g.name}] last reload failed: ${g.lastReloadError}`),
    ...s.groups.filter((g) => g.gateway).map((g) => {
      const r = g.gateway!;
      return `[${g.name}] ${r.clients} client(s), ${r.uids} uid(s), ${r.groups} group(s); messages in ${r.messagesInPerSecond}/s, out ${r.messagesOutPerSecond}/s; business queue ${r.held + r.inFlight} (held ${r.held}, in flight ${r.inFlight}); lost ${r.lost}`;
    }),
    ...s.groups.filter((g) => g.handlerVersions.length > 1).map((g) =>
      `[${g.name}] processes run ${g.handlerVersions.length} different handler versions (a reload stopped part-way): fix the handler and save it again, or run loom reload`),
    '',
    table(['pid', 'group', 'id', 'listen', 'memory', 'cpu%', 'conns', 'requests', 'qps', 'send_fail', 'errors', 'fds', 'timers', 'handler', 'state'],
      s.processes.map((p) => [p.pid, p.group, p.workerId, p.listen || '-', megabytes(p.memory), p.cpu,
        p.connections, p.totalRequests, p.qps, p.sendFailures, p.handlerErrors, files(p), p.timers, p.handlerVersion ?? '-', p.state])),
  ];
  return lines.join('\n');
}

function megabytes(bytes: number): string {
  return `${(bytes / 1048576).toFixed(1)}M`;
}

/** The estimate of status.ts in KB; '-' without connections. */
function perConnection(bytes: number | null): string {
  return bytes === null ? '-' : `~${(bytes / 1024).toFixed(1)}K`;
}

/** Open file descriptors of a process against its limit, and how long it ran out (connections dropped). */
function files(p: Status['processes'][number]): string {
  const used = p.files === null ? '-' : `${p.files}/${p.fileLimit ?? '?'}`;
  return p.fdExhausted > 0 ? `${used} out:${p.fdExhausted}s` : used;
}

function formatUptime(s: number): string {
  const d = Math.floor(s / 86400);
  const h = Math.floor((s % 86400) / 3600);
  const m = Math.floor((s % 3600) / 60);
  return `${d ? `${d}d ` : ''}${h}h ${m}m ${s % 60}s`;
}

function table(head: string[], rows: (string | number)[][]): string {
  const all = [head, ...rows.map((r) => r.map(String))];
  const widths = head.map((_, i) => Math.max(...all.map((r) => r[i].length)));
  return all.map((r) => r.map((c, i) => c.padEnd(widths[i])).join('  ').trimEnd()).join('\n');
}
