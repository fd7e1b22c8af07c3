// Workerman's two manual examples as custom protocols, loaded from handlers/protocols: JsonNL
// (one JSON document per line) and a 4-byte big-endian length + JSON body. The shipped
// example files are copied into the sandbox, so what ships is what is tested.
import t from 'tap';
import type { Socket } from 'node:net';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { freePort, ROOT, sandbox, startDaemon, statusJson } from '../helpers/loom';
import { splitFrames, splitLines, streamClient, type StreamClient } from '../helpers/clients';

const shipped = (rel: string) => readFileSync(join(ROOT, 'handlers', rel), 'utf8');

async function writeBytewise(socket: Socket, data: Buffer): Promise<void> {
  socket.setNoDelay(true);
  for (let i = 0; i < data.length; i++) {
    await new Promise<void>((resolve, reject) => {
      socket.write(data.subarray(i, i + 1), (err) => (err ? reject(err) : setImmediate(resolve)));
    });
  }
}

async function writeInPieces(socket: Socket, data: Buffer, cuts: number[]): Promise<void> {
  let from = 0;
  for (const to of [...cuts, data.length]) {
    await new Promise<void>((resolve) => socket.write(data.subarray(from, to), () => setImmediate(resolve)));
    from = to;
  }
}

async function nextJson(c: StreamClient, n: number): Promise<unknown[]> {
  const out: unknown[] = [];
  for (let i = 0; i < n; i++) out.push(JSON.parse((await c.messages.next()).toString()));
  return out;
}

function lenJson(value: unknown): Buffer {
  const body = Buffer.from(JSON.stringify(value));
  const head = Buffer.alloc(4);
  head.writeUInt32BE(body.length + 4);
  return Buffer.concat([head, body]);
}
const jsonLine = (value: unknown) => Buffer.from(`${JSON.stringify(value)}\n`);
const echoed = (got: unknown) => ({ type: 'echo', got });

t.test('custom protocols from handlers/protocols', async (t) => {
  const [nlPort, lenPort] = [await freePort(), await freePort()];
  const sb = sandbox({
    groups: `[jsonnl]\nlisten = jsonnl://127.0.0.1:${nlPort}\ncount = 1\nhandler = json-echo.js\n\n`
      + `[lenjson]\nlisten = lenjson://127.0.0.1:${lenPort}\ncount = 1\nhandler = json-echo.js\n`,
    files: {
      'json-echo.js': shipped('json-echo.js'),
      'protocols/jsonnl.js': shipped('protocols/jsonnl.js'),
      'protocols/lenjson.js': shipped('protocols/lenjson.js'),
    },
  });
  await startDaemon(t, sb);
  const clients: StreamClient[] = [];
  t.teardown(() => { for (const c of clients) c.socket.destroy(); });
  const nl = async () => { const c = await streamClient({ port: nlPort }, splitLines); clients.push(c); return c; };
  const len = async () => { const c = await streamClient({ port: lenPort }, splitFrames); clients.push(c); return c; };

  const doc = { id: 1, text: 'héllo ✓', nested: { list: [1, 2, 3], ok: true } };

  t.test('JsonNL: round trip', async (t) => {
    const c = await nl();
    c.write(jsonLine(doc));
    t.same(await nextJson(c, 1), [echoed(doc)]);
  });

  t.test('JsonNL: a document arriving one byte at a time', async (t) => {
    const c = await nl();
    await writeBytewise(c.socket, Buffer.concat([jsonLine(doc), jsonLine('second')]));
    t.same(await nextJson(c, 2), [echoed(doc), echoed('second')]);
  });

  t.test('JsonNL: 500 documents in one write, answered in order', async (t) => {
    const c = await nl();
    const docs = Array.from({ length: 500 }, (_, i) => ({ i, pad: 'p'.repeat(i % 40) }));
    c.write(Buffer.concat(docs.map(jsonLine)));
    t.same(await nextJson(c, 500), docs.map(echoed));
  });

  t.test('JsonNL: a document split mid-way, its tail coalesced with the next', async (t) => {
    const c = await nl();
    const wire = Buffer.concat([jsonLine({ a: 'first' }), jsonLine({ b: 'second' }), jsonLine({ c: 'third' })]);
    await writeInPieces(c.socket, wire, [5, 22]);
    t.same(await nextJson(c, 3), [echoed({ a: 'first' }), echoed({ b: 'second' }), echoed({ c: 'third' })]);
  });

  t.test('length+JSON: round trip', async (t) => {
    const c = await len();
    c.write(lenJson(doc));
    t.same(await nextJson(c, 1), [echoed(doc)]);
  });

  t.test('length+JSON: packets arriving one byte at a time (header split too)', async (t) => {
    const c = await len();
    await writeBytewise(c.socket, Buffer.concat([lenJson(doc), lenJson({ multi: 'line\nbody' })]));
    t.same(await nextJson(c, 2), [echoed(doc), echoed({ multi: 'line\nbody' })]);
  });

  t.test('length+JSON: 500 packets in one write, answered in order', async (t) => {
    const c = await len();
    const docs = Array.from({ length: 500 }, (_, i) => ({ i, pad: 'q'.repeat(i % 70) }));
    c.write(Buffer.concat(docs.map(lenJson)));
    t.same(await nextJson(c, 500), docs.map(echoed));
  });

  t.test('length+JSON: header and body split at odd places, tails coalesced', async (t) => {
    const c = await len();
    const wire = Buffer.concat([lenJson({ a: 1 }), lenJson({ b: [2, 2] }), lenJson({ c: 'three' })]);
    // Cut inside the first header, inside the first body, and inside the second header.
    await writeInPieces(c.socket, wire, [2, 9, 17, 20]);
    t.same(await nextJson(c, 3), [echoed({ a: 1 }), echoed({ b: [2, 2] }), echoed({ c: 'three' })]);
  });

  t.test('status: requests counted, no bad packets, no handler errors', async (t) => {
    const st = await statusJson(sb);
    const nlProc = st.processes.find((p) => p.group === 'jsonnl');
    const lenProc = st.processes.find((p) => p.group === 'lenjson');
    t.equal(nlProc?.totalRequests, 1 + 2 + 500 + 3);
    t.equal(lenProc?.totalRequests, 1 + 2 + 500 + 3);
    t.equal(st.processes.reduce((n, p) => n + p.badPackets + p.handlerErrors, 0), 0);
  });
});
