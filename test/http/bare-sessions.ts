// On plain TCP a lean HTTP connection is the runtime's bare handle, with no net.Socket
// (http/session.ts): what a Socket's stream did for it (queueing what the kernel does not take,
// the drain, FIN after the last answer, a reset under a queued write) is done on the handle.
// Raw clients that stop reading, half-close or vanish check each of those.
import t from 'tap';
import { connect, type Socket } from 'node:net';
import { askControl, freePort, sandbox, startDaemon, waitFor, type Sandbox } from '../helpers/loom';

const HANDLER = `
const { Readable } = require('node:stream');
module.exports = {
  onMessage(conn, req) {
    const n = Number(req.query.n ?? 0);
    if (req.path === '/big') return conn.send('x'.repeat(n));
    if (req.path === '/bigbuf') return conn.send(Buffer.alloc(n, 0x61));
    if (req.path === '/item') return conn.send('<' + req.query.i + '>' + 'y'.repeat(n));
    if (req.path === '/later') return new Promise((r) => setTimeout(() => { conn.send('later ' + req.query.i); r(); }, 20));
    if (req.path === '/stream') {
      let sent = 0;
      return conn.send({ body: new Readable({ read() { if (sent >= n) return this.push(null); sent += 65536; this.push(Buffer.alloc(65536, 0x62)); } }) });
    }
    conn.send('hello ' + req.path);
  },
};`;

interface Row { remote: string; sendQueue: number; bytesIn: number; bytesOut: number }

async function web(t: Parameters<typeof startDaemon>[0], env?: NodeJS.ProcessEnv): Promise<{ sb: Sandbox; port: number }> {
  const port = await freePort();
  const sb = sandbox({
    groups: `[web]\nlisten = http://127.0.0.1:${port}\ncount = 1\nhandler = h.js\nmax_package_size = 1048576\n`,
    global: 'watch = false',
    files: { 'h.js': HANDLER },
  });
  await startDaemon(t, sb, env);
  return { sb, port };
}

/** A raw client: what it got (latin1), whether it saw the server's FIN, and its socket. */
async function client(port: number): Promise<{ s: Socket; data: () => string; ended: Promise<void>; closed: Promise<void> }> {
  const s = connect(port, '127.0.0.1');
  await new Promise<void>((resolve, reject) => { s.once('connect', resolve); s.once('error', reject); });
  const parts: Buffer[] = [];
  let cached: string | null = null;
  s.on('data', (d: Buffer) => { parts.push(d); cached = null; });
  s.on('error', () => undefined);
  const ended = new Promise<void>((resolve) => s.once('end', () => resolve()));
  const closed = new Promise<void>((resolve) => s.once('close', () => resolve()));
  return { s, data: () => (cached ??= Buffer.concat(parts).toString('latin1')), ended, closed };
}

async function row(sb: Sandbox, port: number): Promise<Row | undefined> {
  return ((await askControl(sb, 'connections')) as Row[]).find((r) => r.remote === `127.0.0.1:${port}`);
}

/** Until the connection from port has answer bytes the kernel did not take (its send queue). */
function heldBack(sb: Sandbox, port: number, what: string): Promise<true> {
  return waitFor(async () => ((await row(sb, port))?.sendQueue ?? 0) > 0 ? true : null, what);
}

const count = (data: string, what: RegExp) => (data.match(what) ?? []).length;
/** What follows the first answer's head. */
const bodyOf = (data: string) => { const i = data.indexOf('\r\n\r\n'); return i < 0 ? '' : data.slice(i + 4); };

