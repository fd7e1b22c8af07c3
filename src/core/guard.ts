// Runs user callbacks so that nothing they throw, synchronously or as a rejected promise,
// takes the worker down; tracks promises still pending so a graceful stop can wait for them.
import { realpathSync } from 'node:fs';
import { relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Logger } from '../log/logger.js';
import type { WorkerStats } from '../core/stats.js';

/** Loom's own code (the bundle, or the single executable): never the user's frame. */
const LOOM_FILE = __filename;

export class Guard {
  /** Promises returned by callbacks and not yet settled. */
  pending = 0;
  private waiters: (() => void)[] = [];

  /** Directory of user code as configured and as its real path (stacks show real paths). */
  private readonly userDirs: string[];

  constructor(
    private readonly log: Logger,
    private readonly stats: WorkerStats,
    /** Directory of user code, to find the user's frame in a stack. */
    userDir: string,
  ) {
    this.userDirs = [userDir];
    try {
      const real = realpathSync(userDir);
      if (real !== userDir) this.userDirs.push(real);
    } catch {
      /* the directory is gone: match the configured path only */
    }
  }

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

  /** call() for the per-message path: two arguments, no rest arrays. */
  invoke<A, B>(label: string, fn: ((a: A, b: B) => unknown) | undefined, thisArg: unknown, a: A, b: B): unknown {
    if (fn === undefined) return undefined;
    let result: unknown;
    try {
      result = fn.call(thisArg, a, b);
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

  /**
   * "file:line:col" of the user's frame in err's stack: relative to handlers_dir for a file in
   * it, else the absolute path of the first frame outside Loom itself (a handler symlinked
   * from elsewhere, a shared library), preferring code outside node_modules.
   */
  locate(err: unknown): string {
    const stack = err instanceof Error && typeof err.stack === 'string' ? err.stack : '';
    const frames: { file: string; at: string }[] = [];
    for (const line of stack.split('\n').slice(1)) {
      const m = /\(?((?:file:\/\/)?\/[^()]+?):(\d+):(\d+)\)?\s*$/.exec(line);
      if (!m) continue;
      let file = m[1];
      if (file.startsWith('file://')) {
        try { file = fileURLToPath(file); } catch { file = file.slice('file://'.length); }
      }
      const at = `:${m[2]}:${m[3]}`;
      for (const dir of this.userDirs) {
        if (file.startsWith(dir + sep)) return `${relative(dir, file)}${at}`;
      }
      if (file !== LOOM_FILE && file !== process.execPath) frames.push({ file, at });
    }
    const frame = frames.find((f) => !f.file.includes(`${sep}node_modules${sep}`)) ?? frames[0];
    return frame ? `${frame.file}${frame.at}` : 'unknown location';
  }
}

function describe(err: unknown): string {
  if (err instanceof Error) return `${err.name}: ${err.message}`;
  return String(err);
}
