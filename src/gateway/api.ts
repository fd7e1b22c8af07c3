// The gateway API of DESIGN.md, as business processes (and the push API) call it: argument
// order as Workerman's GatewayWorker\Lib\Gateway. Commands for one client go to the gateway
// that holds it (named by the client id); the others go to every gateway; questions are
// answered by the gateways and combined here.
import { LoomError } from '../core/errors.js';
import type { GatewayApi as GatewayApiType } from '../types/handler.js';
import { Op, encodeMessage, gatewayKeyOf, sendHead, type QueryName } from './protocol.js';

/** What the API needs of the business side: gateways to send to and ask. */
export interface GatewayLinks {
  /** Sends to the gateway with this key; false when no such gateway is linked. */
  toGateway(key: string, op: number, head: unknown, body?: Buffer | string): boolean;
  /** Sends to every linked gateway; how many there were. */
  toAll(op: number, head: unknown, body?: Buffer | string): number;
  /** Asks one gateway (by key) or all; the answers of those that answered. */
  ask(key: string | null, q: QueryName, args: string[]): Promise<unknown[]>;
  /** A send that reached no gateway: counted. */
  failed(): void;
}

type Id = string;
type Ids = Id | Id[];

const asList = (v: Ids): string[] => (Array.isArray(v) ? v.map(String) : [String(v)]);

function need(value: unknown, what: string): string {
  if (typeof value !== 'string' && typeof value !== 'number') throw new LoomError('LOOM_ERR_GATEWAY', `${what} must be a string, got ${value === null ? 'null' : typeof value}`);
  return String(value);
}

export class GatewayApi implements GatewayApiType {
  constructor(private readonly links: GatewayLinks) {}

  sendToClient(clientId: Id, message: unknown): boolean {
    const { k, body } = encodeMessage(message);
    return this.one(need(clientId, 'clientId'), Op.Send, sendHead(k, [String(clientId)]), body);
  }

  /** To every client; or only to `only`; never to `exclude`. */
  sendToAll(message: unknown, onlyClientIds?: Id[] | null, excludeClientIds?: Id[] | null): boolean {
    const { k, body } = encodeMessage(message);
    if (onlyClientIds) {
      const exclude = new Set(excludeClientIds?.map(String) ?? []);
      const byGateway = new Map<string, string[]>();
      for (const id of onlyClientIds.map(String)) {
        if (exclude.has(id)) continue;
        const key = gatewayKeyOf(id);
        let list = byGateway.get(key);
        if (!list) byGateway.set(key, (list = []));
        list.push(id);
      }
      let ok = true;
      for (const [key, to] of byGateway) ok = this.links.toGateway(key, Op.Send, sendHead(k, to), body) && ok;
      return ok;
    }
    const head = excludeClientIds?.length ? { k, exclude: excludeClientIds.map(String) } : { k };
    return this.links.toAll(Op.SendAll, head, body) > 0;
  }

  sendToUid(uid: Ids, message: unknown): boolean {
    const { k, body } = encodeMessage(message);
    return this.links.toAll(Op.SendUid, { uids: asList(uid), k }, body) > 0;
  }

  sendToGroup(group: Ids, message: unknown, excludeClientIds?: Id[] | null): boolean {
    const { k, body } = encodeMessage(message);
    const head = excludeClientIds?.length ? { groups: asList(group), k, exclude: excludeClientIds.map(String) } : { groups: asList(group), k };
    return this.links.toAll(Op.SendGroup, head, body) > 0;
  }

  closeClient(clientId: Id, message?: unknown): boolean {
    if (message === undefined) return this.one(need(clientId, 'clientId'), Op.CloseClient, { c: String(clientId) });
    const { k, body } = encodeMessage(message);
    return this.one(need(clientId, 'clientId'), Op.CloseClient, { c: String(clientId), k }, body);
  }

  async isOnline(clientId: Id): Promise<boolean> {
    const id = need(clientId, 'clientId');
    return (await this.links.ask(gatewayKeyOf(id), 'isOnline', [id])).some((r) => r === true);
  }

