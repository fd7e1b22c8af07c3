// Bad inbound packets close only the connection that sent them: oversize text lines, frames
// claiming too big or too small a length, and a custom protocol whose input() returns -1 or
// throws. The worker (count = 1, so every connection shares it) keeps serving the others,
// keeps its pid, and status counts each bad packet.
import t from 'tap';
import { freePort, sandbox, startDaemon, statusJson, waitFor, type Sandbox } from '../helpers/loom';
import { frame, splitFrames, splitLines, streamClient, type StreamClient } from '../helpers/clients';

type Split = (buf: Buffer) => [Buffer[], Buffer];

interface BadCase {
  name: string;
  /** Written in this order, each piece flushed before the next. */
  pieces: Buffer[];
}

function header(length: number): Buffer {
  const h = Buffer.alloc(4);
  h.writeUInt32BE(length);
  return h;
}

function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => { timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what}`)), ms); });
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}

const BAD_PROTOCOL = `// Lines; "BAD" is rejected by input() returning -1, "THROW" makes input() throw,
// "UNDECODABLE" makes decode() throw.
module.exports = {
  input(buffer) {
    const i = buffer.indexOf(10);
    if (i < 0) return 0;
    const line = buffer.toString('utf8', 0, i);
    if (line === 'BAD') return -1;
    if (line === 'THROW') throw new Error('input exploded');
    return i + 1;
  },
  decode(buffer) {
    const line = buffer.toString('utf8', 0, buffer.length - 1);
    if (line === 'UNDECODABLE') throw new Error('decode exploded');
    return line;
  },
  encode(data) {
    return String(data) + '\\n';
  },
};
`;

t.test('bad packets close only their own connection', async (t) => {
  const [textPort, framePort, customPort] = [await freePort(), await freePort(), await freePort()];
  const sb = sandbox({
    groups: `[text]\nlisten = text://127.0.0.1:${textPort}\ncount = 1\nhandler = echo.js\nmax_package_size = 64\n\n`
      + `[frame]\nlisten = frame://127.0.0.1:${framePort}\ncount = 1\nhandler = echo.js\nmax_package_size = 64\n\n`
      + `[custom]\nlisten = badproto://127.0.0.1:${customPort}\ncount = 1\nhandler = echo.js\n`,
    files: {
      'echo.js': `module.exports = { onMessage(c, d) { c.send(Buffer.isBuffer(d) ? Buffer.concat([Buffer.from('echo:'), d]) : 'echo:' + d); } };\n`,
      'protocols/badproto.js': BAD_PROTOCOL,
    },
  });
  await startDaemon(t, sb);
  const clients: StreamClient[] = [];
  t.teardown(() => { for (const c of clients) c.socket.destroy(); });

  const run = (group: string, port: number, split: Split, ping: Buffer, pong: string, bads: BadCase[], sbx: Sandbox) => t.test(group, async (t) => {
    const open = async () => { const c = await streamClient({ port }, split); clients.push(c); return c; };
    const roundTrip = async (c: StreamClient, what: string) => {
      c.write(ping);
      t.equal((await c.messages.next()).toString(), pong, what);
    };
    const good = await open();
    await roundTrip(good, 'a good connection is served');
    const before = (await statusJson(sbx)).processes.find((p) => p.group === group);
    t.ok(before, `status lists the ${group} worker`);

    for (const bad of bads) {
      const c = await open();
      for (const piece of bad.pieces) {
        if (c.socket.destroyed) break;
        await new Promise<void>((resolve) => c.socket.write(piece, () => setImmediate(resolve)));
      }
      await within(c.closed, 5000, `the server to close the connection after ${bad.name}`);
      t.equal(c.messages.length, 0, `${bad.name}: closed without an answer`);
      await roundTrip(good, `${bad.name}: the other connection on the same worker still works`);
    }
    await roundTrip(await open(), 'a new connection is served');

    const status = await statusJson(sbx);
    const after = status.processes.find((p) => p.group === group);
    t.equal(after?.pid, before?.pid, 'the worker was not restarted');
    t.equal(after?.badPackets, bads.length, 'every bad packet is counted');
    t.equal(status.groups.find((g) => g.name === group)?.deaths, 0, 'no worker died');
  });

  await run('text', textPort, splitLines, Buffer.from('ping\n'), 'echo:ping', [
    { name: 'a 100-byte line without newline', pieces: [Buffer.alloc(100, 'a')] },
    { name: 'a 200-byte line with its newline in one write', pieces: [Buffer.from(`${'b'.repeat(200)}\n`)] },
    { name: 'a line growing over the limit across writes', pieces: [Buffer.alloc(40, 'c'), Buffer.alloc(40, 'c')] },
  ], sb);

  t.test('text: a line of exactly max_package_size bytes (newline included) is accepted', async (t) => {
    const c = await streamClient({ port: textPort }, splitLines);
    clients.push(c);
    c.write(`${'d'.repeat(63)}\n`);
    t.equal((await c.messages.next()).toString(), `echo:${'d'.repeat(63)}`);
  });

  await run('frame', framePort, splitFrames, frame('ping'), 'echo:ping', [
    { name: 'a frame header claiming 1000 bytes (only the header sent)', pieces: [header(1000)] },
    { name: 'a frame length of 2 (< 4)', pieces: [Buffer.concat([header(2), Buffer.from('zz')])] },
    { name: 'a frame length of 0', pieces: [header(0)] },
  ], sb);

  t.test('frame: a frame of exactly max_package_size bytes is accepted', async (t) => {
    const c = await streamClient({ port: framePort }, splitFrames);
    clients.push(c);
    c.write(frame(Buffer.alloc(60, 'e')));
    t.equal((await c.messages.next()).toString(), `echo:${'e'.repeat(60)}`);
  });

  await run('custom', customPort, splitLines, Buffer.from('ping\n'), 'echo:ping', [
    { name: 'input() returning -1', pieces: [Buffer.from('BAD\nping\n')] },
    { name: 'input() throwing', pieces: [Buffer.from('THROW\n')] },
    { name: 'decode() throwing', pieces: [Buffer.from('UNDECODABLE\n')] },
  ], sb);

  t.test('the log names each bad packet', async (t) => {
    const bad = sb.log().split('\n').filter((l) => l.includes('LOOM_ERR_BAD_PACKET'));
    t.equal(bad.length, 9, 'one LOOM_ERR_BAD_PACKET line per bad packet');
    t.match(sb.log(), /input exploded/, 'the exception from input() is logged');
  });

  t.test('a flood of bad packets is counted in full but logged in a few lines', async (t) => {
    const FLOOD = 200;
    const linesBefore = sb.log().split('\n').filter((l) => l.includes('LOOM_ERR_BAD_PACKET')).length;
    const countBefore = (await statusJson(sb)).processes.find((p) => p.group === 'text')!.badPackets;
    for (let i = 0; i < FLOOD; i += 20) {
      // 20 at a time: each writes an oversize line and is closed by the server.
      await Promise.all(Array.from({ length: 20 }, async () => {
        const c = await streamClient({ port: textPort }, splitLines);
        c.write(Buffer.alloc(100, 'x'));
        await within(c.closed, 5000, 'the server to close a flooding connection');
      }));
    }
    await waitFor(async () => (await statusJson(sb)).processes.find((p) => p.group === 'text')!.badPackets === countBefore + FLOOD, 'every flooded packet to be counted');
    const summary = await waitFor(() => sb.log().split('\n').find((l) => /LOOM_ERR_BAD_PACKET \d+ more bad packet\(s\) on text:\/\//.test(l)), 'a summary line');
    t.match(summary, /peer\(s\): 127\.0\.0\.1:\d+/, 'the summary names peers');
    const lines = sb.log().split('\n').filter((l) => l.includes('LOOM_ERR_BAD_PACKET')).length - linesBefore;
    t.ok(lines < FLOOD / 4, `${FLOOD} bad packets gave ${lines} log lines`);
  });
});
