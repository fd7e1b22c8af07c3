// Workers accept on one shared socket. The kernel wakes them all and the first to call
// accept() takes every pending connection, so long-lived connections pile up on one worker
// (Node 20 has no SO_REUSEPORT to spread them). A worker holding clearly more connections
// than its least-loaded sibling hands a fresh connection, before reading a byte of it, to the
// master, which passes it on to the least-loaded worker of the group.
import type { Socket } from 'node:net';
import type { ToMaster } from '../ipc/messages.js';
import type { WorkerStats } from '../core/stats.js';

/** How often (at most) a worker tells the master its connection count, when it changed. */
const REPORT_MS = 50;
/**
 * Imbalance tolerated before handing off: max(SLACK_MIN, SLACK_RATIO × sibling's count, twice
 * the connections closed per report interval). Short connections close as fast as they come,
 * their counts swing faster than reports travel, and they balance by themselves (a busy worker
 * accepts less): no hand-off. Long-lived ones do not close: they are balanced by count.
 */
const SLACK_MIN = 8;
const SLACK_RATIO = 0.25;

/**
 * Hand-offs waiting for the IPC channel (Node passes one handle at a time, each acknowledged):
 * past this, a burst is accepted here rather than queued, which held memory and latency.
 */
const MAX_IN_FLIGHT = 64;

interface RawStream { fd: number }

export class Balancer {
  /** Connections of the least-loaded other worker of the group, as last heard from the master. */
  private minSibling = 0;
  private siblings = 0;
  private reported = 0;
  private inFlight = 0;
  /** Connections accepted in the current report interval; closes per interval, averaged. */
  private accepted = 0;
  private lastCount = 0;
  private closeRate = 0;

  constructor(private readonly stats: WorkerStats, private readonly send: (m: ToMaster, handle?: RawStream, done?: () => void) => void) {
    setInterval(() => {
      const closed = Math.max(0, this.accepted - (this.stats.connections - this.lastCount));
      this.closeRate = this.closeRate * 0.5 + closed * 0.5;
      this.accepted = 0;
      this.lastCount = this.stats.connections;
      if (this.stats.connections === this.reported) return;
      this.reported = this.stats.connections;
      this.send({ t: 'load', connections: this.reported });
    }, REPORT_MS).unref();
  }

  update(minSibling: number, siblings: number): void {
    this.minSibling = minSibling;
    this.siblings = siblings;
  }

  /** Hands the (still paused) socket to the master when this worker holds more than its share. */
  handOff(socket: Socket): boolean {
    this.accepted++;
    if (this.siblings === 0 || this.inFlight >= MAX_IN_FLIGHT) return false;
    const slack = Math.max(SLACK_MIN, Math.ceil(this.minSibling * SLACK_RATIO), 2 * this.closeRate);
    if (this.stats.connections < this.minSibling + slack) return false;
    const handle = (socket as unknown as { _handle: RawStream | null })._handle;
    if (!handle) return false;
    // Count it against the sibling until the master's next word, so a burst spreads out.
    this.minSibling++;
    this.stats.handedOff++;
    // Closing our fd after the send does not end the connection: the master holds a copy.
    this.inFlight++;
    this.send({ t: 'handoff' }, handle, () => {
      this.inFlight--;
      socket.destroy();
    });
    return true;
  }
}