// The same on net.Socket, as on a runtime without the binding that bare handles need.
for (const [name, env] of [['bare handles', undefined], ['net.Socket (LOOM_BARE_HANDLES=off)', { LOOM_BARE_HANDLES: 'off' }]] as const) {
  t.test(`lean HTTP connections on ${name}: slow readers, streamed bodies, half-close, resets`, async (t) => {
    const { sb, port } = await web(t, env);

    // A reader that stops: the answer waits in libuv (the send queue shows it); resumed, every
    // byte arrives and the connection serves on.
    const a = await client(port);
    t.teardown(() => a.s.destroy());
    a.s.pause();
    a.s.write('GET /big?n=8000000 HTTP/1.1\r\nHost: x\r\n\r\n');
    const held = await waitFor(async () => { const r = await row(sb, a.s.localPort!); return r && r.sendQueue > 0 ? r : null; }, 'the answer to be held back');
    t.ok(held.sendQueue > 0, `held back for a reader that does not read (${held.sendQueue} bytes queued)`);
    a.s.resume();
    await waitFor(() => (bodyOf(a.data()).length === 8_000_000 ? true : null), 'the whole 8 MB answer');
    t.equal(count(bodyOf(a.data()), /x/g), 8_000_000, 'every byte of it');
    a.s.write('GET /after HTTP/1.1\r\nHost: x\r\n\r\n');
    await waitFor(() => (a.data().endsWith('hello /after') ? true : null), 'the next answer');
    t.equal((await row(sb, a.s.localPort!))?.sendQueue, 0, 'nothing queued once it is read');

    // Pipelined requests whose answers pile up while the client does not read: the connection
    // stops reading them and takes them up again once the client reads; all answered, in order.
    const b = await client(port);
    t.teardown(() => b.s.destroy());
    b.s.pause();
    const N = 300;
    b.s.write(Array.from({ length: N }, (_, i) => (i % 50 === 7 ? `GET /later?i=${i} HTTP/1.1\r\nHost: x\r\n\r\n` : `GET /item?i=${i}&n=40000 HTTP/1.1\r\nHost: x\r\n\r\n`)).join(''));
    await heldBack(sb, b.s.localPort!, 'answers to be held back');
    b.s.resume();
    await waitFor(() => (count(b.data(), /HTTP\/1\.1 200/g) === N ? true : null), `${N} answers`, 30000);
    const order = [...b.data().matchAll(/(?:<(\d+)>|later (\d+))/g)].map((m) => Number(m[1] ?? m[2]));
    t.same(order, Array.from({ length: N }, (_, i) => i), `${N} pipelined answers, in order, after the reader caught up`);

    // A streamed body (Readable) to a paused reader: paused while the queue is full, then whole.
    const c = await client(port);
    t.teardown(() => c.s.destroy());
    c.s.pause();
    c.s.write('GET /stream?n=4194304 HTTP/1.1\r\nHost: x\r\n\r\n');
    await heldBack(sb, c.s.localPort!, 'the stream to be held back');
    c.s.resume();
    await waitFor(() => (c.data().endsWith('0\r\n\r\n') ? true : null), 'the end of the chunked body', 20000);
    t.equal(count(bodyOf(c.data()), /b/g), 4194304, 'every byte of the streamed body');

    // Half-close: the request, then the client's FIN; the answer still comes, then the server's FIN.
    const d = await client(port);
    d.s.end('GET /half HTTP/1.1\r\nHost: x\r\n\r\n');
    await d.ended;
    t.match(d.data(), /^HTTP\/1\.1 200 [^]*hello \/half$/, 'answered after the client half-closed, then ended');
    await d.closed;

    // A client that goes away while a big answer is held back: the connection is dropped, the
    // worker serves on.
    const e = await client(port);
    e.s.pause();
    e.s.write('GET /bigbuf?n=8000000 HTTP/1.1\r\nHost: x\r\n\r\n');
    const ePort = e.s.localPort!;
    await heldBack(sb, ePort, 'the big answer to be held back');
    e.s.resetAndDestroy();
    await waitFor(async () => ((await row(sb, ePort)) === undefined ? true : null), 'the reset connection to be unlisted');
    const f = await client(port);
    t.teardown(() => f.s.destroy());
    f.s.write('GET /still HTTP/1.1\r\nHost: x\r\n\r\n');
    await waitFor(() => (f.data().endsWith('hello /still') ? true : null), 'an answer after the reset');
    t.pass('the worker serves after a reset under a held write');

    // A Connection: close request with a stray byte after it in the same read (a parse error
    // once the answer is on its way): the whole answer still arrives, then the FIN.
    const h = await client(port);
    t.teardown(() => h.s.destroy());
    h.s.pause();
    h.s.write('GET /big?n=8000000 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\nX');
    await heldBack(sb, h.s.localPort!, 'the closing answer to be held back');
    h.s.resume();
    await h.ended;
    t.equal(bodyOf(h.data()).length, 8_000_000, 'a parse error behind a closing answer does not cut it off');

    // A first request answered later (not within its read), then more on the same connection.
    const g = await client(port);
    t.teardown(() => g.s.destroy());
    g.s.write('GET /later?i=1 HTTP/1.1\r\nHost: x\r\n\r\n');
    await waitFor(() => (g.data().endsWith('later 1') ? true : null), 'the late first answer');
    g.s.write('GET /two HTTP/1.1\r\nHo');
    await new Promise((r) => setTimeout(r, 30));
    g.s.write('st: x\r\n\r\n');
    await waitFor(() => (g.data().endsWith('hello /two') ? true : null), 'the second answer, its request split across reads');
    const listed = await row(sb, g.s.localPort!);
    t.ok(listed && listed.bytesIn > 60 && listed.bytesOut > 100, `listed with its bytes (${listed?.bytesIn} in, ${listed?.bytesOut} out)`);
  });
}

t.test('a slow reader of a closing connection gets its whole answer (lingering starts at the FIN)', async (t) => {
  // Both paths at once: the reader stalls for longer than the 5 s a closed connection lingers.
  const [bare, sock] = await Promise.all([web(t), web(t, { LOOM_BARE_HANDLES: 'off' })]);
  const both: [string, { sb: Sandbox; port: number }][] = [['bare handle', bare], ['net.Socket', sock]];
  await Promise.all(both.map(async ([name, { sb, port }]) => {
    const c = await client(port);
    t.teardown(() => c.s.destroy());
    c.s.pause();
    c.s.write('GET /big?n=8000000 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
    await heldBack(sb, c.s.localPort!, `${name}: the answer to be held back`);
    await new Promise((r) => setTimeout(r, 6500));
    c.s.resume();
    await c.ended;
    t.equal(bodyOf(c.data()).length, 8_000_000, `${name}: all of it after a 6.5 s stall`);
  }));
});
