// The master: binds every listener, starts and supervises the worker groups, answers the
// control socket, and turns signals into stop, reload and log reopening.
import { chmodSync, chownSync } from 'node:fs';
import { formatAddress, type ListenSpec } from '../config/listen.js';
import { loadConfig } from '../config/load.js';
import { findProtocolFile } from '../core/protocol-loader.js';
import { formatProblem, type GroupConfig, type LoomConfig } from '../config/types.js';
import { LoomError, errorMessage } from '../core/errors.js';
import { busDirPath } from '../config/paths.js';
import { mkdirp } from '../util/mkdirp.js';
import { partsOf } from './parts.js';
import type { GatewayPart } from '../ipc/messages.js';
import { Logger, openFailure } from '../log/logger.js';
import { OutputSink } from '../log/output.js';
import { ControlServer } from './control.js';
import { WorkerGroup } from './group.js';
import { bindListener, type BoundHandle } from './listeners.js';
import { controlSocketPath, removePid, runningPid, selfIdentity, writePid } from './pidfile.js';
import { buildStatus, buildConnections } from './status.js';
import { watchHandlers, type HandlerWatcher } from './watcher.js';

/** How often every worker is pinged (see WorkerGroup.checkHealth). */
const HEALTH_CHECK_MS = 1000;

export interface ReloadResult { ok: boolean; lines: string[] }

export interface MasterOptions {
  config: LoomConfig;
  /** Foreground: log lines also go to stderr. */
  foreground: boolean;
}

export class Master {
  readonly groups: WorkerGroup[] = [];
  readonly startedAt = Date.now();
  readonly log: Logger;
  /** Workers' stdout/stderr: the terminal, or stdout_file in daemon mode. */
  private readonly output: OutputSink;
  private stopping = false;
  private control: ControlServer | null = null;
  private exitCode = 0;
  private watcher: HandlerWatcher | null = null;
  /** Reloads run one at a time; a request during one runs once it ends. */
  private reloading: Promise<ReloadResult> | null = null;
  private reloadAgain: { trigger: string; only: Set<string> | null } | null = null;

  constructor(public config: LoomConfig, private readonly foreground: boolean) {
    try {
      this.log = new Logger(config.logFile, `master[${process.pid}]`, foreground);
    } catch (err) {
      throw new LoomError('LOOM_ERR_LOG_FILE', `log_file ${config.logFile} ${openFailure(err)}; set log_file in [loom] to a writable file`);
    }
    try {
      this.output = new OutputSink(foreground ? null : config.stdoutFile);
    } catch (err) {
      throw new LoomError('LOOM_ERR_LOG_FILE', `stdout_file ${config.stdoutFile} ${openFailure(err)}; set stdout_file in [loom] to a writable file`);
    }
  }

  /** Binds, writes the pidfile, starts every worker; rejects (having cleaned up) on any failure. */
  async start(): Promise<void> {
    const { config } = this;
    const other = await runningPid(config.pidFile);
    if (other !== null) throw new LoomError('LOOM_ERR_ALREADY_RUNNING', `loom is already running, pid ${other} (pid file ${config.pidFile})`);
    process.title = `${config.name}: master process (${config.file})`;
    this.prepareUser();

    const handles: BoundHandle[] = [];
    try {
      if (config.groups.some((g) => g.model === 'gateway')) this.makeBusDir();
      for (const part of config.groups.flatMap((g) => partsOf(g, this.busDir))) {
        const handle = part.config.listen ? await bindListener(part.config.listen) : null;
        if (handle) handles.push(handle);
        this.groups.push(new WorkerGroup(part.config, handle, this.groupEnv(), part.gateway));
      }
      writePid(config.pidFile);
    } catch (err) {
      for (const h of handles) h.close();
      throw err;
    }
    this.control = new ControlServer(controlSocketPath(config.pidFile), this.log, (req) => this.answer(req));
    this.installSignals();
    try {
      await this.control.listen();
      await Promise.all(this.groups.map((g) => g.startAll()));
    } catch (err) {
      this.stopping = true;
      for (const g of this.groups) g.killAll();
      await this.waitAllExited();
      this.cleanup();
      throw err instanceof LoomError ? err : new LoomError('LOOM_ERR_WORKER_START', (err as Error).message);
    }
    setInterval(() => {
      const now = Date.now();
      for (const g of this.groups) g.checkHealth(now);
    }, HEALTH_CHECK_MS).unref();
    this.log.info(`started ${this.groups.length} group(s), ${this.processCount()} worker process(es); config ${config.file}`);
    if (config.watch) await this.startWatching();
  }

  private async startWatching(): Promise<void> {
    try {
      this.watcher = await watchHandlers(this.config.handlersDir, this.log, (files) => {
        const only = new Set(this.groups.filter((g) => this.usesAny(g.config, files)).map((g) => g.name));
        // A file no group names directly (a shared module) may be required by any handler:
        // every group with a handler reloads (never gateways: they run no user code).
        const unowned = [...files].some((f) => !this.groups.some((g) => this.usesAny(g.config, new Set([f]))));
        if (unowned) for (const g of this.groups) if (g.config.handler) only.add(g.name);
        void this.reload(`change of ${[...files].join(', ')}`, only);
      });
    } catch (err) {
      this.log.warn(`cannot watch ${this.config.handlersDir}: ${(err as Error).message}; hot reload is off`);
    }
  }

