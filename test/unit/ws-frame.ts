// buildFrame() makes the same bytes ws's own Sender makes for an unmasked, uncompressed,
// final frame, at every length encoding (7-bit, 16-bit, 64-bit).
import t from 'tap';
import * as wsModule from 'ws';
import { buildFrame } from '../../src/core/websocket';

interface FrameOptions { fin: boolean; opcode: number; mask: boolean; readOnly: boolean; rsv1: boolean }
// ws exports its Sender at run time (index.js), not in its type declarations.
const frame = (wsModule as unknown as { Sender: { frame(data: Buffer, o: FrameOptions): Buffer[] } }).Sender.frame;

t.test('buildFrame matches ws', async (t) => {
  for (const n of [0, 1, 125, 126, 127, 65535, 65536, 70000]) {
    const payload = Buffer.alloc(n, n % 251);
    for (const text of [true, false]) {
      const ws = Buffer.concat(frame(payload, { fin: true, opcode: text ? 1 : 2, mask: false, readOnly: false, rsv1: false }));
      t.ok(buildFrame(payload, text).equals(ws), `${n} bytes, ${text ? 'text' : 'binary'}`);
    }
  }
});
