// The master: binds every listener, starts and supervises the worker groups, answers the
// control socket, and turns signals into stop, reload and log reopening.
import { formatAddress } from '../config/listen.js';
import type { LoomConfig } from '../config/types.js';
import { LoomError } from '../errors.js';
import { Logger } from '../log/logger.js';
import { ControlServer } from './control.js';
import { WorkerGroup } from './group.js';
import { bindListener, type BoundHandle } from './listeners.js';
import { controlSocketPath, removePid, runningPid, writePid } from './pidfile.js';
import { buildStatus, buildConnections } from './status.js';

export interface MasterOptions {
  config: LoomConfig;
  /** Foreground: log lines also go to stderr. */
  foreground: boolean;
}

export class Master {
  readonly groups: WorkerGroup[] = [];
  readonly startedAt = Date.now();
  readonly log: Logger;
  private stopping = false;
  private control: ControlServer | null = null;
  private exitCode = 0;

  constructor(readonly config: LoomConfig, private readonly foreground: boolean) {
    try {
      this.log = new Logger(config.logFile, `master[${process.pid}]`, foreground);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code ?? 'error';
      throw new LoomError('LOOM_ERR_LOG_FILE', `cannot write log file ${config.logFile} (${code}); set log_file in [loom] to a writable path`);
    }
  }

  /** Binds, writes the pidfile, starts every worker; rejects (having cleaned up) on any failure. */
  async start(): Promise<void> {
    const { config } = this;
    const other = runningPid(config.pidFile);
    if (other !== null) throw new LoomError('LOOM_ERR_ALREADY_RUNNING', `loom is already running, pid ${other} (pid file ${config.pidFile})`);
    process.title = `${config.name}: master process (${config.file})`;

    const handles: BoundHandle[] = [];
    try {
      for (const g of config.groups) {
        const handle = g.listen ? bindListener(g.listen) : null;
        if (handle) handles.push(handle);
        this.groups.push(new WorkerGroup(g, handle, {
          log: this.log,
          init: { t: 'init', name: config.name, handlersDir: config.handlersDir, logFile: config.logFile, foreground: this.foreground },
          keepAlive: () => !this.stopping,
        }));
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
    this.log.info(`started ${this.groups.length} group(s), ${this.processCount()} worker process(es); config ${config.file}`);
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

  private installSignals(): void {
    process.on('SIGTERM', () => void this.stop('SIGTERM'));
    process.on('SIGINT', () => void this.stop('SIGINT'));
    process.on('SIGQUIT', () => void this.kill());
    process.on('SIGHUP', () => this.log.warn('SIGHUP: rolling reload is not implemented yet; ignored'));
    process.on('SIGUSR1', () => this.log.warn('SIGUSR1: rolling reload is not implemented yet; ignored'));
    process.on('SIGUSR2', () => {
      try { this.log.reopen(); this.log.info('log file reopened'); } catch (err) { this.log.error(`cannot reopen log file: ${(err as Error).message}`); }
    });
  }

  private async answer(req: { cmd: string }): Promise<unknown> {
    switch (req.cmd) {
      case 'status': return buildStatus(this);
      case 'connections': return buildConnections(this);
      case 'stop': setImmediate(() => void this.stop('stop command')); return { ok: true };
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
