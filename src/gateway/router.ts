// A gateway's way to its business processes. Each client belongs to one business slot (a
// business worker id), by a hash of its id, so its messages reach the handler in order on one
// process. Events for a slot with no live link, or whose link is being replaced, are held and
// go out once the new process is there and the old one has handled all it was sent and its
// output has reached every gateway (a fence: otherwise the old process's reply to message N
// could reach a client after the new one's reply to N+1, on another link): during a business
// reload nothing is lost, nothing arrives twice, nothing overtakes. A business process that dies
// loses what it was sent and had not handled yet: counted and logged.
import type { BusLink } from '../bus/bus.js';
import type { Logger } from '../log/logger.js';
import { Op, messageHead, type HelloBusinessHead, type Kind } from './protocol.js';

/** Events held per slot before the oldest are dropped (a business process that never comes). */
const MAX_HELD = 100_000;

interface PendingEvent { op: number; head: { seq: number; [k: string]: unknown }; body: Buffer | string | undefined }

/** A business process's link, as this gateway sees it. */
export class BusinessLink {
  /** Events sent on this link, and the highest one the business process says it handled. */
  sent = 0;
  acked = 0;
  /** It said goodbye (a graceful stop): nothing more is sent to it. */
  leaving = false;
  /** Retired: asked for a fence (once), and whether it answered. */
  fencing = false;
  fenced = false;
  private static nextFence = 1;
  private fenceId = 0;
  private fenceAt = 0;

  constructor(readonly link: BusLink, readonly hello: HelloBusinessHead) {}

  /** Asks the process to prove that all it was sent is handled and its output delivered. */
  fence(): void {
    if (this.fencing) return;
    this.fencing = true;
    this.fenceId = BusinessLink.nextFence++;
    this.fenceAt = this.sent;
    this.link.send(Op.Fence, { id: this.fenceId });
  }

  /** The fence's answer: everything sent before it was handled. */
  fenceOk(id: number): boolean {
    if (!this.fencing || id !== this.fenceId) return false;
    this.fenced = true;
    this.acked = Math.max(this.acked, this.fenceAt);
    return true;
  }

  send(ev: PendingEvent): void {
    const seq = ++this.sent;
    if (ev.op === Op.Message) {
      const h = ev.head as unknown as { c: string; k: Kind; s?: string };
      this.link.send(ev.op, messageHead(seq, h.c, h.k, h.s ?? null), ev.body);
    } else {
      ev.head.seq = seq;
      this.link.send(ev.op, ev.head, ev.body);
    }
  }
}

class Slot {
  current: BusinessLink | null = null;
  /** Earlier processes of this slot, still handling what they were sent. */
  readonly retiring = new Set<BusinessLink>();
  held: PendingEvent[] = [];

  get open(): boolean {
    return this.current !== null && !this.current.leaving && this.retiring.size === 0;
  }

  /** Moves a process out of the way; it is waited for until its fence comes back. */
  retire(bl: BusinessLink): void {
    if (this.current === bl) this.current = null;
    if (bl.link.closed || bl.fenced) {
      this.retiring.delete(bl);
      return;
    }
    this.retiring.add(bl);
    bl.fence();
  }

  has(bl: BusinessLink): boolean {
    return this.current === bl || this.retiring.has(bl);
  }
}

export interface RouterStats {
  /** Events held for a business process that is not (yet) there. */
  held: number;
  /** Events sent and not yet handled. */
  inFlight: number;
  /** Events lost with a business process that died, and dropped from a full hold queue. */
  lost: number;
}

export class BusinessRouter {
  private slots: Slot[] = [];
  private lostTotal = 0;

  constructor(private count: number, private readonly log: Logger) {
    this.resize(count);
  }

  /** business_count changed (a reload): clients are spread over the new number of slots. */
  resize(count: number): void {
    this.count = count;
    while (this.slots.length < count) this.slots.push(new Slot());
    // Slots past the count keep their links until those close; nothing new goes to them.
  }

  /** Whether any business process's handler has onWebSocketConnect (it must be asked). */
  get asksWebSocketConnect(): boolean {
    return this.slots.some((s) => s.current?.hello.wsc === true);
  }

  /** Sends an event of a client to its business process, or holds it. */
  route(clientId: string, op: number, head: Record<string, unknown>, body?: Buffer | string): void {
    const slot = this.slots[slotOf(clientId, this.count)];
    const ev: PendingEvent = { op, head: head as PendingEvent['head'], body };
    if (slot.open) slot.current!.send(ev);
    else this.hold(slot, ev);
  }

  private hold(slot: Slot, ev: PendingEvent): void {
    if (slot.held.length >= MAX_HELD) {
      slot.held.shift();
      this.lostTotal++;
      if (this.lostTotal % 1000 === 1) this.log.error(`LOOM_ERR_GATEWAY no business process takes events: ${MAX_HELD} held, the oldest dropped (${this.lostTotal} so far)`);
    }
    slot.held.push(ev);
  }

  /** A business process introduced itself: it serves its slot from now on. */
  attach(bl: BusinessLink): void {
    const slot = this.slots[bl.hello.slot] ?? (this.slots[bl.hello.slot] = new Slot());
    // A predecessor (a reload) finishes what it was sent before its successor gets more.
    if (slot.current) slot.retire(slot.current);
    slot.current = bl;
    this.flush(slot);
  }

  /** The business process said goodbye: its slot's events are held from now on. */
  leaving(bl: BusinessLink): void {
    bl.leaving = true;
    const slot = this.slotOf(bl);
    if (slot) slot.retire(bl);
  }

  acked(bl: BusinessLink, seq: number): void {
    bl.acked = Math.max(bl.acked, seq);
  }

  /** A retiring process's fence came back: its successor gets the slot's events. */
  fenced(bl: BusinessLink, id: number): void {
    if (!bl.fenceOk(id)) return;
    const slot = this.slotOf(bl);
    if (slot && slot.retiring.has(bl)) {
      slot.retiring.delete(bl);
      this.flush(slot);
    }
  }

  /** A link closed: what it was sent and did not handle is lost. */
  closed(bl: BusinessLink): void {
    const lost = bl.sent - bl.acked;
    if (lost > 0) {
      this.lostTotal += lost;
      this.log.error(`LOOM_ERR_GATEWAY business process ${bl.hello.pid} (slot ${bl.hello.slot}) went away with ${lost} event(s) it had not handled: lost (at most once)`);
    }
    const slot = this.slotOf(bl);
    if (!slot) return;
    slot.retiring.delete(bl);
    if (slot.current === bl) slot.current = null;
    this.flush(slot);
  }

  stats(): RouterStats {
    let held = 0;
    let inFlight = 0;
    for (const s of this.slots) {
      held += s.held.length;
      for (const bl of [s.current, ...s.retiring]) if (bl && !bl.link.closed) inFlight += bl.sent - bl.acked;
    }
    return { held, inFlight, lost: this.lostTotal };
  }

  private slotOf(bl: BusinessLink): Slot | undefined {
    return this.slots.find((s) => s.has(bl));
  }

  private flush(slot: Slot): void {
    if (!slot.open || slot.held.length === 0) return;
    const held = slot.held;
    slot.held = [];
    for (const ev of held) slot.current!.send(ev);
  }
}

/** FNV-1a of the client id: the same slot for every event of a client. */
export function slotOf(clientId: string, count: number): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < clientId.length; i++) {
    h ^= clientId.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return (h >>> 0) % count;
}

export { Op };
