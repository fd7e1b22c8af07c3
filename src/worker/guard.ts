// Runs user callbacks so that nothing they throw, synchronously or as a rejected promise,
// takes the worker down; tracks promises still pending so a graceful stop can wait for them.
import { relative } from 'node:path';
import type { Logger } from '../log/logger.js';
import type { WorkerStats } from './stats.js';

export class Guard {
  /** Promises returned by callbacks and not yet settled. */
  pending = 0;
  private waiters: (() => void)[] = [];

  constructor(
    private readonly log: Logger,
    private readonly stats: WorkerStats,
    /** Directory of user code, to find the user's frame in a stack. */
    private readonly userDir: string,
  ) {}

  /** Calls fn; returns its result, or undefined when it threw. */
  call(label: string, fn: ((...args: never[]) => unknown) | undefined, thisArg: unknown, ...args: unknown[]): unknown {
    if (fn === undefined) return undefined;
    let result: unknown;
    try {
      result = (fn as (...a: unknown[]) => unknown).apply(thisArg, args);
    } catch (err) {
      this.report(label, err);
      return undefined;
    }
    if (result !== null && typeof result === 'object' && typeof (result as PromiseLike<unknown>).then === 'function') {
      this.track(label, result as PromiseLike<unknown>);
    }
    return result;
  }

  /** Resolves once no tracked promise is pending. */
  idle(): Promise<void> {
    if (this.pending === 0) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  private track(label: string, p: PromiseLike<unknown>): void {
    this.pending++;
    const done = () => {
      if (--this.pending === 0) for (const w of this.waiters.splice(0)) w();
    };
    p.then(done, (err: unknown) => { this.report(label, err); done(); });
  }

  /** Logs a user error with the file:line it came from and counts it. */
  report(label: string, err: unknown): void {
    this.stats.handlerErrors++;
    this.log.error(`LOOM_ERR_HANDLER ${label} threw at ${this.locate(err)}: ${describe(err)}`);
  }

  locate(err: unknown): string {
    const stack = err instanceof Error && typeof err.stack === 'string' ? err.stack : '';
    for (const line of stack.split('\n').slice(1)) {
      const m = /\(?((?:file:\/\/)?\/[^()]+?):(\d+):(\d+)\)?\s*$/.exec(line);
      if (!m) continue;
      const file = m[1].replace(/^file:\/\//, '');
      if (file.startsWith(this.userDir)) return `${relative(this.userDir, file)}:${m[2]}:${m[3]}`;
    }
    return 'unknown location';
  }
}

function describe(err: unknown): string {
  if (err instanceof Error) return `${err.name}: ${err.message}`;
  return String(err);
}
