// What gateways and business processes say to each other over the bus: the operations, their
// heads, and how a client message travels as a frame body. Shared by both sides.

/** Operations, one byte each. */
export const Op = {
  // gateway -> business
  HelloGateway: 1,
  Connect: 2,
  Message: 3,
  Close: 4,
  WebSocketConnect: 5,
  Reply: 6,
  ByeOk: 7,
  /** A retired business process is asked to prove that its output reached every gateway. */
  Fence: 8,
  MarkOk: 9,
  // business -> gateway
  HelloBusiness: 20,
  Ack: 21,
  Send: 22,
  SendAll: 23,
  SendUid: 24,
  SendGroup: 25,
  CloseClient: 26,
  BindUid: 27,
  UnbindUid: 28,
  JoinGroup: 29,
  LeaveGroup: 30,
  Ungroup: 31,
  Session: 32,
  Query: 33,
  Verdict: 34,
  Bye: 35,
  /** Sent to every gateway behind all earlier output; each answers MarkOk on the same link. */
  Mark: 36,
  /** The answer to Fence: everything sent before it was handled, its output has arrived everywhere. */
  FenceOk: 37,
} as const;

/** How a message body is to be read: text (a string), binary (a Buffer), or JSON text of any other value. */
export type Kind = 't' | 'b' | 'j';

/** A message as a frame body and its kind. */
export function encodeMessage(message: unknown): { k: Kind; body: Buffer | string } {
  if (typeof message === 'string') return { k: 't', body: message };
  if (Buffer.isBuffer(message)) return { k: 'b', body: message };
  if (message instanceof Uint8Array) return { k: 'b', body: Buffer.from(message.buffer, message.byteOffset, message.byteLength) };
  return { k: 'j', body: JSON.stringify(message ?? null) };
}

/** A frame body back to the message it carried. */
export function decodeMessage(k: Kind | undefined, body: Buffer): unknown {
  if (k === 'b') return body;
  const text = body.toString('utf8');
  return k === 'j' ? JSON.parse(text) as unknown : text;
}

// Heads of the gateway -> business events.
export interface HelloGatewayHead { key: string; index: number }
export interface EventHead {
  /** Client id. */
  c: string;
  /** The link's event number, acknowledged once the handler was called. */
  seq: number;
  /** The client's session as JSON text, when it has one. */
  s?: string;
  k?: Kind;
}
export interface ConnectHead extends EventHead { ra: string; rp: number }
export interface WebSocketConnectHead extends ConnectHead {
  req: { url: string; path: string; query: Record<string, string | string[]>; headers: Record<string, string | string[] | undefined> };
}
export interface ReplyHead { id: number; r: unknown }
/** Fence, MarkOk, Mark and FenceOk carry only an id. */
export interface FenceHead { id: number }

// Heads of the business -> gateway commands.
export interface HelloBusinessHead { slot: number; pid: number; wsc: boolean }
export interface AckHead { seq: number }
export interface SendHead { to: string[]; k: Kind }
export interface SendAllHead { k: Kind; exclude?: string[] }
export interface SendUidHead { uids: string[]; k: Kind }
export interface SendGroupHead { groups: string[]; k: Kind; exclude?: string[] }
export interface CloseClientHead { c: string; k?: Kind }
export interface UidHead { c: string; uid: string }
export interface GroupHead { c: string; group: string }
export interface UngroupHead { group: string }
export interface SessionHead { c: string; s: string | null; merge: boolean }
export interface QueryHead { id: number; q: QueryName; a: string[] }
export interface VerdictHead { c: string; ok: boolean }

/** What a business process may ask a gateway. */
export type QueryName = 'isOnline' | 'isUidOnline' | 'count' | 'groupCount' | 'groupIds' | 'groupUids' | 'uidIds' | 'session';

/** The routing key of a client id: its gateway (client ids are KEY + a counter). */
export const KEY_LENGTH = 10;
export function gatewayKeyOf(clientId: string): string {
  return clientId.slice(0, KEY_LENGTH);
}

// Binary heads of the hot operations (a client's message, a send, an acknowledgement): the
// rest travel as JSON. Strings are UTF-8 with a length before them.

const KINDS: Kind[] = ['t', 'b', 'j'];
const NO_SESSION = 0xffffffff;

/** A Message event: seq u32, kind u8, id (u16 length), session (u32 length, or none). */
export function messageHead(seq: number, c: string, k: Kind, s: string | null): Buffer {
  const idLen = Buffer.byteLength(c);
  const sLen = s === null ? 0 : Buffer.byteLength(s);
  const b = Buffer.allocUnsafe(4 + 1 + 2 + idLen + 4 + sLen);
  b.writeUInt32BE(seq, 0);
  b.writeUInt8(KINDS.indexOf(k), 4);
  b.writeUInt16BE(idLen, 5);
  b.write(c, 7, 'utf8');
  b.writeUInt32BE(s === null ? NO_SESSION : sLen, 7 + idLen);
  if (s !== null) b.write(s, 11 + idLen, 'utf8');
  return b;
}

export function readMessageHead(b: Buffer): EventHead {
  const idLen = b.readUInt16BE(5);
  const sLen = b.readUInt32BE(7 + idLen);
  const head: EventHead = { seq: b.readUInt32BE(0), k: KINDS[b.readUInt8(4)], c: b.toString('utf8', 7, 7 + idLen) };
  if (sLen !== NO_SESSION) head.s = b.toString('utf8', 11 + idLen, 11 + idLen + sLen);
  return head;
}

/** A Send command: kind u8, then each client id (u16 length). */
export function sendHead(k: Kind, to: string[]): Buffer {
  const ids = to.map((id) => Buffer.from(id));
  const b = Buffer.allocUnsafe(1 + ids.reduce((n, id) => n + 2 + id.length, 0));
  b.writeUInt8(KINDS.indexOf(k), 0);
  let at = 1;
  for (const id of ids) {
    b.writeUInt16BE(id.length, at);
    id.copy(b, at + 2);
    at += 2 + id.length;
  }
  return b;
}

export function readSendHead(b: Buffer): SendHead {
  const to: string[] = [];
  for (let at = 1; at < b.length;) {
    const n = b.readUInt16BE(at);
    to.push(b.toString('utf8', at + 2, at + 2 + n));
    at += 2 + n;
  }
  return { k: KINDS[b.readUInt8(0)], to };
}

export function ackHead(seq: number): Buffer {
  const b = Buffer.allocUnsafe(4);
  b.writeUInt32BE(seq, 0);
  return b;
}

export function readAck(b: Buffer): number {
  return b.readUInt32BE(0);
}
