// Bad inbound packets of one listener (or client): every one is counted, but only the first
// few of each second are logged in full; the rest become one summary line per second, so one
// hostile client cannot fill the disk with warnings.
import type { Logger } from '../log/logger.js';
import type { WorkerStats } from './stats.js';

/** Lines logged in full per interval; the rest are summed up. */
export const FULL_LINES = 5;
export const INTERVAL_MS = 1000;
/** Distinct peers remembered for a summary line. */
const MAX_PEERS = 1000;

export class BadPackets {
  private shown = 0;
  private more = 0;
  private readonly peers = new Set<string>();
  private timer: NodeJS.Timeout | null = null;

  constructor(
    /** The listen or connect URL, for log lines. */
    private readonly url: string,
    private readonly stats: WorkerStats,
    private readonly log: Logger,
  ) {}

  /**
   * Counts one bad packet and logs it unless this interval's lines are used up. `peer` reads
   * "from HOST:PORT" (a client's: "to HOST:PORT").
   */
  report(what: string, peer: string, why: string): void {
    this.stats.badPackets++;
    this.timer ??= setTimeout(() => this.flush(), INTERVAL_MS).unref();
    if (this.shown < FULL_LINES) {
      this.shown++;
      this.log.warn(`LOOM_ERR_BAD_PACKET ${what} ${peer} on ${this.url}: ${why}`);
      return;
    }
    this.more++;
    if (this.peers.size < MAX_PEERS) this.peers.add(peer.replace(/^(from|to) /, ''));
  }

  /** Ends the interval: the summary of what was not logged in full. */
  flush(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    if (this.more > 0) {
      const peers = [...this.peers];
      const some = peers.slice(0, 3).join(', ') + (peers.length > 3 ? ', …' : '');
      this.log.warn(`LOOM_ERR_BAD_PACKET ${this.more} more bad packet(s) on ${this.url} in the last ${INTERVAL_MS / 1000} s, ${peers.length}${peers.length >= MAX_PEERS ? '+' : ''} peer(s): ${some}`);
    }
    this.shown = 0;
    this.more = 0;
    this.peers.clear();
  }
}
