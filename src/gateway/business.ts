// A business process of a gateway group: it keeps a link to every gateway, runs the handler's
// onConnect/onMessage/onClose/onWebSocketConnect for the clients that hash to its slot, and
// offers the gateway API (client.gateway, worker.gateway). Every event is acknowledged once
// its callback was called, so a gateway knows what a process that dies had not handled; a
// graceful stop says goodbye first and handles everything already sent before it leaves.
import type { BusinessEndpoint, BusLink } from '../bus/bus.js';
import type { Frame } from '../bus/frame.js';
import type { Guard } from '../core/guard.js';
import type { WorkerStats } from '../core/stats.js';
import type { Logger } from '../log/logger.js';
import type { GatewayClient, Handler } from '../types/handler.js';
import { GatewayApi, type GatewayLinks } from './api.js';
import { jsonHead } from '../bus/frame.js';
import {
  Op, ackHead, decodeMessage, readMessageHead,
  type ConnectHead, type EventHead, type FenceHead, type HelloGatewayHead, type QueryName, type ReplyHead, type WebSocketConnectHead,
} from './protocol.js';

/** How long a question waits for a gateway's answer before it is answered without it. */
const ASK_TIMEOUT_MS = 5000;
/** How long a graceful stop waits for each gateway's goodbye before it goes anyway. */
const BYE_TIMEOUT_MS = 5000;

export interface BusinessSettings {
  group: string;
  /** This process's business worker id: the slot gateways route to it. */
  slot: number;
  gatewayCount: number;
  endpoint: BusinessEndpoint;
  handler: Handler;
  guard: Guard;
  stats: WorkerStats;
  log: Logger;
}

/** A client as a callback gets it; its session is parsed only if the callback looks at it. */
class Client implements GatewayClient {
  private session_: Record<string, unknown> | null = null;

  constructor(
    readonly id: string,
    private readonly sessionText: string | undefined,
    readonly remoteAddress: string,
    readonly remotePort: number,
    readonly gateway: GatewayApi,
  ) {}

  get session(): Record<string, unknown> {
    return (this.session_ ??= this.sessionText ? (JSON.parse(this.sessionText) as Record<string, unknown>) : {});
  }
  set session(v: Record<string, unknown>) {
    this.session_ = v;
  }

  /** The callback read or replaced the session (it may have changed it). */
  get sessionTouched(): boolean {
    return this.session_ !== null;
  }

  send(message: unknown): boolean {
    return this.gateway.sendToClient(this.id, message);
  }
}

class GatewayState {
  key: string | null = null;
  /** The highest event number handled and not yet acknowledged. */
  toAck = 0;
  bye: (() => void) | null = null;
  /** Marks sent on this link and not yet answered, by id. */
  readonly marks = new Map<number, () => void>();
  constructor(readonly link: BusLink) {}
}

interface Asking { resolve(answer: unknown): void; state: GatewayState }

export class Business implements GatewayLinks {
  readonly api: GatewayApi;
  private readonly gateways = new Set<GatewayState>();
  private readonly byKey = new Map<string, GatewayState>();
  private readonly asking = new Map<number, Asking>();
  private nextQuestion = 1;
  private nextMark = 1;
  /** Fences being answered: a graceful stop waits for them before the links close. */
  private readonly fences = new Set<Promise<void>>();
  private readonly acking = new Set<GatewayState>();
  private ackScheduled = false;
  /** Addresses of this slot's clients, told once at connect. */
  private readonly peers = new Map<string, { ra: string; rp: number }>();
  private gatewayCount: number;
  private linkedOnce: (() => void) | null = null;
  /** The handler is ready (onWorkerStart done): gateways may route events here. */
  private serving = false;

  constructor(private readonly s: BusinessSettings) {
    this.api = new GatewayApi(this);
    this.gatewayCount = s.gatewayCount;
  }

  /** Links to every gateway; resolves once as many answered as the group has (or after a few seconds). */
  start(): Promise<void> {
    const all = new Promise<void>((resolve) => { this.linkedOnce = resolve; });
    this.s.endpoint.start((link) => this.linked(link));
    return Promise.race([all, new Promise<void>((r) => setTimeout(r, BYE_TIMEOUT_MS).unref())]);
  }

  /** The handler is ready: every gateway learns this process serves its slot. */
  serve(): void {
    this.serving = true;
    for (const g of this.gateways) this.hello(g.link);
  }

  private hello(link: BusLink): void {
    link.send(Op.HelloBusiness, { slot: this.s.slot, pid: process.pid, wsc: typeof this.s.handler.onWebSocketConnect === 'function' });
  }

