// One worker group (a config.ini section): keeps `count` processes alive, each in a slot whose
// worker id survives restarts, backs off when a process keeps dying young, and replaces its
// processes one by one on a rolling reload.
import type { ChildProcess } from 'node:child_process';
import { rmSync } from 'node:fs';
import { gatewaySocketPath } from '../bus/local.js';
import type { GroupConfig } from '../config/types.js';
import type { Logger } from '../log/logger.js';
import type { OutputSink } from '../log/output.js';
import type { GatewayPart, ToMaster, ToWorker, WorkerInit, WorkerReport } from '../ipc/messages.js';
import { LoomError, errorMessage } from '../core/errors.js';
import { readTlsMaterial } from '../config/tls.js';
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
  /** When the ping it has not answered yet was sent; null: none outstanding. */
  pingSentAt: number | null;
  /** It has not answered for UNRESPONSIVE_MS: its event loop is stuck. */
  unresponsive: boolean;
}

/** A serving process that has not answered pings for this long is shown as unresponsive. */
export const UNRESPONSIVE_MS = 5000;

export interface GroupEnv {
  log: Logger;
  output: OutputSink;
  init: Omit<WorkerInit, 'group' | 'workerId' | 'tls' | 'gateway'>;
  /** False once the daemon is stopping: dead workers are not replaced. */
  keepAlive(): boolean;
  /** Milliseconds a process may leave pings unanswered before it is killed and restarted; 0: never. */
  hangTimeoutMs(): number;
  /** A gateway process of a gateway group is serving: its business processes should link to it. */
  gatewayReady(part: GatewayPart): void;
}

export class WorkerGroup {
  /** The current process of each worker id; null while one is being restarted. */
  readonly slots: (WorkerProcess | null)[];
  /** Old processes draining after a reload, still reported by status. */
  readonly retiring = new Set<WorkerProcess>();
  /** Exit status ("0", "1", "SIGKILL"...) → how many processes ended so. */
  readonly exitStatuses = new Map<string, number>();
  deaths = 0;
  reloads = 0;
  lastReloadError: string | null = null;
  private readonly youngDeaths = new Map<number, number>();
  private readonly restartTimers = new Set<NodeJS.Timeout>();
  private nextReq = 1;
  private readonly pending = new Map<number, (r: WorkerReport) => void>();
  private handleClosed = false;

  constructor(public config: GroupConfig, public handle: BoundHandle | null, private readonly env: GroupEnv, private gateway: GatewayPart | null = null) {
    this.slots = new Array<WorkerProcess | null>(config.count).fill(null);
  }

  get name(): string {
    return this.config.name;
  }

  /** Starts every slot; resolves when all are serving, rejects with the first failure. */
  startAll(): Promise<void> {
    return Promise.all(this.slots.map((_, id) => this.spawn(id).ready)).then(() => undefined);
  }

  /**
   * Rolling reload to `config` (and `handle`, when the address changed): for each worker id
   * a new process is started and serving before the old one is told to drain. A new process
   * that fails to start stops the reload; the old processes keep serving.
   */
  async reload(config: GroupConfig, handle: BoundHandle | null, drainMs: number): Promise<void> {
    const oldHandle = this.handle;
    const restart = config.reloadable;
    this.config = config;
    if (handle !== oldHandle) {
      this.handle = handle;
      this.handleClosed = false;
    }
    try {
      for (let id = 0; id < Math.max(this.slots.length, config.count); id++) {
        const old = this.slots[id] ?? null;
        if (id >= config.count) {
          this.slots[id] = null;
          if (old) this.retire(old, drainMs, 'scaled down');
          continue;
        }
        if (old && !restart) continue;
        const fresh = this.spawn(id, false);
        await fresh.ready;
        this.slots[id] = fresh;
        if (old) this.retire(old, drainMs, 'reload');
      }
      this.slots.length = config.count;
      this.lastReloadError = null;
      this.reloads++;
    } catch (err) {
      this.lastReloadError = `${new Date().toISOString()} ${(err as Error).message}`;
      throw err;
    } finally {
      if (oldHandle && oldHandle !== this.handle) oldHandle.close();
    }
  }

