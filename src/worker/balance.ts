// Workers accept on one shared socket. The kernel wakes them all and the first to call
// accept() takes every pending connection, so long-lived connections pile up on one worker
// (Node 20 has no SO_REUSEPORT to spread them). A worker holding clearly more connections
// than its least-loaded sibling hands a fresh connection, before reading a byte of it, to the
// master, which passes it on to the least-loaded worker of the group.
import type { Socket } from 'node:net';
import type { ToMaster } from '../ipc/messages.js';
import type { WorkerStats } from './stats.js';

/** How often (at most) a worker tells the master its connection count, when it changed. */
const REPORT_MS = 50;
/** Imbalance tolerated before handing off: max(SLACK_MIN, SLACK_RATIO × sibling's count). */
const SLACK_MIN = 4;
const SLACK_RATIO = 0.2;

interface RawStream { fd: number }

export class Balancer {
  /** Connections of the least-loaded other worker of the group, as last heard from the master. */
  private minSibling = 0;
  private siblings = 0;
  private reported = 0;

  constructor(private readonly stats: WorkerStats, private readonly send: (m: ToMaster, handle?: RawStream, done?: () => void) => void) {
    setInterval(() => {
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
    if (this.siblings === 0) return false;
    const slack = Math.max(SLACK_MIN, Math.ceil(this.minSibling * SLACK_RATIO));
    if (this.stats.connections < this.minSibling + slack) return false;
    const handle = (socket as unknown as { _handle: RawStream | null })._handle;
    if (!handle) return false;
    // Count it against the sibling until the master's next word, so a burst spreads out.
    this.minSibling++;
    // Closing our fd after the send does not end the connection: the master holds a copy.
    this.send({ t: 'handoff' }, handle, () => socket.destroy());
    return true;
  }
}