  private usesAny(g: GroupConfig, files: Set<string>): boolean {
    if (g.handler && files.has(g.handler)) return true;
    const proto = g.listen ? findProtocolFile(this.config.handlersDir, g.listen.protocol) : null;
    return proto !== null && files.has(proto);
  }

  /**
   * Rolling reload: re-reads config.ini (an invalid one aborts with everything left running),
   * stops removed groups, starts added ones, and replaces the processes of reloadable groups
   * one by one. `only` limits the restart to the named groups (hot reload of their files).
   */
  reload(trigger: string, only: Set<string> | null = null): Promise<ReloadResult> {
    if (this.stopping) return Promise.resolve({ ok: false, lines: ['loom is stopping'] });
    if (this.reloading) {
      const merged = this.reloadAgain?.only === null || only === null ? null : new Set([...(this.reloadAgain?.only ?? []), ...only]);
      this.reloadAgain = { trigger, only: merged };
      return this.reloading;
    }
    this.reloading = this.doReload(trigger, only).finally(() => {
      this.reloading = null;
      const again = this.reloadAgain;
      this.reloadAgain = null;
      if (again) void this.reload(again.trigger, again.only);
    });
    return this.reloading;
  }

  private async doReload(trigger: string, only: Set<string> | null): Promise<ReloadResult> {
    this.log.info(`reloading (${trigger})`);
    const { config, problems } = loadConfig(this.config.file);
    if (!config) {
      const lines = problems.map(formatProblem);
      for (const l of lines) this.log.error(`reload aborted, config invalid: ${l}`);
      return { ok: false, lines };
    }
    const lines: string[] = [];
    let ok = true;
    const fail = (g: string, err: unknown) => {
      ok = false;
      const msg = `[${g}] reload failed, old processes keep serving: ${err instanceof LoomError ? `${err.code} ` : ''}${errorMessage(err)}`;
      lines.push(msg);
      this.log.error(msg);
    };
    const drainMs = config.reloadTimeout * 1000;
    if (config.groups.some((g) => g.model === 'gateway')) this.makeBusDir();
    const parts = config.groups.flatMap((g) => partsOf(g, this.busDir));
    const wanted = new Map(parts.map((p) => [p.config.name, p]));
    for (const g of [...this.groups]) {
      if (wanted.has(g.name)) continue;
      this.groups.splice(this.groups.indexOf(g), 1);
      g.closeHandle();
      void g.stop(config.stopTimeout * 1000);
      lines.push(`[${g.name}] removed`);
    }
    for (const { config: cfg, gateway } of parts) {
      const group = this.groups.find((g) => g.name === cfg.name);
      if (!group) {
        try {
          const created = new WorkerGroup(cfg, cfg.listen ? await bindListener(cfg.listen) : null, this.groupEnv(), gateway);
          this.groups.push(created);
          await created.startAll();
          lines.push(`[${cfg.name}] added`);
        } catch (err) {
          const created = this.groups.find((g) => g.name === cfg.name);
          if (created) { created.killAll(); created.closeHandle(); this.groups.splice(this.groups.indexOf(created), 1); }
          fail(cfg.name, err);
        }
        continue;
      }
      group.rescale(gateway);
      if (only && !only.has(cfg.name) && sameGroup(group.config, cfg)) continue;
      if (!cfg.reloadable && sameGroup(group.config, cfg)) continue;
      // Gateways hold the clients: only a change of their own settings restarts them.
      if (gateway?.role === 'gateway' && sameGroup(group.config, cfg)) continue;
      try {
        const moved = !sameListen(group.config.listen, cfg.listen);
        if (moved && !cfg.reloadable) throw new Error('listen changed but reloadable = false; restart loom to move it');
        const handle = moved ? (cfg.listen ? await bindListener(cfg.listen) : null) : group.handle;
        await group.reload(cfg, handle, drainMs);
        lines.push(`[${cfg.name}] reloaded: ${group.live().map((w) => w.pid).join(' ')}`);
      } catch (err) {
        fail(cfg.name, err);
      }
    }
    this.config = config;
    this.log.info(`reload ${ok ? 'done' : 'finished with errors'}`);
    return { ok, lines };
  }

  /** The local bus's directory: only the workers' user may enter it. */
  private get busDir(): string {
    return busDirPath(this.config.pidFile);
  }

  private makeBusDir(): void {
    const dir = this.busDir;
    try {
      mkdirp(dir);
      chmodSync(dir, 0o700);
      const { user } = this.config;
      if (user) chownSync(dir, user.uid, user.gid);
    } catch (err) {
      throw new LoomError('LOOM_ERR_BUS', `cannot make the bus directory ${dir} (${(err as NodeJS.ErrnoException).code ?? errorMessage(err)}); set pid_file in [loom] to a writable directory`);
    }
  }