  private retire(wp: WorkerProcess, drainMs: number, why: string): void {
    this.retiring.add(wp);
    this.env.log.info(`[${this.name}] worker #${wp.id} pid ${wp.pid} retiring (${why})`);
    void this.stopOne(wp, drainMs, 'reload').then(() => this.retiring.delete(wp));
  }

  /** Starts a process for worker id; `install` puts it in the slot at once (else the caller does when it is ready). */
  spawn(id: number, install = true): WorkerProcess {
    // Read before the fork, so a file that cannot be read fails this call, not a worker.
    const tls = this.config.tls ? readTlsMaterial(this.config.tls) : null;
    const child = spawnSelf('worker');
    let settle: { resolve(): void; reject(e: Error): void };
    const ready = new Promise<void>((resolve, reject) => { settle = { resolve, reject }; });
    ready.catch(() => undefined);
    const wp: WorkerProcess = { id, child, pid: child.pid ?? 0, startedAt: Date.now(), state: 'starting', ready, pingSentAt: null, unresponsive: false };
    if (install) this.slots[id] = wp;
    let fatal: LoomError | null = null;
    child.on('message', (msg: ToMaster, handle?: unknown) => {
      if (msg.t === 'pong') {
        this.answered(wp);
      } else if (msg.t === 'ready') {
        wp.state = 'running';
        if (this.gateway?.role === 'gateway') this.env.gatewayReady(this.gateway);
        settle.resolve();
        this.scheduleBalance();
      } else if (msg.t === 'fatal') {
        fatal = new LoomError(msg.code, msg.message);
        this.env.log.error(`[${this.name}] worker #${id} pid ${wp.pid} failed to start: ${msg.code} ${msg.message}`);
      } else if (msg.t === 'report') {
        this.pending.get(msg.req)?.(msg.report);
        this.pending.delete(msg.req);
      } else if (msg.t === 'load') {
        this.loads.set(wp, msg.connections);
        this.scheduleBalance();
      } else if (msg.t === 'handoff' && handle) {
        this.adopt(wp, handle as BoundHandle);
      }
    });
    child.on('error', (err) => this.env.log.error(`[${this.name}] worker #${id}: ${err.message}`));
    child.stdout?.on('data', (chunk: Buffer) => this.env.output.write(chunk, 'stdout'));
    child.stderr?.on('data', (chunk: Buffer) => this.env.output.write(chunk, 'stderr'));
    child.on('exit', (code, signal) => {
      settle.reject(fatal ?? new LoomError('LOOM_ERR_WORKER_START', `[${this.name}] worker #${id} exited with ${signal ?? code} before it was ready`));
      this.exited(wp, code, signal);
    });
    const init: WorkerInit = { ...this.env.init, group: this.config, workerId: id, tls, gateway: this.gateway };
    this.send(wp, init, this.handle ?? undefined);
    return wp;
  }

  private exited(wp: WorkerProcess, code: number | null, signal: NodeJS.Signals | null): void {
    this.loads.delete(wp);
    // A gateway that died left its bus socket behind (one that stopped removed it).
    if (this.gateway?.role === 'gateway') rmSync(gatewaySocketPath(this.gateway.busDir, this.gateway.section, wp.id, wp.pid), { force: true });
    const status = signal ?? String(code);
    this.exitStatuses.set(status, (this.exitStatuses.get(status) ?? 0) + 1);
    const stopping = wp.state === 'stopping';
    if (!stopping) this.deaths++;
    this.env.log[stopping ? 'info' : 'warn'](`[${this.name}] worker #${wp.id} pid ${wp.pid} exited with status ${status}`);
    if (this.slots[wp.id] !== wp) return;
    this.slots[wp.id] = null;
    if (stopping || !this.env.keepAlive()) return;
    this.restartLater(wp.id, Date.now() - wp.startedAt < YOUNG_MS);
  }

