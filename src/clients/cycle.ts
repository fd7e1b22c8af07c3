// What every async client (client.ts, client-ws.ts, client-udp.ts) shares: the
// connect/reconnect cycle, the queue of sends made before the connection is up, the errors of
// a failed attempt.
import { LoomError } from '../core/errors.js';
import type { Logger } from '../log/logger.js';
import type { AsyncConnection, Worker } from '../types/handler.js';
import type { Guard } from '../core/guard.js';
import type { WorkerStats } from '../core/stats.js';

/** What a client needs from its worker. */
export interface ClientDeps {
  guard: Guard;
  stats: WorkerStats;
  log: Logger;
  handlersDir: string;
  worker: Worker;
  /** The worker's connection id counter, so client ids never equal a server connection's. */
  nextConnectionId?: () => number;
}

/** Settings every client kind takes from connect(). */
export interface ClientBase {
  id: number;
  url: string;
  reconnectInterval: number;
  timeout: number;
  deps: ClientDeps;
}

/** A client's limits until the handler changes them (config.ini's defaults). */
export const CLIENT_MAX_PACKAGE_SIZE = 1024 * 1024;
export const CLIENT_MAX_SEND_BUFFER_SIZE = 1024 * 1024;

/** Why an attempt failed, as the error onError receives. */
export function connectError(url: string, err: Error): LoomError {
  const code = (err as NodeJS.ErrnoException).code;
  const text = code && !err.message.includes(code) ? `${code} ${err.message}` : err.message;
  return new LoomError('LOOM_ERR_CONNECT_FAILED', `connect ${url} failed: ${text}`, { cause: err });
}

export function timeoutError(url: string, timeout: number): LoomError {
  return new LoomError('LOOM_ERR_CONNECT_TIMEOUT', `connect ${url} timed out after ${timeout} s`);
}

export type Phase = 'connecting' | 'open' | 'closed';
export type ClientState = AsyncConnection['state'];

/**
 * When to try to connect, and whether to try again. The owner calls begin() through
 * schedule(), opened() once connected, ended() once its transport is closed (then fires
 * onClose), then next(), which schedules the following attempt if one is due.
 */
export class Cycle {
  phase: Phase = 'connecting';
  /** close() or destroy() was called: no reconnect until reconnect(). */
  stopped = false;
  /** Bumped by every attempt: an async step of an older attempt sees it is stale. */
  attempt = 0;
  /** Delay asked by reconnect() on a live connection, used once it is closed. */
  requested: number | null = null;
  private cancelStart: (() => void) | null = null;
  private connectTimer: NodeJS.Timeout | null = null;

  constructor(
    /** Seconds between attempts after a failed connect or a passive close; 0: never. */
    private readonly interval: number,
    /** Seconds one attempt may take; 0: as long as the OS allows. */
    private readonly timeout: number,
    private readonly begin: (attempt: number) => void,
  ) {}

  /** Starts an attempt after `seconds` (0: on the next turn of the event loop). */
  schedule(seconds: number): void {
    this.cancel();
    const run = (): void => {
      this.cancelStart = null;
      if (this.stopped) return;
      this.phase = 'connecting';
      this.begin(++this.attempt);
    };
    if (seconds > 0) {
      const t = setTimeout(run, seconds * 1000);
      this.cancelStart = () => clearTimeout(t);
    } else {
      const i = setImmediate(run);
      this.cancelStart = () => clearImmediate(i);
    }
  }

  /** Drops a scheduled attempt. */
  cancel(): void {
    this.cancelStart?.();
    this.cancelStart = null;
  }

  /** Arms the connect timeout of the current attempt. */
  armTimeout(onTimeout: () => void): void {
    this.clearTimer();
    if (this.timeout > 0) this.connectTimer = setTimeout(onTimeout, this.timeout * 1000);
  }

  opened(): void {
    this.clearTimer();
    this.phase = 'open';
  }

  ended(): void {
    this.clearTimer();
    this.phase = 'closed';
  }

  /** After onClose: schedules the next attempt when one is due; false when none will come. */
  next(): boolean {
    if (this.stopped) return false;
    if (this.cancelStart) return true; // reconnect() was called in onClose
    const delay = this.requested ?? (this.interval > 0 ? this.interval : null);
    this.requested = null;
    if (delay === null) return false;
    this.schedule(delay);
    return true;
  }

  stop(): void {
    this.stopped = true;
    this.requested = null;
    this.cancel();
  }

  /** Sends are queued rather than refused: an attempt is under way or scheduled. */
  get queueing(): boolean {
    return !this.stopped && (this.phase === 'connecting' || this.cancelStart !== null);
  }

  state(closing: boolean): ClientState {
    if (this.phase === 'open') return closing ? 'closing' : 'established';
    return this.phase;
  }

  private clearTimer(): void {
    if (this.connectTimer) clearTimeout(this.connectTimer);
    this.connectTimer = null;
  }
}

/** Encoded sends waiting for the connection, bounded by maxSendBufferSize. */
export class SendQueue<T extends string | Uint8Array = string | Uint8Array> {
  items: T[] = [];
  bytes = 0;

  push(item: T): void {
    this.items.push(item);
    this.bytes += typeof item === 'string' ? Buffer.byteLength(item) : item.byteLength;
  }

  take(): T[] {
    const items = this.items;
    this.items = [];
    this.bytes = 0;
    return items;
  }

  clear(): void {
    this.items = [];
    this.bytes = 0;
  }
}

/** Validated seconds of a ConnectOptions key. */
export function seconds(value: unknown, key: string): number {
  if (value === undefined || value === null) return 0;
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) {
    throw new TypeError(`worker.connect(): ${key} must be a number of seconds >= 0, got ${String(value)}`);
  }
  return value;
}

/** Calls a client's callback through the guard, with the connection as `this`. */
export function emit(guard: Guard, label: string, fn: ((...args: never[]) => unknown) | undefined, conn: unknown, ...args: unknown[]): void {
  guard.call(label, fn, conn, conn, ...args);
}
