// Round trips through the real daemon for every built-in protocol and transport: tcp (raw),
// text, frame, udp, unix:// (raw), text+unix://, frame+unix://, and text on IPv6 [::1].
// Framing must hold for any split: one byte per write, and many packets in one write.
import t from 'tap';
import { createServer, type Socket } from 'node:net';
import { readFileSync, writeFileSync } from 'node:fs';
import { freePort, sandbox, startDaemon, statusJson } from '../helpers/loom';
import { frame, splitFrames, splitLines, splitRaw, streamClient, udpRequest, type StreamClient } from '../helpers/clients';

/** Writes one byte per write, each handed to the kernel before the next, so they travel as separate segments. */
async function writeBytewise(socket: Socket, data: Buffer): Promise<void> {
  socket.setNoDelay(true);
  for (let i = 0; i < data.length; i++) {
    await new Promise<void>((resolve, reject) => {
      socket.write(data.subarray(i, i + 1), (err) => (err ? reject(err) : setImmediate(resolve)));
    });
  }
}

/** Reads raw chunks until exactly n bytes arrived. */
async function readBytes(c: StreamClient, n: number): Promise<Buffer> {
  const parts: Buffer[] = [];
  let len = 0;
  while (len < n) {
    const m = await c.messages.next();
    parts.push(m);
    len += m.length;
  }
  return Buffer.concat(parts);
}

async function nextMessages(c: StreamClient, n: number): Promise<string[]> {
  const out: string[] = [];
  for (let i = 0; i < n; i++) out.push((await c.messages.next()).toString());
  return out;
}

function canBind(host: string): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createServer();
    s.once('error', () => resolve(false));
    s.listen(0, host, () => s.close(() => resolve(true)));
  });
}

/** Every byte value plus newlines and CRs: nothing in a frame body may be taken as a delimiter. */
const BINARY = Buffer.concat([Buffer.from('line one\nline two\r\n\n'), Buffer.from(Array.from({ length: 256 }, (_, i) => i)), Buffer.from('\n\0\r')]);

