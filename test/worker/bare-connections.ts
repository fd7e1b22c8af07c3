// Accepted text/frame/tcp connections on plain TCP live on the runtime's bare handle
// (core/stream-connection.ts): replies are written to the handle, the replies to one read in one
// write, and a Socket is made only when the kernel stops taking bytes. Batches, flow control,
// a slow reader and a close in the middle of a batch must behave as on a Socket.
import t from 'tap';
import { askControl, freePort, sandbox, startDaemon, waitFor, type Sandbox } from '../helpers/loom';
import { textClient } from '../helpers/clients';

const HANDLER = `
const events = new Map();
const log = (c, e) => { if (!events.has(c.remotePort)) events.set(c.remotePort, []); events.get(c.remotePort).push(e); };
module.exports = {
  onBufferFull(c) { log(c, 'full'); },
  onBufferDrain(c) { log(c, 'drain'); },
  onMessage(c, d) {
    if (d.startsWith('events ')) return c.send(JSON.stringify(events.get(Number(d.slice(7))) ?? []));
    if (d === 'pause-self') { c.pauseRecv(); setTimeout(() => c.resumeRecv(), 100); return c.send('paused'); }
    if (d === 'quit') return c.close('bye');
    if (d === 'big') return log(c, 'big:' + c.send('y'.repeat(8 << 20)));
    if (d.startsWith('push ')) {
      const [, port, text] = d.split(' ');
      const to = [...c.worker.connections.values()].find((x) => x.remotePort === Number(port));
      return c.send(String(to ? to.send(text) : 'none'));
    }
    if (d === 'flood') {
      // 16 MB in 64 KB lines to a client that is not reading: past the kernel's buffers, the send buffer fills.
      const line = 'x'.repeat(65535);
      let results = [];
      for (let i = 0; i < 256; i++) results.push(c.send(line));
      return log(c, 'results:' + results.map((r) => r === true ? 't' : r === null ? 'n' : 'f').join(''));
    }
    c.send(d);
  },
};`;

interface Row { remote: string; parked?: boolean }

async function parkedRow(sb: Sandbox, port: number): Promise<boolean | undefined> {
  const rows = (await askControl(sb, 'connections')) as Row[];
  return rows.find((r) => r.remote === `127.0.0.1:${port}`)?.parked;
}

