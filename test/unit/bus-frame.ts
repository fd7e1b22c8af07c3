// The bus framing: round trips, any split of the stream, bodies as given, bad lengths refused.
import t from 'tap';
import { encodeFrame, FrameReader, jsonHead } from '../../src/bus/frame';

t.test('frames round trip, however the stream is cut', async (t) => {
  const frames = [
    encodeFrame(1, { c: 'a1', seq: 1 }, 'hello'),
    encodeFrame(2, null),
    encodeFrame(3, { to: ['x', 'y'] }, Buffer.from([0, 1, 2, 255])),
    encodeFrame(4, { big: 'é'.repeat(1000) }, Buffer.alloc(70000, 7)),
  ];
  const bytes = Buffer.concat(frames.flat());
  for (const step of [1, 3, 7, 100, bytes.length]) {
    const reader = new FrameReader();
    const got = [];
    for (let i = 0; i < bytes.length; i += step) got.push(...reader.push(bytes.subarray(i, i + step)));
    t.equal(got.length, 4, `cut every ${step} bytes`);
    t.same(got.map((f) => f.op), [1, 2, 3, 4]);
    t.same(jsonHead(got[0]), { c: 'a1', seq: 1 });
    t.equal(got[0].body.toString(), 'hello');
    t.equal(jsonHead(got[1]), null);
    t.equal(got[1].body.length, 0);
    t.same([...got[2].body], [0, 1, 2, 255]);
    t.equal(jsonHead<{ big: string }>(got[3]).big.length, 1000);
    t.equal(got[3].body.length, 70000);
  }
});

t.test('a Buffer head goes as it is', async (t) => {
  const [f] = new FrameReader().push(Buffer.concat(encodeFrame(7, Buffer.from([1, 2, 3]), 'x')));
  t.same([...f.head], [1, 2, 3]);
  t.equal(f.body.toString(), 'x');
});

t.test('the body is not copied into the frame parts', async (t) => {
  const body = Buffer.from('payload');
  const parts = encodeFrame(9, { x: 1 }, body);
  t.equal(parts[1], body);
});

t.test('a malformed stream throws', async (t) => {
  const bad = Buffer.alloc(8);
  bad.writeUInt32BE(2, 0);
  t.throws(() => new FrameReader().push(bad), /bad bus frame length 2/);
  const headTooLong = Buffer.from([0, 0, 0, 5, 1, 0, 0, 0, 99]);
  t.throws(() => new FrameReader().push(headTooLong), /head length/);
});
