// The bus carries a gateway group's traffic between its gateway processes and its business
// processes, and nothing else; the master never carries a message. One small interface so
// that the traffic rides on local unix sockets today (bus/local.ts) and on NATS later: the
// gateway and business logic (src/gateway/) see only links that carry frames.
import type { Frame } from './frame.js';

/** One two-way link between a business process and a gateway process. */
export interface BusLink {
  /** Queues a frame; the frames of one event-loop turn leave together (one writev). */
  send(op: number, head: unknown, body?: Buffer | string): void;
  onFrame: ((frame: Frame) => void) | null;
  /** The link is gone (closed by either side, or broken). Called once. */
  onClose: (() => void) | null;
  /** Sends what is queued, then closes. */
  close(): void;
  readonly closed: boolean;
  /** Bytes queued and not yet taken by the kernel. */
  readonly queued: number;
  /** Calls back once every frame sent so far has left this process (or the link is gone). */
  whenWritten(callback: () => void): void;
}

/** A gateway's end: business processes reach it; each of them is one link. */
export interface GatewayEndpoint {
  listen(onLink: (link: BusLink) => void): Promise<void>;
  close(): void;
}

/**
 * A business process's end: it finds the group's gateways by itself and links to each, a
 * gateway that comes later (a restart, a reload, a scale-up) included.
 */
export interface BusinessEndpoint {
  start(onLink: (link: BusLink) => void): void;
  /** A hint that a gateway may have come: look now rather than at the next regular look. */
  discover(): void;
  stop(): void;
}

export interface Bus {
  gateway(group: string, index: number): GatewayEndpoint;
  business(group: string): BusinessEndpoint;
}