t.test('built-in protocols round trip through the real daemon', async (t) => {
  const [tcpPort, textPort, framePort, udpPort] = [await freePort(), await freePort(), await freePort(), await freePort()];
  const v6 = await canBind('::1');
  const v6Port = v6 ? await freePort('::1') : 0;
  const echo = `module.exports = { onMessage(c, d) { c.send(d); } };\n`;
  const group = (name: string, listen: string) => `[${name}]\nlisten = ${listen}\ncount = 1\nhandler = echo.js\n`;
  const sb = sandbox({
    groups: [
      group('raw', `tcp://127.0.0.1:${tcpPort}`),
      group('text', `text://127.0.0.1:${textPort}`),
      group('frame', `frame://127.0.0.1:${framePort}`),
      group('udp', `udp://127.0.0.1:${udpPort}`),
      group('rawunix', 'unix://@DIR@/r.sock'),
      group('textunix', 'text+unix://@DIR@/t.sock'),
      group('frameunix', 'frame+unix://@DIR@/f.sock'),
      v6 ? group('text6', `text://[::1]:${v6Port}`) : '',
    ].join('\n'),
    files: { 'echo.js': echo },
  });
  // Unix socket paths live in the sandbox, known only once it exists.
  writeFileSync(sb.config, readFileSync(sb.config, 'utf8').replaceAll('@DIR@', sb.dir));
  const sock = (name: string) => `${sb.dir}/${name}`;
  t.ok(Buffer.byteLength(sock('f.sock')) < 100, 'unix socket paths are short');
  await startDaemon(t, sb);

  const clients: StreamClient[] = [];
  t.teardown(() => { for (const c of clients) c.socket.destroy(); });
  const open = async (target: { port: number; host?: string } | { path: string }, split: (b: Buffer) => [Buffer[], Buffer]) => {
    const c = await streamClient(target, split);
    clients.push(c);
    return c;
  };

  t.test('tcp (raw): bytes come back as sent', async (t) => {
    const c = await open({ port: tcpPort }, splitRaw);
    c.write('hello raw');
    t.equal((await readBytes(c, 9)).toString(), 'hello raw');
    const big = Buffer.alloc(300_000, BINARY);
    c.write(big);
    t.ok((await readBytes(c, big.length)).equals(big), '300 kB of binary echoed intact');
  });

  t.test('unix:// (raw): bytes come back as sent', async (t) => {
    const c = await open({ path: sock('r.sock') }, splitRaw);
    c.write(BINARY);
    t.ok((await readBytes(c, BINARY.length)).equals(BINARY));
  });

  t.test('udp: one datagram, one reply', async (t) => {
    t.equal((await udpRequest(udpPort, 'ping')).toString(), 'ping');
    const replies = await Promise.all(Array.from({ length: 20 }, (_, i) => udpRequest(udpPort, `dgram ${i}`)));
    t.same(replies.map(String), Array.from({ length: 20 }, (_, i) => `dgram ${i}`));
  });

  const textCases = (label: string, target: () => { port: number; host?: string } | { path: string }) => {
    t.test(`${label}: lines, \\r\\n, utf-8`, async (t) => {
      const c = await open(target(), splitLines);
      c.write('hello\nworld\r\nhéllo ✓\n');
      t.same(await nextMessages(c, 3), ['hello', 'world', 'héllo ✓']);
    });
    t.test(`${label}: a line arriving one byte at a time`, async (t) => {
      const c = await open(target(), splitLines);
      await writeBytewise(c.socket, Buffer.from('one byte ✓ at a time\r\nsecond\n'));
      t.same(await nextMessages(c, 2), ['one byte ✓ at a time', 'second']);
    });
    t.test(`${label}: 1000 lines in one write, answered in order`, async (t) => {
      const c = await open(target(), splitLines);
      const lines = Array.from({ length: 1000 }, (_, i) => `line ${i} ${'x'.repeat(i % 50)}`);
      c.write(lines.map((l) => `${l}\n`).join(''));
      t.same(await nextMessages(c, 1000), lines);
    });
  };
  textCases('text', () => ({ port: textPort }));
  textCases('text+unix://', () => ({ path: sock('t.sock') }));

  const frameCases = (label: string, target: () => { port: number; host?: string } | { path: string }) => {
    t.test(`${label}: binary body with newlines, and an empty body`, async (t) => {
      const c = await open(target(), splitFrames);
      c.write(Buffer.concat([frame(BINARY), frame(Buffer.alloc(0)), frame('after empty')]));
      t.ok((await c.messages.next()).equals(BINARY), 'binary body intact');
      t.equal((await c.messages.next()).length, 0, 'empty body');
      t.equal((await c.messages.next()).toString(), 'after empty');
    });
    t.test(`${label}: frames arriving one byte at a time`, async (t) => {
      const c = await open(target(), splitFrames);
      await writeBytewise(c.socket, Buffer.concat([frame('byte\nby\nbyte'), frame(BINARY.subarray(0, 40))]));
      t.equal((await c.messages.next()).toString(), 'byte\nby\nbyte');
      t.ok((await c.messages.next()).equals(BINARY.subarray(0, 40)));
    });
    t.test(`${label}: 1000 frames in one write, answered in order`, async (t) => {
      const c = await open(target(), splitFrames);
      const bodies = Array.from({ length: 1000 }, (_, i) => Buffer.concat([Buffer.from(`#${i}\n`), BINARY.subarray(0, i % 300)]));
      c.write(Buffer.concat(bodies.map((b) => frame(b))));
      let inOrder = 0;
      for (const b of bodies) if ((await c.messages.next()).equals(b)) inOrder++;
      t.equal(inOrder, 1000, 'every frame came back, in order');
    });
    t.test(`${label}: a frame split across writes at every awkward place`, async (t) => {
      const c = await open(target(), splitFrames);
      const wire = Buffer.concat([frame('first'), frame('second\n'), frame('third')]);
      // Header split after 1, 2 and 3 bytes, then the tail of one frame coalesced with the next.
      for (const [a, b] of [[0, 1], [1, 3], [3, 6], [6, 20], [20, wire.length]]) {
        await new Promise<void>((resolve) => c.socket.write(wire.subarray(a, b), () => setImmediate(resolve)));
      }
      t.same(await nextMessages(c, 3), ['first', 'second\n', 'third']);
    });
  };
  frameCases('frame', () => ({ port: framePort }));
  frameCases('frame+unix://', () => ({ path: sock('f.sock') }));

  t.test('text on IPv6 [::1]', { skip: v6 ? false : '::1 is not bindable on this machine' }, async (t) => {
    const c = await open({ port: v6Port, host: '::1' }, splitLines);
    t.equal(c.socket.remoteAddress, '::1');
    c.write('over v6\n');
    t.equal((await c.messages.next()).toString(), 'over v6');
    await writeBytewise(c.socket, Buffer.from('bytewise v6\n'));
    t.equal((await c.messages.next()).toString(), 'bytewise v6');
  });

  t.test('status counts the requests and no bad packets', async (t) => {
    const st = await statusJson(sb);
    t.equal(st.processes.reduce((n, p) => n + p.badPackets, 0), 0, 'no bad packets');
    t.equal(st.processes.reduce((n, p) => n + p.handlerErrors, 0), 0, 'no handler errors');
    const text = st.processes.find((p) => p.group === 'text');
    t.ok(text && text.totalRequests >= 1005, 'text worker counted its requests');
  });
});
