// Minimal real clients for the wire protocols, each with a queue of received messages.
import { connect, type Socket } from 'node:net';
import { createSocket } from 'node:dgram';

export class MessageQueue<T> {
  private items: T[] = [];
  private waiters: ((v: T) => void)[] = [];
  closed = false;
  push(v: T): void {
    const w = this.waiters.shift();
    if (w) w(v); else this.items.push(v);
  }
  next(timeoutMs = 5000): Promise<T> {
    const v = this.items.shift();
    if (v !== undefined) return Promise.resolve(v);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no message within ${timeoutMs} ms`)), timeoutMs);
      this.waiters.push((x) => { clearTimeout(timer); resolve(x); });
    });
  }
  get length(): number { return this.items.length; }
}

export interface StreamClient {
  socket: Socket;
  messages: MessageQueue<Buffer>;
  closed: Promise<void>;
  write(data: string | Buffer): void;
}

/** Connects to host:port or a unix path; `split` turns the byte stream into messages. */
export function streamClient(target: { port: number; host?: string } | { path: string }, split: (buf: Buffer) => [Buffer[], Buffer]): Promise<StreamClient> {
  return new Promise((resolve, reject) => {
    const socket = 'path' in target ? connect(target.path) : connect(target.port, target.host ?? '127.0.0.1');
    const messages = new MessageQueue<Buffer>();
    let rest: Buffer = Buffer.alloc(0);
    socket.on('data', (chunk: Buffer) => {
      const [msgs, r] = split(Buffer.concat([rest, chunk]));
      rest = r;
      for (const m of msgs) messages.push(m);
    });
    const closed = new Promise<void>((r) => socket.on('close', () => { messages.closed = true; r(); }));
    socket.on('error', () => undefined);
    socket.once('connect', () => resolve({ socket, messages, closed, write: (d) => socket.write(d) }));
    socket.once('error', reject);
  });
}

export function splitLines(buf: Buffer): [Buffer[], Buffer] {
  const out: Buffer[] = [];
  let i: number;
  while ((i = buf.indexOf(10)) >= 0) { out.push(buf.subarray(0, i)); buf = buf.subarray(i + 1); }
  return [out, buf];
}

export function splitFrames(buf: Buffer): [Buffer[], Buffer] {
  const out: Buffer[] = [];
  while (buf.length >= 4 && buf.length >= buf.readUInt32BE(0)) {
    const n = buf.readUInt32BE(0);
    out.push(buf.subarray(4, n));
    buf = buf.subarray(n);
  }
  return [out, buf];
}

export function splitRaw(buf: Buffer): [Buffer[], Buffer] {
  return buf.length ? [[buf], Buffer.alloc(0)] : [[], buf];
}

export function frame(body: string | Buffer): Buffer {
  const b = Buffer.isBuffer(body) ? body : Buffer.from(body);
  const h = Buffer.alloc(4);
  h.writeUInt32BE(b.length + 4);
  return Buffer.concat([h, b]);
}

export const textClient = (port: number, host?: string) => streamClient({ port, host }, splitLines);

/** One UDP request, one reply. */
export function udpRequest(port: number, msg: string, host = '127.0.0.1', timeoutMs = 3000): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const s = createSocket(host.includes(':') ? 'udp6' : 'udp4');
    const timer = setTimeout(() => { s.close(); reject(new Error('no UDP reply')); }, timeoutMs);
    s.on('message', (m) => { clearTimeout(timer); s.close(); resolve(m); });
    s.send(msg, port, host);
  });
}