  async isUidOnline(uid: Id): Promise<boolean> {
    return (await this.links.ask(null, 'isUidOnline', [need(uid, 'uid')])).some((r) => r === true);
  }

  bindUid(clientId: Id, uid: Id): boolean {
    return this.one(need(clientId, 'clientId'), Op.BindUid, { c: String(clientId), uid: need(uid, 'uid') });
  }

  unbindUid(clientId: Id, uid: Id): boolean {
    return this.one(need(clientId, 'clientId'), Op.UnbindUid, { c: String(clientId), uid: need(uid, 'uid') });
  }

  joinGroup(clientId: Id, group: Id): boolean {
    return this.one(need(clientId, 'clientId'), Op.JoinGroup, { c: String(clientId), group: need(group, 'group') });
  }

  leaveGroup(clientId: Id, group: Id): boolean {
    return this.one(need(clientId, 'clientId'), Op.LeaveGroup, { c: String(clientId), group: need(group, 'group') });
  }

  ungroup(group: Id): boolean {
    return this.links.toAll(Op.Ungroup, { group: need(group, 'group') }) > 0;
  }

  async getAllClientCount(): Promise<number> {
    return sum(await this.links.ask(null, 'count', []));
  }

  async getClientCountByGroup(group: Id): Promise<number> {
    return sum(await this.links.ask(null, 'groupCount', [need(group, 'group')]));
  }

  async getClientIdsByGroup(group: Id): Promise<string[]> {
    return concat(await this.links.ask(null, 'groupIds', [need(group, 'group')]));
  }

  async getUidsByGroup(group: Id): Promise<string[]> {
    return [...new Set(concat(await this.links.ask(null, 'groupUids', [need(group, 'group')])))];
  }

  async getClientIdsByUid(uid: Id): Promise<string[]> {
    return concat(await this.links.ask(null, 'uidIds', [need(uid, 'uid')]));
  }

  /** Replaces the client's session. */
  setSession(clientId: Id, session: Record<string, unknown>): boolean {
    return this.one(need(clientId, 'clientId'), Op.Session, { c: String(clientId), s: JSON.stringify(session ?? {}), merge: false });
  }

  /** Merges into the client's session. */
  updateSession(clientId: Id, partial: Record<string, unknown>): boolean {
    return this.one(need(clientId, 'clientId'), Op.Session, { c: String(clientId), s: JSON.stringify(partial ?? {}), merge: true });
  }

  /** The client's session; null when the client is not online. */
  async getSession(clientId: Id): Promise<Record<string, unknown> | null> {
    const id = need(clientId, 'clientId');
    const [text] = (await this.links.ask(gatewayKeyOf(id), 'session', [id])).filter((r) => typeof r === 'string');
    return typeof text === 'string' ? (JSON.parse(text) as Record<string, unknown>) : null;
  }

  private one(clientId: string, op: number, head: unknown, body?: Buffer | string): boolean {
    const ok = this.links.toGateway(gatewayKeyOf(clientId), op, head, body);
    if (!ok) this.links.failed();
    return ok;
  }
}

function sum(answers: unknown[]): number {
  return answers.reduce<number>((n, r) => n + (typeof r === 'number' ? r : 0), 0);
}

function concat(answers: unknown[]): string[] {
  return answers.flatMap((r) => (Array.isArray(r) ? (r as string[]) : []));
}

/** The API's method names, as the push API exposes them. */
export const API_METHODS = [
  'sendToClient', 'sendToAll', 'sendToUid', 'sendToGroup', 'closeClient', 'isOnline', 'isUidOnline',
  'bindUid', 'unbindUid', 'joinGroup', 'leaveGroup', 'ungroup', 'getAllClientCount', 'getClientCountByGroup',
  'getClientIdsByGroup', 'getUidsByGroup', 'getClientIdsByUid', 'setSession', 'updateSession', 'getSession',
] as const satisfies readonly (keyof GatewayApi)[];
