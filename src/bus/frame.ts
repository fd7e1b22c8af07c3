// The bus's framing: each frame is a 4-byte big-endian length (of what follows), a 1-byte
// operation, a 4-byte length of a head, the head, then a raw body (message bytes are never
// re-encoded). A head is JSON, or bytes its user encoded (the hot operations of the gateway
// protocol); the bus does not look inside. Pure functions over Buffers.

export interface Frame {
  op: number;
  /** The head's bytes (empty when none): JSON unless the operation says otherwise. */
  head: Buffer;
  /** Bytes after the head (empty when none). */
  body: Buffer;
}

/** A frame's head parsed as JSON (null when empty). */
export function jsonHead<T>(f: Frame): T {
  return (f.head.length === 0 ? null : JSON.parse(f.head.toString('utf8'))) as T;
}

/** A frame larger than this closes the link: bigger than any message Loom lets through. */
export const MAX_FRAME = 1024 * 1024 * 1024;
const PREFIX = 9;
const EMPTY = Buffer.alloc(0);

/** The bytes of one frame, as parts for one writev (the body is not copied); a Buffer head goes as is. */
export function encodeFrame(op: number, head: unknown, body?: Buffer | string): Buffer[] {
  const headBytes = head === null || head === undefined ? EMPTY : Buffer.isBuffer(head) ? head : Buffer.from(JSON.stringify(head));
  const bodyBytes = body === undefined ? EMPTY : typeof body === 'string' ? Buffer.from(body) : body;
  const prefix = Buffer.allocUnsafe(PREFIX + headBytes.length);
  prefix.writeUInt32BE(5 + headBytes.length + bodyBytes.length, 0);
  prefix.writeUInt8(op, 4);
  prefix.writeUInt32BE(headBytes.length, 5);
  headBytes.copy(prefix, PREFIX);
  return bodyBytes.length > 0 ? [prefix, bodyBytes] : [prefix];
}

/** Splits a byte stream into frames. */
export class FrameReader {
  private chunks: Buffer[] = [];
  private bytes = 0;

  /** Adds bytes; returns the frames now complete. Throws on a malformed stream. */
  push(chunk: Buffer): Frame[] {
    this.chunks.push(chunk);
    this.bytes += chunk.length;
    const frames: Frame[] = [];
    while (this.bytes >= 4) {
      const first = this.chunks[0].length >= 4 ? this.chunks[0] : this.flatten();
      const length = first.readUInt32BE(0);
      if (length < 5 || length > MAX_FRAME) throw new Error(`bad bus frame length ${length}`);
      if (this.bytes < 4 + length) break;
      const buf = this.chunks[0].length >= 4 + length ? this.chunks[0] : this.flatten();
      const frame = buf.subarray(4, 4 + length);
      const rest = buf.subarray(4 + length);
      this.chunks = rest.length > 0 ? [rest] : [];
      this.bytes -= 4 + length;
      frames.push(decodeFrame(frame));
    }
    return frames;
  }

  private flatten(): Buffer {
    const all = Buffer.concat(this.chunks, this.bytes);
    this.chunks = [all];
    return all;
  }
}

/** One frame's bytes after its length. */
function decodeFrame(b: Buffer): Frame {
  const op = b.readUInt8(0);
  const headLength = b.readUInt32BE(1);
  if (5 + headLength > b.length) throw new Error('bad bus frame head length');
  return { op, head: b.subarray(5, 5 + headLength), body: b.subarray(5 + headLength) };
}