  /** Starts worker id again: at once, or after a delay doubling with each young death in a row. */
  private restartLater(id: number, young: boolean): void {
    const n = young ? (this.youngDeaths.get(id) ?? 0) + 1 : 0;
    this.youngDeaths.set(id, n);
    const delay = n === 0 ? 0 : Math.min(BACKOFF_FIRST_MS * 2 ** (n - 1), BACKOFF_MAX_MS);
    if (delay > 0) this.env.log.warn(`[${this.name}] worker #${id} died young ${n} time(s) in a row; restarting in ${delay} ms`);
    const timer = setTimeout(() => {
      this.restartTimers.delete(timer);
      if (!this.env.keepAlive() || id >= this.config.count || this.slots[id] !== null) return;
      try {
        this.spawn(id);
      } catch (err) {
        // The TLS files cannot be read (any more): try again later, backing off.
        this.env.log.error(`[${this.name}] worker #${id} cannot be restarted: ${errorMessage(err)}`);
        this.restartLater(id, true);
      }
    }, delay);
    this.restartTimers.add(timer);
  }

  /**
   * Liveness: every process past its start is pinged; one whose event loop is stuck (a handler
   * in an endless loop) stops answering, is shown as unresponsive, and after hang_timeout is
   * killed (then restarted like any process that died).
   */
  checkHealth(now: number): void {
    const hangMs = this.env.hangTimeoutMs();
    for (const wp of this.all()) {
      if (wp.state === 'starting' || !wp.child.connected) continue;
      if (wp.pingSentAt === null) {
        wp.pingSentAt = now;
        this.send(wp, { t: 'ping', seq: now });
        continue;
      }
      const silent = now - wp.pingSentAt;
      if (!wp.unresponsive && silent >= UNRESPONSIVE_MS) {
        wp.unresponsive = true;
        this.env.log.warn(`LOOM_ERR_WORKER_HUNG [${this.name}] worker #${wp.id} pid ${wp.pid} has not answered for ${Math.round(silent / 1000)} s: its event loop is blocked (a handler in a long synchronous loop?)${hangMs > 0 ? `; killed at ${hangMs / 1000} s` : ''}`);
      }
      if (hangMs > 0 && silent >= hangMs && wp.state !== 'stopping') {
        this.env.log.error(`LOOM_ERR_WORKER_HUNG [${this.name}] worker #${wp.id} pid ${wp.pid} did not answer for ${Math.round(silent / 1000)} s (hang_timeout); killing it`);
        wp.child.kill('SIGKILL');
      }
    }
  }

  private answered(wp: WorkerProcess): void {
    wp.pingSentAt = null;
    if (!wp.unresponsive) return;
    wp.unresponsive = false;
    this.env.log.info(`[${this.name}] worker #${wp.id} pid ${wp.pid} answers again`);
  }

  /** Connections of each serving process: its last report plus what was handed to it since. */
  private readonly loads = new Map<WorkerProcess, number>();
  private balanceTimer: NodeJS.Timeout | null = null;

  /** Tells each serving process the least load among its siblings (see worker/balance.ts). */
  private scheduleBalance(): void {
    if (this.balanceTimer) return;
    this.balanceTimer = setTimeout(() => {
      this.balanceTimer = null;
      const serving = this.live().filter((w) => w.state === 'running');
      for (const wp of serving) {
        const others = serving.filter((o) => o !== wp).map((o) => this.loads.get(o) ?? 0);
        this.send(wp, { t: 'balance', minSibling: others.length ? Math.min(...others) : 0, siblings: others.length });
      }
    }, 20);
  }

