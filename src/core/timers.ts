// worker.timers: Workerman's Timer::add/del. Callbacks run under the guard, so a throwing
// timer is logged and counted, and a persistent one keeps firing.
import type { Timers } from '../types/handler.js';
import type { Guard } from '../core/guard.js';

export class WorkerTimers implements Timers {
  private nextId = 1;
  private readonly active = new Map<number, { handle: NodeJS.Timeout; persistent: boolean }>();

  constructor(private readonly guard: Guard) {}

  add(seconds: number, fn: (...args: unknown[]) => unknown, args: unknown[] = [], persistent = true): number {
    if (typeof fn !== 'function') throw new TypeError('timers.add(seconds, fn): fn must be a function');
    if (!(seconds >= 0)) throw new RangeError(`timers.add: seconds must be >= 0, got ${seconds}`);
    const id = this.nextId++;
    const ms = Math.max(1, Math.round(seconds * 1000));
    const run = () => {
      if (!persistent) this.active.delete(id);
      this.guard.call('timer', fn as never, undefined, ...args);
    };
    const handle = persistent ? setInterval(run, ms) : setTimeout(run, ms);
    this.active.set(id, { handle, persistent });
    return id;
  }

  del(id: number): boolean {
    const t = this.active.get(id);
    if (!t) return false;
    clearTimeout(t.handle);
    this.active.delete(id);
    return true;
  }

  delAll(): void {
    for (const id of [...this.active.keys()]) this.del(id);
  }

  /** Persistent timers never end on their own; a graceful stop clears them. */
  delPersistent(): void {
    for (const [id, t] of this.active) if (t.persistent) this.del(id);
  }

  get count(): number {
    return this.active.size;
  }
}
