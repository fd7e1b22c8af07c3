// A gateway process: it holds the clients of a gateway group's listener and runs no user code.
// Each client gets an id unique across gateways, restarts and machines; its uid, groups and
// session live here. Every decoded message goes to the client's business process over the bus;
// the business processes' commands (sends, bindings, sessions) and questions come back the same
// way. Heartbeats are the gateway's too.
import { randomBytes } from 'node:crypto';
import type { BusLink, GatewayEndpoint } from '../bus/bus.js';
import { jsonHead, type Frame } from '../bus/frame.js';
import type { ConnectionInfo } from '../core/connection.js';
import type { WorkerStats } from '../core/stats.js';
import type { Logger } from '../log/logger.js';
import { buildFrame, kRawFrame, type WebSocketBase } from '../core/websocket.js';
import type { Connection, Handler, ProtocolModule } from '../types/handler.js';
import {
  KEY_LENGTH, Op, decodeMessage, gatewayKeyOf, readAck, readSendHead,
  type CloseClientHead, type FenceHead, type GroupHead, type HelloBusinessHead, type Kind, type QueryHead,
  type SendAllHead, type SendGroupHead, type SendUidHead, type SessionHead, type UidHead, type UngroupHead, type VerdictHead,
} from './protocol.js';
import { BusinessLink, BusinessRouter, type RouterStats } from './router.js';

export interface GatewaySettings {
  /** The group (config.ini section). */
  group: string;
  index: number;
  businessCount: number;
  pingInterval: number;
  pingNotResponseLimit: number;
  pingData: string;
  /** Seconds a WebSocket handshake waits for onWebSocketConnect's verdict. */
  verdictTimeout: number;
  /**
   * How messages reach the listener's clients: WebSocket frames from the bytes as they came,
   * a built-in framing (text, frame, tcp) encoded once for all receivers, or a custom protocol
   * module's encode() for each (it may depend on the connection; JSON values go to it as values).
   */
  wire: 'websocket' | 'builtin' | 'custom';
  protocol: ProtocolModule;
  endpoint: GatewayEndpoint;
  stats: WorkerStats;
  log: Logger;
}

interface Client {
  id: string;
  conn: Connection;
  uid: string | null;
  groups: Set<string> | null;
  /** JSON text of the session (null: none). */
  session: string | null;
  /** Heartbeat: whether anything arrived since the last beat, and how many beats in a row nothing did. */
  heard: boolean;
  missed: number;
  /** onConnect went out (a WebSocket client exists from its handshake on, before that). */
  connected: boolean;
}

/** Figures for `status`. */
export interface GatewayReport extends RouterStats {
  clients: number;
  uids: number;
  groups: number;
  /** Messages from clients, and to clients, in the last whole second. */
  messagesInPerSecond: number;
  messagesOutPerSecond: number;
}

export class Gateway {
  /** The prefix of this process's client ids. */
  readonly key = randomBytes(KEY_LENGTH / 2).toString('hex');
  private counter = 0;
  private readonly clients = new Map<string, Client>();
  private readonly uids = new Map<string, Set<string>>();
  private readonly groups = new Map<string, Set<string>>();
  private readonly router: BusinessRouter;
  private readonly links = new Set<BusinessLink>();
  /** Handshakes waiting for onWebSocketConnect's verdict, by client id. */
  private readonly verdicts = new Map<string, (ok: boolean) => void>();
  private messagesIn = 0;
  private messagesOut = 0;
  private rates = { in: 0, out: 0, lastIn: 0, lastOut: 0 };

  constructor(private readonly s: GatewaySettings) {
    this.router = new BusinessRouter(s.businessCount, s.log);
    if (s.pingInterval > 0) setInterval(() => this.heartbeat(), s.pingInterval * 1000).unref();
    setInterval(() => {
      const r = this.rates;
      r.in = this.messagesIn - r.lastIn;
      r.out = this.messagesOut - r.lastOut;
      r.lastIn = this.messagesIn;
      r.lastOut = this.messagesOut;
    }, 1000).unref();
  }

  async start(): Promise<void> {
    await this.s.endpoint.listen((link) => this.linked(link));
  }

  /** business_count changed: clients spread over that many business processes. */
  setBusinessCount(n: number): void {
    this.router.resize(n);
  }