  /** The gateway group was scaled, or a gateway (re)started: look for new gateways now. */
  gatewaysChanged(count: number): void {
    this.gatewayCount = count;
    this.s.endpoint.discover();
  }

  /**
   * A graceful stop, first step: each gateway is told to send nothing more (it holds this
   * slot's events for the successor) and answers once it stopped; everything it sent before
   * has arrived and been handled by then (one ordered stream per link).
   */
  async leave(): Promise<void> {
    const waits = [...this.gateways].filter((g) => !g.link.closed).map((g) => new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, BYE_TIMEOUT_MS);
      g.bye = () => { clearTimeout(timer); resolve(); };
      g.link.send(Op.Bye, null);
    }));
    await Promise.all(waits);
    // A gateway retires this process before its goodbye answer, so its fence has arrived.
    await Promise.all([...this.fences]);
    await this.flushAcks();
  }

  /** The last step: the links close. */
  close(): void {
    this.s.endpoint.stop();
  }

  // --- GatewayLinks, for the API ---

  toGateway(key: string, op: number, head: unknown, body?: Buffer | string): boolean {
    const g = this.byKey.get(key);
    if (!g || g.link.closed) return false;
    g.link.send(op, head, body);
    return true;
  }

  toAll(op: number, head: unknown, body?: Buffer | string): number {
    let n = 0;
    for (const g of this.byKey.values()) {
      if (g.link.closed) continue;
      g.link.send(op, head, body);
      n++;
    }
    return n;
  }

  ask(key: string | null, q: QueryName, args: string[]): Promise<unknown[]> {
    const targets = key === null ? [...this.byKey.values()] : [this.byKey.get(key)].filter((g): g is GatewayState => g !== undefined);
    return Promise.all(targets.filter((g) => !g.link.closed).map((state) => new Promise<unknown>((resolve) => {
      const id = this.nextQuestion++;
      const timer = setTimeout(() => { this.asking.delete(id); resolve(undefined); }, ASK_TIMEOUT_MS);
      this.asking.set(id, { state, resolve: (answer) => { clearTimeout(timer); this.asking.delete(id); resolve(answer); } });
      state.link.send(Op.Query, { id, q, a: args });
    })));
  }

  failed(): void {
    this.s.stats.sendFailures++;
  }

  // --- links ---

  private linked(link: BusLink): void {
    const state = new GatewayState(link);
    this.gateways.add(state);
    if (this.serving) this.hello(link);
    link.onFrame = (f) => this.frame(state, f);
    link.onClose = () => {
      this.gateways.delete(state);
      if (state.key && this.byKey.get(state.key) === state) this.byKey.delete(state.key);
      for (const [, a] of this.asking) if (a.state === state) a.resolve(undefined);
      for (const done of state.marks.values()) done();
      state.bye?.();
    };
  }

  private frame(state: GatewayState, f: Frame): void {
    switch (f.op) {
      case Op.HelloGateway: {
        const h = jsonHead<HelloGatewayHead>(f);
        state.key = h.key;
        this.byKey.set(h.key, state);
        if (this.byKey.size >= this.gatewayCount) this.linkedOnce?.();
        return;
      }
      case Op.Reply: {
        const h = jsonHead<ReplyHead>(f);
        this.asking.get(h.id)?.resolve(h.r);
        return;
      }
      case Op.ByeOk:
        state.bye?.();
        return;
      case Op.Fence:
        return this.fence(state, jsonHead<FenceHead>(f).id);
      case Op.MarkOk:
        state.marks.get(jsonHead<FenceHead>(f).id)?.();
        return;
      case Op.Connect:
      case Op.Message:
      case Op.Close:
      case Op.WebSocketConnect:
      {
        const h = f.op === Op.Message ? readMessageHead(f.head) : jsonHead<EventHead>(f);
        this.event(state, f, h);
        this.acked(state, h.seq);
        return;
      }
    }
  }

  /**
   * A gateway retired this process (a reload): everything it sent before the fence is handled
   * (one ordered stream). The output of those callbacks went out on every link; a mark behind
   * it on each, answered by each gateway, proves it arrived before the successor's output can.
   */
  private fence(from: GatewayState, id: number): void {
    this.flushAcks();
    const marks = [...this.gateways].filter((g) => !g.link.closed).map((g) => new Promise<void>((resolve) => {
      const mark = this.nextMark++;
      const timer = setTimeout(done, ASK_TIMEOUT_MS);
      function done(): void { clearTimeout(timer); g.marks.delete(mark); resolve(); }
      g.marks.set(mark, done);
      g.link.send(Op.Mark, { id: mark });
    }));
    const fence = Promise.all(marks).then(() => {
      this.fences.delete(fence);
      if (!from.link.closed) from.link.send(Op.FenceOk, { id });
    });
    this.fences.add(fence);
  }

  /** Runs the handler's callback for one client event. */
  private event(state: GatewayState, f: Frame, h: EventHead): void {
    const { handler, guard } = this.s;
    if (f.op === Op.Connect || f.op === Op.WebSocketConnect) {
      const c = h as ConnectHead;
      this.peers.set(c.c, { ra: c.ra, rp: c.rp });
    }
    const client = this.client(h);
    const before = h.s ?? '{}';
    let result: unknown;
    switch (f.op) {
      case Op.Connect:
        result = guard.call('onConnect', handler.onConnect as Callback, handler, client);
        break;
      case Op.Message:
        this.s.stats.totalRequests++;
        result = guard.invoke('onMessage', handler.onMessage as ((c: Client, m: unknown) => unknown) | undefined, handler, client, decodeMessage(h.k, f.body));
        break;
      case Op.Close:
        this.peers.delete(h.c);
        guard.call('onClose', handler.onClose as Callback, handler, client);
        return; // its session is gone with it
      case Op.WebSocketConnect:
        return this.webSocketConnect(state, h as WebSocketConnectHead, client);
    }
    this.afterwards(result, () => this.saveSession(state, client, before));
  }

  /** onWebSocketConnect's verdict: false, a throw or a rejection refuses the client (403). */
  private webSocketConnect(state: GatewayState, h: WebSocketConnectHead, client: Client): void {
    const fn = this.s.handler.onWebSocketConnect;
    const verdict = (ok: boolean) => state.link.send(Op.Verdict, { c: h.c, ok });
    if (typeof fn !== 'function') return verdict(true);
    let result: unknown;
    try {
      result = fn.call(this.s.handler, client as never, h.req);
    } catch (err) {
      this.s.guard.report('onWebSocketConnect', err);
      return verdict(false);
    }
    if (isThenable(result)) {
      result.then((v) => { this.saveSession(state, client, h.s ?? '{}'); verdict(v !== false); }, (err: unknown) => { this.s.guard.report('onWebSocketConnect', err); verdict(false); });
    } else {
      this.saveSession(state, client, h.s ?? '{}');
      verdict(result !== false);
    }
  }

  private client(h: EventHead): Client {
    const peer = this.peers.get(h.c);
    return new Client(h.c, h.s, peer?.ra ?? '', peer?.rp ?? 0, this.api);
  }

  /** Runs fn when a callback's result is settled (at once when it is not a promise). */
  private afterwards(result: unknown, fn: () => void): void {
    if (isThenable(result)) result.then(fn, fn);
    else fn();
  }

  /** Changes a callback made to client.session are stored on the gateway. */
  private saveSession(state: GatewayState, client: Client, before: string): void {
    if (!client.sessionTouched) return;
    let after: string;
    try {
      after = JSON.stringify(client.session ?? {});
    } catch (err) {
      this.s.guard.report('client.session', err);
      return;
    }
    if (after !== before && !state.link.closed) state.link.send(Op.Session, { c: client.id, s: after, merge: false });
  }

  /** Acknowledgements leave once per turn of the event loop. */
  private acked(state: GatewayState, seq: number): void {
    state.toAck = seq;
    this.acking.add(state);
    if (this.ackScheduled) return;
    this.ackScheduled = true;
    setImmediate(() => this.flushAcks());
  }

  /**
   * An event is acknowledged only once what its callback sent has left this process on every
   * link: acknowledged before, a process killed in between would have lost output that no
   * gateway counts as lost.
   */
  private flushAcks(): Promise<void> {
    this.ackScheduled = false;
    const acks = [...this.acking].map((state) => ({ state, seq: state.toAck }));
    this.acking.clear();
    if (acks.length === 0) return Promise.resolve();
    const links = [...this.gateways].map((g) => g.link);
    return new Promise((resolve) => {
      let waiting = links.length;
      const send = () => {
        if (--waiting > 0) return;
        for (const { state, seq } of acks) if (!state.link.closed) state.link.send(Op.Ack, ackHead(seq));
        resolve();
      };
      if (waiting === 0) { waiting = 1; send(); return; }
      for (const link of links) link.whenWritten(send);
    });
  }
}

type Callback = (...args: never[]) => unknown;

function isThenable(v: unknown): v is PromiseLike<unknown> {
  return v !== null && typeof v === 'object' && typeof (v as PromiseLike<unknown>).then === 'function';
}
