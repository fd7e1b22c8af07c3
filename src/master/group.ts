// One worker group (a config.ini section): keeps `count` processes alive, each in a slot whose
// worker id survives restarts, and backs off when a process keeps dying young.
import type { ChildProcess } from 'node:child_process';
import type { GroupConfig } from '../config/types.js';
import type { Logger } from '../log/logger.js';
import type { ToMaster, ToWorker, WorkerInit, WorkerReport } from '../ipc/messages.js';
import type { BoundHandle } from './listeners.js';
import { spawnSelf } from './spawn.js';

/** A process that lived less than this died young, and its restart is delayed. */
const YOUNG_MS = 5000;
const BACKOFF_FIRST_MS = 100;
const BACKOFF_MAX_MS = 10000;

export interface WorkerProcess {
  id: number;
  child: ChildProcess;
  pid: number;
  startedAt: number;
  state: 'starting' | 'running' | 'stopping';
  ready: Promise<void>;
}

export interface GroupEnv {
  log: Logger;
  init: Omit<WorkerInit, 'group' | 'workerId'>;
  /** False once the daemon is stopping: dead workers are not replaced. */
  keepAlive(): boolean;
}

export class WorkerGroup {
  readonly slots: (WorkerProcess | null)[];
  /** Exit status ("0", "1", "SIGKILL"...) → how many processes ended so. */
  readonly exitStatuses = new Map<string, number>();
  deaths = 0;
  private readonly youngDeaths: number[];
  private readonly restartTimers = new Set<NodeJS.Timeout>();
  private nextReq = 1;
  private readonly pending = new Map<number, (r: WorkerReport) => void>();

  constructor(readonly config: GroupConfig, readonly handle: BoundHandle | null, private readonly env: GroupEnv) {
    this.slots = new Array<WorkerProcess | null>(config.count).fill(null);
    this.youngDeaths = new Array<number>(config.count).fill(0);
  }

  get name(): string {
    return this.config.name;
  }

  /** Starts every slot; resolves when all are serving, rejects with the first failure. */
  startAll(): Promise<void> {
    return Promise.all(this.slots.map((_, id) => this.spawn(id).ready)).then(() => undefined);
  }

  spawn(id: number): WorkerProcess {
    const child = spawnSelf('worker');
    let settle: { resolve(): void; reject(e: Error): void };
    const ready = new Promise<void>((resolve, reject) => { settle = { resolve, reject }; });
    ready.catch(() => undefined);
    const wp: WorkerProcess = { id, child, pid: child.pid ?? 0, startedAt: Date.now(), state: 'starting', ready };
    this.slots[id] = wp;
    let fatal = '';
    child.on('message', (msg: ToMaster) => {
      if (msg.t === 'ready') {
        wp.state = 'running';
        settle.resolve();
      } else if (msg.t === 'fatal') {
        fatal = msg.message;
        this.env.log.error(`[${this.name}] worker #${id} pid ${wp.pid} failed to start: ${msg.message}`);
      } else if (msg.t === 'report') {
        this.pending.get(msg.req)?.(msg.report);
        this.pending.delete(msg.req);
      }
    });
    child.on('error', (err) => this.env.log.error(`[${this.name}] worker #${id}: ${err.message}`));
    child.on('exit', (code, signal) => {
      settle.reject(new Error(fatal || `[${this.name}] worker #${id} exited with ${signal ?? code} before it was ready`));
      this.exited(wp, code, signal);
    });
    const init: WorkerInit = { ...this.env.init, group: this.config, workerId: id };
    this.send(wp, init, this.handle ?? undefined);
    return wp;
  }

  private exited(wp: WorkerProcess, code: number | null, signal: NodeJS.Signals | null): void {
    const status = signal ?? String(code);
    this.exitStatuses.set(status, (this.exitStatuses.get(status) ?? 0) + 1);
    if (this.slots[wp.id] !== wp) return;
    this.slots[wp.id] = null;
    const stopping = wp.state === 'stopping';
    if (!stopping) this.deaths++;
    this.env.log[stopping ? 'info' : 'warn'](`[${this.name}] worker #${wp.id} pid ${wp.pid} exited with status ${status}`);
    if (stopping || !this.env.keepAlive()) return;
    const lived = Date.now() - wp.startedAt;
    this.youngDeaths[wp.id] = lived < YOUNG_MS ? this.youngDeaths[wp.id] + 1 : 0;
    const n = this.youngDeaths[wp.id];
    const delay = n === 0 ? 0 : Math.min(BACKOFF_FIRST_MS * 2 ** (n - 1), BACKOFF_MAX_MS);
    if (delay > 0) this.env.log.warn(`[${this.name}] worker #${wp.id} died young ${n} time(s) in a row; restarting in ${delay} ms`);
    const timer = setTimeout(() => {
      this.restartTimers.delete(timer);
      if (this.env.keepAlive() && this.slots[wp.id] === null) this.spawn(wp.id);
    }, delay);
    this.restartTimers.add(timer);
  }

  /** Graceful stop of every process; resolves when all have exited (or were killed at the deadline). */
  stop(timeoutMs: number): Promise<void> {
    for (const t of this.restartTimers) clearTimeout(t);
    this.restartTimers.clear();
    const live = this.live();
    return Promise.all(live.map((wp) => this.stopOne(wp, timeoutMs))).then(() => undefined);
  }

  stopOne(wp: WorkerProcess, timeoutMs: number): Promise<void> {
    return new Promise((resolve) => {
      if (wp.child.exitCode !== null || wp.child.signalCode !== null) return resolve();
      wp.state = 'stopping';
      const timer = setTimeout(() => {
        this.env.log.warn(`[${this.name}] worker #${wp.id} pid ${wp.pid} did not stop within ${timeoutMs} ms; killing it`);
        wp.child.kill('SIGKILL');
      }, timeoutMs);
      wp.child.once('exit', () => { clearTimeout(timer); resolve(); });
      this.send(wp, { t: 'stop' });
    });
  }

  killAll(): void {
    for (const t of this.restartTimers) clearTimeout(t);
    for (const wp of this.live()) { wp.state = 'stopping'; wp.child.kill('SIGKILL'); }
  }

  live(): WorkerProcess[] {
    return this.slots.filter((wp): wp is WorkerProcess => wp !== null);
  }

  /** Asks each live process for its counters; a process that does not answer in time is left out. */
  async reports(connections: boolean, timeoutMs = 1000): Promise<Map<WorkerProcess, WorkerReport | null>> {
    const out = new Map<WorkerProcess, WorkerReport | null>();
    await Promise.all(this.live().map((wp) => new Promise<void>((resolve) => {
      const req = this.nextReq++;
      const timer = setTimeout(() => { this.pending.delete(req); out.set(wp, null); resolve(); }, timeoutMs);
      this.pending.set(req, (r) => { clearTimeout(timer); out.set(wp, r); resolve(); });
      if (wp.state !== 'running') { clearTimeout(timer); this.pending.delete(req); out.set(wp, null); resolve(); return; }
      this.send(wp, { t: 'report', req, connections });
    })));
    return out;
  }

  private handleClosed = false;

  /** Closes the master's copy of the listening socket (workers keep theirs until they stop). */
  closeHandle(): void {
    if (this.handleClosed) return;
    this.handleClosed = true;
    this.handle?.close();
  }

  private send(wp: WorkerProcess, msg: ToWorker, handle?: BoundHandle): void {
    if (!wp.child.connected) return;
    wp.child.send(msg, handle as never, (err) => {
      if (err) this.env.log.warn(`[${this.name}] worker #${wp.id}: IPC send failed: ${err.message}`);
    });
  }
}