  /** The handler of the group's listener: Loom's own code, never the user's. */
  handler(): Handler {
    const verdict = (conn: Connection, request: unknown) => this.webSocketConnect(conn, request as WebSocketRequest);
    const router = this.router;
    return {
      // Only while a business process's handler asks: without one, a plain handshake is
      // answered at once on the connection's bare handle (http/websocket.ts).
      get onWebSocketConnect() { return router.asksWebSocketConnect ? verdict : undefined; },
      onConnect: (conn) => this.connected(conn),
      onMessage: (conn, message) => this.message(conn, message),
      [kRawFrame]: (conn: Connection, bytes: Buffer, text: boolean) => this.forward(conn, text ? 't' : 'b', bytes),
      onClose: (conn) => this.closed(conn),
    } as Handler;
  }

  report(): GatewayReport {
    return {
      clients: this.clients.size, uids: this.uids.size, groups: this.groups.size,
      messagesInPerSecond: this.rates.in, messagesOutPerSecond: this.rates.out, ...this.router.stats(),
    };
  }

  /** `loom connections` rows: the client id, uid and groups beside the connection's own. */
  describe(conn: Connection, row: ConnectionInfo): ConnectionInfo {
    const client = clientOf(conn);
    return client ? { ...row, clientId: client.id, uid: client.uid, groups: client.groups ? [...client.groups] : [] } : row;
  }

  /** A graceful stop: business processes are told nothing more; the bus endpoint closes. */
  stop(): void {
    this.s.endpoint.close();
  }

  // --- clients ---

  private newClient(conn: Connection): Client {
    const id = this.key + (this.counter++).toString(36);
    const client: Client = { id, conn, uid: null, groups: null, session: null, heard: true, missed: 0, connected: false };
    this.clients.set(id, client);
    (conn as Tagged)[kClient] = client;
    return client;
  }

