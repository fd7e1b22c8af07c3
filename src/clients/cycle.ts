// The one life cycle of every async client (stream, ws, udp): when to try to connect, whether
// to try again, which errors of an attempt are news, the sends queued before the connection is
// up, and what close(), destroy() and reconnect() do in each phase. A client kind only opens
// and drops its own transport (a socket, a WebSocket, a datagram socket): see ClientTransport.
import { LoomError } from '../core/errors.js';
import type { AsyncConnection } from '../types/handler.js';

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
export type Payload = string | Uint8Array;

/** What the cycle asks of a client kind. */
export interface ClientTransport {
  /** Starts attempt number `attempt`: makes a transport; reports back through the cycle. */
  begin(attempt: number): void;
  /** The current attempt has a transport that has not closed yet. */
  hasTransport(): boolean;
  /** Ends the current transport at once, without an error; its close reaches closed(). */
  dropTransport(): void;
  /** onError of the connection. */
  reportError(err: Error): void;
  /** onClose for an attempt that ended before it had a transport. */
  closedWithoutTransport(): void;
  /** The queued sends were dropped (no attempt will come): the buffer is not full any more. */
  queueDropped(): void;
}

/** Encoded sends waiting for the connection, bounded by maxSendBufferSize. */
export class SendQueue {
  items: Payload[] = [];
  bytes = 0;

  push(item: Payload): void {
    this.items.push(item);
    this.bytes += typeof item === 'string' ? Buffer.byteLength(item) : item.byteLength;
  }

  take(): Payload[] {
    const items = this.items;
    this.clear();
    return items;
  }

  clear(): void {
    this.items = [];
    this.bytes = 0;
  }
}

export class ClientCycle {
  phase: Phase = 'connecting';
  /** close() or destroy() was called, or the worker is stopping: no reconnect until reconnect(). */
  stopped = false;
  /** Bumped by every attempt: an async step of an older attempt sees it is stale. */
  attempt = 0;
  /** Sends made before the connection is up. */
  readonly queue = new SendQueue();
  /** Delay asked by reconnect() on a live connection, used once it is closed. */
  private requested: number | null = null;
  /** The attempt whose failure was reported: its later errors are not news. */
  private failed = 0;
  private cancelStart: (() => void) | null = null;
  private connectTimer: NodeJS.Timeout | null = null;

  constructor(
    private readonly transport: ClientTransport,
    /** Seconds between attempts after a failed connect or a passive close; 0: never. */
    private readonly interval: number,
    /** Seconds one attempt may take; 0: as long as the OS allows. */
    private readonly timeout: number,
    private readonly url: string,
  ) {
    this.schedule(0);
  }

  /** Starts an attempt after `seconds` (0: on the next turn of the event loop). */
  private schedule(seconds: number): void {
    this.cancel();
    const run = (): void => {
      this.cancelStart = null;
      if (this.stopped) return;
      this.phase = 'connecting';
      const attempt = ++this.attempt;
      this.transport.begin(attempt);
      this.clearTimer();
      if (this.timeout > 0 && this.attempt === attempt && this.phase === 'connecting') {
        this.connectTimer = setTimeout(() => this.fail(attempt, timeoutError(this.url, this.timeout)), this.timeout * 1000);
      }
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
  private cancel(): void {
    this.cancelStart?.();
    this.cancelStart = null;
  }

  /** The attempt is still the current one and has not been given up. */
  current(attempt: number): boolean {
    return attempt === this.attempt && !this.stopped;
  }

  /** The transport is up: sends go out directly from now on. */
  opened(): void {
    this.clearTimer();
    this.phase = 'open';
  }

  /** A failed attempt: onError once, then its transport is dropped (onClose, maybe a retry). */
  fail(attempt: number, err: Error): void {
    if (attempt !== this.attempt || this.failed === attempt || this.phase !== 'connecting') return;
    this.failed = attempt;
    this.transport.reportError(err);
    if (this.transport.hasTransport()) this.transport.dropTransport();
    else this.closedWithoutTransport();
  }

  /** An error of the transport: a failed connect while connecting, news otherwise. */
  error(attempt: number, err: Error): void {
    if (this.phase === 'connecting') this.fail(attempt, connectError(this.url, err));
    else if (attempt === this.attempt && this.failed !== attempt) this.transport.reportError(err);
  }

  /** The transport closed: call before onClose. */
  ended(): void {
    this.clearTimer();
    this.phase = 'closed';
  }

  /** After onClose: the next attempt when one is due, else the queue is dropped. */
  afterClose(): void {
    if (this.stopped) return this.dropQueue();
    if (this.cancelStart) return; // reconnect() was called in onClose
    const delay = this.requested ?? (this.interval > 0 ? this.interval : null);
    this.requested = null;
    if (delay === null) this.dropQueue();
    else this.schedule(delay);
  }

  private dropQueue(): void {
    this.queue.clear();
    this.transport.queueDropped();
  }

  /** close() or destroy() before the connection is up: the attempt and the queue are dropped. */
  abandon(): void {
    this.stop();
    this.dropQueue();
    if (this.phase !== 'connecting') return; // closed already (a due reconnect is cancelled)
    this.failed = this.attempt;
    if (this.transport.hasTransport()) this.transport.dropTransport(); // onClose follows
    else this.closedWithoutTransport();
  }

  private closedWithoutTransport(): void {
    this.ended();
    this.transport.closedWithoutTransport();
    this.afterClose();
  }

  /** No more attempts (close(), destroy(), a graceful stop of the worker). */
  stop(): void {
    this.stopped = true;
    this.requested = null;
    this.cancel();
  }

  /** reconnect(afterSeconds): on a live connection, drops it first (onClose, then the attempt). */
  reconnect(afterSeconds: unknown): void {
    const after = seconds(afterSeconds, 'reconnect(afterSeconds)');
    this.stopped = false;
    this.cancel();
    if (this.phase !== 'closed' && this.transport.hasTransport()) {
      this.requested = after;
      this.failed = this.attempt;
      this.transport.dropTransport();
    } else {
      this.schedule(after);
    }
  }

  /**
   * A graceful stop of the worker: no retry any more. A client waiting to retry is closed for
   * good now (its onClose ran when its last attempt ended), so its timer holds nothing up;
   * one that is connected stays up until the worker closes its connections.
   */
  retire(): void {
    const waiting = this.phase === 'closed' && this.cancelStart !== null;
    this.stop();
    if (waiting) this.dropQueue();
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

/** Validated seconds of a ConnectOptions key. */
export function seconds(value: unknown, key: string): number {
  if (value === undefined || value === null) return 0;
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) {
    throw new TypeError(`worker.connect(): ${key} must be a number of seconds >= 0, got ${String(value)}`);
  }
  return value;
}