t.test('connections on the bare handle', async (t) => {
  const port = await freePort();
  const sb = sandbox({
    groups: `[bare]\nlisten = text://127.0.0.1:${port}\nhandler = bare.js\nmax_send_buffer_size = 1048576\n`,
    global: 'watch = false',
    files: { 'bare.js': HANDLER },
  });
  await startDaemon(t, sb);

  // Echo: replies go out without a Socket.
  const a = await textClient(port);
  t.teardown(() => a.socket.destroy());
  a.write('one\n');
  t.equal((await a.messages.next()).toString(), 'one');
  t.equal(await parkedRow(sb, a.socket.localPort!), true, 'after an exchange, still on the bare handle');

  // 300 lines in one write: 300 replies, in order.
  a.write(Array.from({ length: 300 }, (_, i) => `line ${i}\n`).join(''));
  const got: string[] = [];
  for (let i = 0; i < 300; i++) got.push((await a.messages.next()).toString());
  t.same(got, Array.from({ length: 300 }, (_, i) => `line ${i}`), 'a pipelined batch is answered in order');

  // The handler pauses in the middle of a batch: the rest waits, then comes in order.
  a.write('before\npause-self\nafter 1\nafter 2\n');
  t.same([(await a.messages.next()).toString(), (await a.messages.next()).toString()], ['before', 'paused']);
  t.same([(await a.messages.next()).toString(), (await a.messages.next()).toString()], ['after 1', 'after 2'], 'the lines after a pause, once resumed');

  // close(data) in the middle of a batch: what came before is answered, then 'bye', then the end;
  // nothing after it is read.
  const b = await textClient(port);
  b.write('first\nquit\nignored\n');
  await b.closed;
  const all: string[] = [];
  while (b.messages.length) all.push((await b.messages.next()).toString());
  t.same(all, ['first', 'bye'], 'close(data) inside a batch: the replies before it, then its data, then FIN');

  // A slow reader: the kernel stops taking bytes, the send buffer fills (onBufferFull), and
  // once the client reads everything arrives, in order, and onBufferDrain runs.
  const c = await textClient(port);
  t.teardown(() => c.socket.destroy());
  c.socket.pause();
  c.write('flood\n');
  const full = await waitFor(async () => {
    const rows = (await askControl(sb, 'connections')) as (Row & { sendQueue: number })[];
    const r = rows.find((x) => x.remote === `127.0.0.1:${c.socket.localPort}`);
    return r && r.sendQueue > 0 ? r : null;
  }, 'bytes queued for the slow reader');
  t.notOk(full.parked, 'a connection whose writes queue has a Socket');
  // What send() said to each line (refused ones are dropped), asked from another connection.
  const ask = await textClient(port);
  t.teardown(() => ask.socket.destroy());
  const events = async (p = c.socket.localPort!) => { ask.write(`events ${p}\n`); return JSON.parse((await ask.messages.next()).toString()) as string[]; };
  const results = await waitFor(async () => (await events()).find((e) => e.startsWith('results:')), 'the flood to be sent');
  t.match(results, /^results:t+n*f+$/, 'send() was true, then null once past the limit, then false (refused) while full');
  const accepted = results.slice('results:'.length).replace(/f/g, '').length;
  c.socket.resume();
  let whole = 0;
  for (let i = 0; i < accepted; i++) if ((await c.messages.next()).length === 65535) whole++;
  t.equal(whole, accepted, `every accepted line arrives whole (${accepted} of 256)`);
  t.same(await waitFor(async () => { const e = (await events()).filter((x) => !x.startsWith('results')); return e.includes('drain') ? e : null; }, 'onBufferDrain'), ['full', 'drain'], 'onBufferFull, then onBufferDrain');
  c.write('still here\n');
  t.equal((await c.messages.next()).toString(), 'still here', 'and the connection goes on');

  // One 8 MB reply the kernel cannot take at once (libuv holds the rest), to a client that
  // is not reading and has already sent its FIN: all of it arrives before the end.
  const d = await textClient(port);
  t.teardown(() => d.socket.destroy());
  d.socket.pause();
  d.socket.end('big\n');
  await waitFor(async () => (await events(d.socket.localPort!)).find((e) => e.startsWith('big:')), 'the big reply to be sent');
  d.socket.resume();
  t.equal((await d.messages.next()).length, 8 << 20, 'the whole reply arrives after the peer\'s FIN');
  await d.closed;
  t.pass('then the connection ends');

  // Unparsed bytes survive the move to a Socket: half a line arrives, a push finds a write
  // still held by libuv (the connection takes a Socket; the push is refused, the buffer being
  // full), the client reads everything, then sends the rest of the line.
  const f = await textClient(port);
  t.teardown(() => f.socket.destroy());
  f.socket.pause();
  f.write('big\n');
  await waitFor(async () => (await events(f.socket.localPort!)).find((e) => e.startsWith('big:')), 'the big reply to be sent');
  f.write('hel');
  await waitFor(async () => ((await askControl(sb, 'connections')) as (Row & { bytesIn: number })[]).find((r) => r.remote === `127.0.0.1:${f.socket.localPort}` && r.bytesIn === 7), 'the half line to be read');
  ask.write(`push ${f.socket.localPort} pushed\n`);
  t.equal((await ask.messages.next()).toString(), 'false', 'a push while libuv holds more than max_send_buffer_size: refused');
  t.notOk(await parkedRow(sb, f.socket.localPort!), 'the connection took a Socket');
  f.socket.resume();
  t.equal((await f.messages.next()).length, 8 << 20, 'the big reply arrives');
  await waitFor(async () => (await events(f.socket.localPort!)).includes('drain'), 'onBufferDrain');
  f.write('lo\n');
  t.equal((await f.messages.next()).toString(), 'hello', 'the half line read before the move is not lost');
});