  private groupEnv() {
    const { config } = this;
    return {
      log: this.log,
      output: this.output,
      init: { t: 'init' as const, name: config.name, handlersDir: config.handlersDir, logFile: config.logFile, foreground: this.foreground, user: config.user },
      keepAlive: () => !this.stopping,
      hangTimeoutMs: () => this.config.hangTimeout * 1000,
      gatewayReady: (part: GatewayPart) => {
        for (const g of this.groups) {
          const p = g.part;
          if (p?.role === 'business' && p.section === part.section) g.broadcast({ t: 'scale', gateways: p.gateways, businesses: p.businesses });
        }
      },
    };
  }

  listenersTable(): string {
    const rows = [['group', 'listen', 'address', 'processes']];
    for (const g of this.groups) {
      const l = g.config.listen;
      rows.push([g.name, l ? l.url : '(none)', l ? formatAddress(l) : '-', String(g.config.count)]);
    }
    const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
    return rows.map((r) => r.map((c, i) => c.padEnd(widths[i])).join('  ').trimEnd()).join('\n');
  }

  /** Graceful stop: workers finish in-flight work within stop_timeout, then are killed. */
  async stop(reason: string): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    this.log.info(`stopping (${reason})`);
    this.control?.close();
    await this.watcher?.close();
    for (const g of this.groups) g.closeHandle();
    await Promise.all(this.groups.map((g) => g.stop(this.config.stopTimeout * 1000)));
    this.cleanup();
    this.log.info('stopped');
    process.exit(this.exitCode);
  }

  /** Immediate stop (SIGQUIT): every worker is killed at once. */
  async kill(): Promise<void> {
    this.stopping = true;
    this.log.info('immediate stop (SIGQUIT)');
    for (const g of this.groups) g.killAll();
    await this.waitAllExited();
    this.cleanup();
    process.exit(0);
  }

  /** Workers drop to `user`; only root can do that, and they must be able to reopen the log. */
  private prepareUser(): void {
    const { user } = this.config;
    // (A user other than our own needs root: the config loader reports that at the user line.)
    if (!user || user.uid === process.getuid?.()) return;
    // As nginx does: the log belongs to the worker user, so a worker can reopen it (SIGUSR2).
    try {
      this.log.chown(user.uid, user.gid);
    } catch (err) {
      this.log.warn(`LOOM_ERR_LOG_FILE log_file ${this.config.logFile} ${(err as Error).message}; workers cannot reopen it`);
    }
  }

  private reopenLogs(): void {
    const { user, logFile, stdoutFile } = this.config;
    // A file that cannot be reopened (or handed over) leaves the old descriptor in use.
    const reopen = (key: string, file: string, fn: () => void): boolean => {
      try {
        fn();
        return true;
      } catch (err) {
        const why = (err as NodeJS.ErrnoException).code ? `${openFailure(err)}; still writing to the file open before` : (err as Error).message;
        this.log.error(`LOOM_ERR_LOG_FILE ${key} ${file} ${why}`);
        return false;
      }
    };
    const logOk = reopen('log_file', logFile, () => {
      this.log.reopen();
      if (user) this.log.chown(user.uid, user.gid);
    });
    if (reopen('stdout_file', stdoutFile, () => this.output.reopen()) && logOk) this.log.info('log files reopened');
    for (const g of this.groups) g.broadcast({ t: 'reopen-logs' });
  }

  private installSignals(): void {
    process.on('SIGTERM', () => void this.stop('SIGTERM'));
    process.on('SIGINT', () => void this.stop('SIGINT'));
    process.on('SIGQUIT', () => void this.kill());
    process.on('SIGHUP', () => void this.reload('SIGHUP'));
    process.on('SIGUSR1', () => void this.reload('SIGUSR1'));
    process.on('SIGUSR2', () => this.reopenLogs());
  }

  private async answer(req: { cmd: string }): Promise<unknown> {
    switch (req.cmd) {
      case 'identify': return selfIdentity();
      case 'status': return buildStatus(this);
      case 'connections': return buildConnections(this);
      case 'stop': setImmediate(() => void this.stop('stop command')); return { ok: true };
      case 'reload': return this.reload('reload command');
      default: throw new Error(`unknown command ${req.cmd}`);
    }
  }

  processCount(): number {
    return this.groups.reduce((n, g) => n + g.live().length, 0);
  }

  private async waitAllExited(): Promise<void> {
    const live = this.groups.flatMap((g) => g.live());
    await Promise.all(live.map((wp) => new Promise<void>((resolve) => {
      if (wp.child.exitCode !== null || wp.child.signalCode !== null) resolve();
      else wp.child.once('exit', () => resolve());
    })));
  }

  private cleanup(): void {
    for (const g of this.groups) g.closeHandle();
    this.control?.close();
    removePid(this.config.pidFile);
  }
}

function sameListen(a: ListenSpec | null, b: ListenSpec | null): boolean {
  return (a?.url ?? '') === (b?.url ?? '');
}

function sameGroup(a: GroupConfig, b: GroupConfig): boolean {
  const strip = (g: GroupConfig) => JSON.stringify({ ...g, line: 0 });
  return strip(a) === strip(b);
}