  /** A connection a busy worker handed over goes to the least-loaded serving process. */
  private adopt(from: WorkerProcess, handle: BoundHandle): void {
    const serving = this.live().filter((w) => w.state === 'running' && w.child.connected);
    const target = serving.filter((w) => w !== from).sort((a, b) => (this.loads.get(a) ?? 0) - (this.loads.get(b) ?? 0))[0] ?? from;
    this.loads.set(target, (this.loads.get(target) ?? 0) + 1);
    if (!target.child.connected) { handle.close(); return; }
    target.child.send({ t: 'adopt' }, handle as never, (err) => {
      if (err) this.env.log.warn(`[${this.name}] handing a connection to worker #${target.id} failed: ${err.message}`);
      handle.close();
    });
    this.scheduleBalance();
  }

  /** Graceful stop of every process; resolves when all have exited (or were killed at the deadline). */
  stop(timeoutMs: number): Promise<void> {
    for (const t of this.restartTimers) clearTimeout(t);
    this.restartTimers.clear();
    return Promise.all(this.all().map((wp) => this.stopOne(wp, timeoutMs, 'stop'))).then(() => undefined);
  }

  stopOne(wp: WorkerProcess, timeoutMs: number, reason: 'stop' | 'reload'): Promise<void> {
    return new Promise((resolve) => {
      if (wp.child.exitCode !== null || wp.child.signalCode !== null) return resolve();
      wp.state = 'stopping';
      const timer = setTimeout(() => {
        this.env.log.warn(`[${this.name}] worker #${wp.id} pid ${wp.pid} did not stop within ${timeoutMs} ms; killing it`);
        wp.child.kill('SIGKILL');
      }, timeoutMs);
      wp.child.once('exit', () => { clearTimeout(timer); resolve(); });
      // A draining worker closes what is left itself a little before it would be killed.
      this.send(wp, { t: 'stop', reason, drainMs: reason === 'reload' ? Math.max(0, timeoutMs - Math.min(2000, timeoutMs / 10)) : 0 });
    });
  }

  killAll(): void {
    for (const t of this.restartTimers) clearTimeout(t);
    for (const wp of this.all()) { wp.state = 'stopping'; wp.child.kill('SIGKILL'); }
  }

  /** Processes in slots. */
  live(): WorkerProcess[] {
    return this.slots.filter((wp): wp is WorkerProcess => wp !== null);
  }

  /** Processes in slots and those still draining after a reload. */
  all(): WorkerProcess[] {
    return [...this.live(), ...this.retiring];
  }

  /** Asks each process for its counters; one that does not answer in time is reported as null. */
  async reports(connections: boolean, timeoutMs = 1000): Promise<Map<WorkerProcess, WorkerReport | null>> {
    const out = new Map<WorkerProcess, WorkerReport | null>();
    await Promise.all(this.all().map((wp) => new Promise<void>((resolve) => {
      if (!wp.child.connected) { out.set(wp, null); return resolve(); }
      const req = this.nextReq++;
      const timer = setTimeout(() => { this.pending.delete(req); out.set(wp, null); resolve(); }, timeoutMs);
      this.pending.set(req, (r) => { clearTimeout(timer); out.set(wp, r); resolve(); });
      this.send(wp, { t: 'report', req, connections });
    })));
    return out;
  }

  broadcast(msg: ToWorker): void {
    for (const wp of this.all()) this.send(wp, msg);
  }

  /** The part of a gateway group this group is, if any. */
  get part(): GatewayPart | null {
    return this.gateway;
  }

  /**
   * A gateway group's counts as config.ini now gives them: new processes get them, running
   * ones are told (gateways route over the business processes, which link to every gateway).
   */
  rescale(part: GatewayPart | null): void {
    const old = this.gateway;
    this.gateway = part;
    if (!old || !part || (old.gateways === part.gateways && old.businesses === part.businesses)) return;
    this.broadcast({ t: 'scale', gateways: part.gateways, businesses: part.businesses });
  }

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
