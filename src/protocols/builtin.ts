import type { ProtocolModule } from '../types/handler.js';

const LF = 0x0a;
const CR = 0x0d;

/** Newline-delimited text; `\r\n` tolerated. Messages are strings without the line end. */
export const text: ProtocolModule = {
  input(buf) {
    const i = buf.indexOf(LF);
    return i < 0 ? 0 : i + 1;
  },
  decode(buf) {
    let end = buf.length - 1;
    if (end > 0 && buf[end - 1] === CR) end--;
    return buf.toString('utf8', 0, end);
  },
  encode(data) {
    if (Buffer.isBuffer(data)) return Buffer.concat([data, Buffer.from('\n')]);
    return `${String(data)}\n`;
  },
};

/** 4-byte big-endian length (header included), then the body. Messages are Buffers. */
export const frame: ProtocolModule = {
  input(buf) {
    if (buf.length < 4) return 0;
    const n = buf.readUInt32BE(0);
    return n < 4 ? -1 : n;
  },
  decode(buf) {
    return buf.subarray(4);
  },
  encode(data) {
    const body = Buffer.isBuffer(data) ? data : Buffer.from(String(data));
    const out = Buffer.allocUnsafe(body.length + 4);
    out.writeUInt32BE(body.length + 4, 0);
    body.copy(out, 4);
    return out;
  },
};

/** Raw stream: each chunk read is one message, a Buffer. */
export const tcp: ProtocolModule = {
  input(buf) {
    return buf.length;
  },
  decode(buf) {
    return buf;
  },
  encode(data) {
    return Buffer.isBuffer(data) ? data : String(data);
  },
};

export const BUILTIN: Record<string, ProtocolModule> = { text, frame, tcp };
