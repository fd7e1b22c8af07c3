// Out of file descriptors, libuv accepts each waiting connection and closes it at once (its
// "EMFILE trick", which keeps the listener from spinning) and tells nobody. So a worker checks
// once a second whether it could open one more file; when it cannot, new connections are being
// dropped: counted for `status`, and logged at once, then once per interval with a count.
import { closeSync, openSync, readdirSync, readFileSync } from 'node:fs';
import type { WorkerStats } from '../core/stats.js';
import type { Logger } from '../log/logger.js';

const CHECK_MS = 1000;
const LOG_MS = 10_000;

let limit: number | null | undefined;

/**
 * The soft limit on open files (RLIMIT_NOFILE), or null when /proc does not say. Read once: at
 * the limit, reading /proc needs the very file descriptor that is missing.
 */
export function fileLimit(): number | null {
  if (limit === undefined) limit = readLimit();
  return limit;
}

function readLimit(): number | null {
  try {
    const m = /^Max open files\s+(\d+|unlimited)/m.exec(readFileSync('/proc/self/limits', 'utf8'));
    return m && m[1] !== 'unlimited' ? Number(m[1]) : null;
  } catch {
    return null;
  }
}

/** Open file descriptors of this process (costs a directory read: on demand only). */
export function openFiles(): number | null {
  try {
    return readdirSync('/proc/self/fd').length;
  } catch (err) {
    // No descriptor left to read the directory with: every one is in use.
    return (err as NodeJS.ErrnoException).code === 'EMFILE' ? fileLimit() : null;
  }
}

/** Whether every file descriptor is in use: one more open() fails with EMFILE. */
function exhausted(): boolean {
  try {
    closeSync(openSync('/dev/null', 'r'));
    return false;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EMFILE' || (err as NodeJS.ErrnoException).code === 'ENFILE';
  }
}

export function watchFileDescriptors(url: string, stats: WorkerStats, log: Logger): void {
  fileLimit();
  let lastLog = 0;
  let unlogged = 0;
  setInterval(() => {
    if (!exhausted()) return;
    stats.fdExhausted++;
    const now = Date.now();
    if (now - lastLog < LOG_MS) {
      unlogged++;
      return;
    }
    const limit = fileLimit();
    const again = unlogged > 0 ? ` (and in ${unlogged} more check(s) since the last report)` : '';
    log.error(`LOOM_ERR_ACCEPT ${url}: out of file descriptors${limit ? ` (limit ${limit})` : ''}${again}: new connections are dropped as they arrive; raise LimitNOFILE or ulimit -n`);
    lastLog = now;
    unlogged = 0;
  }, CHECK_MS).unref();
}