  /** Asked only while a business handler has onWebSocketConnect (handler()'s getter); otherwise the client is made at onConnect. */
  private webSocketConnect(conn: Connection, request: WebSocketRequest): unknown {
    const client = this.newClient(conn);
    // A handshake that never completes (refused, or the peer gone meanwhile) has no onClose.
    (conn as { socket?: { once(event: 'close', fn: () => void): void } }).socket?.once('close', () => {
      if (!client.connected) this.forget(client);
    });
    return new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => { this.verdicts.delete(client.id); resolve(false); }, this.s.verdictTimeout * 1000);
      this.verdicts.set(client.id, (ok) => { clearTimeout(timer); this.verdicts.delete(client.id); resolve(ok); });
      this.router.route(client.id, Op.WebSocketConnect, {
        c: client.id, ra: conn.remoteAddress, rp: conn.remotePort,
        req: { url: request.url, path: request.path, query: request.query, headers: request.headers },
      });
    }).then((ok) => {
      if (!ok) this.forget(client);
      return ok;
    });
  }

  private connected(conn: Connection): void {
    const client = clientOf(conn) ?? this.newClient(conn);
    client.connected = true;
    this.router.route(client.id, Op.Connect, { c: client.id, ra: conn.remoteAddress, rp: conn.remotePort });
  }

  private message(conn: Connection, message: unknown): void {
    if (typeof message === 'string') this.forward(conn, 't', message);
    else if (Buffer.isBuffer(message)) this.forward(conn, 'b', message);
    else this.forward(conn, 'j', JSON.stringify(message ?? null));
  }

  /** A client's message goes to its business process. */
  private forward(conn: Connection, k: Kind, body: Buffer | string): void {
    const client = clientOf(conn);
    if (!client) return;
    client.heard = true;
    this.messagesIn++;
    const head: { c: string; k: Kind; s?: string } = { c: client.id, k };
    if (client.session !== null) head.s = client.session;
    this.router.route(client.id, Op.Message, head, body);
  }

  private closed(conn: Connection): void {
    const client = clientOf(conn);
    if (!client) return;
    const head: { c: string; s?: string } = { c: client.id };
    if (client.session !== null) head.s = client.session;
    this.forget(client);
    this.router.route(client.id, Op.Close, head);
  }

  private forget(client: Client): void {
    this.clients.delete(client.id);
    (client.conn as Tagged)[kClient] = undefined;
    if (client.uid !== null) this.unbind(client, client.uid);
    if (client.groups) for (const g of [...client.groups]) this.leave(client, g);
  }

  private heartbeat(): void {
    const limit = this.s.pingNotResponseLimit;
    for (const client of [...this.clients.values()]) {
      if (client.heard) client.missed = 0;
      else client.missed++;
      client.heard = false;
      if (limit > 0 && client.missed >= limit) {
        client.conn.close();
        continue;
      }
      if (this.s.pingData) client.conn.send(this.s.pingData);
    }
  }

  // --- business processes ---

  private linked(link: BusLink): void {
    link.send(Op.HelloGateway, { key: this.key, index: this.s.index });
    let bl: BusinessLink | null = null;
    link.onFrame = (f) => {
      if (f.op === Op.HelloBusiness) {
        bl = new BusinessLink(link, jsonHead<HelloBusinessHead>(f));
        this.links.add(bl);
        this.router.attach(bl);
        return;
      }
      if (!bl) return; // nothing before the hello
      this.command(bl, f);
    };
    link.onClose = () => {
      if (!bl) return;
      this.links.delete(bl);
      this.router.closed(bl);
    };
  }

  private command(bl: BusinessLink, f: Frame): void {
    switch (f.op) {
      case Op.Ack:
        return this.router.acked(bl, readAck(f.head));
      case Op.Bye:
        this.router.leaving(bl);
        return bl.link.send(Op.ByeOk, null);
      case Op.Mark:
        // Every frame this link carried before the mark has been applied: say so.
        return bl.link.send(Op.MarkOk, { id: jsonHead<FenceHead>(f).id });
      case Op.FenceOk:
        return this.router.fenced(bl, jsonHead<FenceHead>(f).id);
      case Op.Send: {
        const h = readSendHead(f.head);
        const payload = this.payload(h.k, f.body, h.to.length > 1);
        for (const id of h.to) this.deliver(this.clients.get(id), payload);
        return;
      }
      case Op.SendAll: {
        const h = jsonHead<SendAllHead>(f);
        const payload = this.payload(h.k, f.body, true);
        const exclude = h.exclude ? new Set(h.exclude) : null;
        for (const client of this.clients.values()) if (!exclude?.has(client.id)) this.deliver(client, payload);
        return;
      }
      case Op.SendUid: {
        const h = jsonHead<SendUidHead>(f);
        const payload = this.payload(h.k, f.body, true);
        for (const uid of h.uids) for (const id of this.uids.get(uid) ?? []) this.deliver(this.clients.get(id), payload);
        return;
      }
      case Op.SendGroup: {
        const h = jsonHead<SendGroupHead>(f);
        const payload = this.payload(h.k, f.body, true);
        const exclude = h.exclude ? new Set(h.exclude) : null;
        const sent = new Set<string>();
        for (const group of h.groups) {
          for (const id of this.groups.get(group) ?? []) {
            if (exclude?.has(id) || sent.has(id)) continue;
            sent.add(id);
            this.deliver(this.clients.get(id), payload);
          }
        }
        return;
      }
      case Op.CloseClient: {
        const h = jsonHead<CloseClientHead>(f);
        const client = this.clients.get(h.c);
        if (!client) return;
        if (h.k !== undefined) this.deliver(client, this.payload(h.k, f.body));
        client.conn.close();
        return;
      }
      case Op.BindUid: {
        const h = jsonHead<UidHead>(f);
        const client = this.clients.get(h.c);
        if (!client) return;
        if (client.uid !== null) this.unbind(client, client.uid);
        client.uid = h.uid;
        addTo(this.uids, h.uid, client.id);
        return;
      }
      case Op.UnbindUid: {
        const h = jsonHead<UidHead>(f);
        const client = this.clients.get(h.c);
        if (client && client.uid === h.uid) this.unbind(client, h.uid);
        return;
      }
      case Op.JoinGroup: {
        const h = jsonHead<GroupHead>(f);
        const client = this.clients.get(h.c);
        if (!client) return;
        (client.groups ??= new Set()).add(h.group);
        addTo(this.groups, h.group, client.id);
        return;
      }
      case Op.LeaveGroup: {
        const h = jsonHead<GroupHead>(f);
        const client = this.clients.get(h.c);
        if (client) this.leave(client, h.group);
        return;
      }
      case Op.Ungroup: {
        const group = jsonHead<UngroupHead>(f).group;
        for (const id of this.groups.get(group) ?? []) this.clients.get(id)?.groups?.delete(group);
        this.groups.delete(group);
        return;
      }
      case Op.Session: {
        const h = jsonHead<SessionHead>(f);
        const client = this.clients.get(h.c);
        if (!client) return;
        if (!h.merge || h.s === null || client.session === null) client.session = h.s;
        else client.session = JSON.stringify({ ...(JSON.parse(client.session) as object), ...(JSON.parse(h.s) as object) });
        return;
      }
      case Op.Query: {
        const h = jsonHead<QueryHead>(f);
        return bl.link.send(Op.Reply, { id: h.id, r: this.answer(h) });
      }
      case Op.Verdict: {
        const h = jsonHead<VerdictHead>(f);
        this.verdicts.get(h.c)?.(h.ok);
        return;
      }
    }
  }

  private answer(h: QueryHead): unknown {
    const [a] = h.a;
    switch (h.q) {
      case 'isOnline': return this.clients.has(a);
      case 'isUidOnline': return this.uids.has(a);
      case 'count': return this.clients.size;
      case 'groupCount': return this.groups.get(a)?.size ?? 0;
      case 'groupIds': return [...(this.groups.get(a) ?? [])];
      case 'groupUids': {
        const uids = new Set<string>();
        for (const id of this.groups.get(a) ?? []) {
          const uid = this.clients.get(id)?.uid;
          if (uid) uids.add(uid);
        }
        return [...uids];
      }
      case 'uidIds': return [...(this.uids.get(a) ?? [])];
      case 'session': {
        if (gatewayKeyOf(a) !== this.key) return null;
        const client = this.clients.get(a);
        return client ? (client.session ?? '{}') : null;
      }
    }
  }

  /** A message of kind k made ready for this listener's clients, once for however many. */
  private payload(k: Kind, body: Buffer, many = false): Outgoing {
    switch (this.s.wire) {
      // A JSON value's text, or a string, is a text frame; the bytes go as they came; to many
      // clients, in one frame built once.
      case 'websocket': return { frame: body, text: k !== 'b', built: many ? buildFrame(body, k !== 'b') : null };
      case 'builtin': return { wire: this.s.protocol.encode(k === 'b' ? body : body.toString('utf8'), null as never) };
      case 'custom': return { value: decodeMessage(k, body) };
    }
  }

  private deliver(client: Client | undefined, out: Outgoing): void {
    if (!client) return;
    this.messagesOut++;
    const { conn } = client;
    if ('frame' in out) {
      if (out.built) (conn as WebSocketBase).sendBuilt(out.built, out.frame, out.text);
      else (conn as WebSocketBase).sendFrame(out.frame, out.text);
    }
    else if ('wire' in out) conn.send(out.wire, true);
    else conn.send(out.value);
  }

  private unbind(client: Client, uid: string): void {
    client.uid = null;
    removeFrom(this.uids, uid, client.id);
  }

  private leave(client: Client, group: string): void {
    client.groups?.delete(group);
    removeFrom(this.groups, group, client.id);
  }
}

/** A connection's client, found on the connection itself (a Map beside it costs memory per client). */
const kClient = Symbol('loom.gatewayClient');
type Tagged = Connection & { [kClient]?: Client };
const clientOf = (conn: Connection): Client | undefined => (conn as Tagged)[kClient];

/** An index of client ids by uid or group: a set per key, dropped when empty. */
function addTo(index: Map<string, Set<string>>, key: string, id: string): void {
  let set = index.get(key);
  if (!set) index.set(key, (set = new Set()));
  set.add(id);
}

function removeFrom(index: Map<string, Set<string>>, key: string, id: string): void {
  const set = index.get(key);
  set?.delete(id);
  if (set?.size === 0) index.delete(key);
}

type Outgoing = { frame: Buffer; text: boolean; built: Buffer | null } | { wire: string | Buffer } | { value: unknown };

interface WebSocketRequest {
  url: string;
  path: string;
  query: Record<string, string | string[]>;
  headers: Record<string, string | string[] | undefined>;
}
