// An idle accepted WebSocket is parked (http/websocket.ts): ws's objects and the Socket are
// let go and the runtime's handle is kept. Everything the handler API and the heartbeat do
// must work on a parked connection as on any other: this test parks connections, then uses them.
import t from 'tap';
import { connect, type Socket } from 'node:net';
import WebSocket from 'ws';
import { askControl, freePort, sandbox, startDaemon, waitFor, type Sandbox } from '../helpers/loom';

// The client that says "control" first acts on other connections, found by their remote port;
// every other connection echoes. Events are recorded per port.
const HANDLER = `
const events = new Map();
const log = (c, e) => { if (!events.has(c.remotePort)) events.set(c.remotePort, []); events.get(c.remotePort).push(e); };
let control = null;
module.exports = {
  onConnect(c) { log(c, 'connect'); },
  onError(c, err) { log(c, 'error:' + err.code); },
  onClose(c) { log(c, 'close'); },
  onBufferFull(c) { log(c, 'full'); },
  onBufferDrain(c) { log(c, 'drain'); },
  onMessage(c, d) {
    if (d === 'control') { control = c; return c.send('ok'); }
    if (c !== control) { log(c, 'message:' + String(d).length); return c.send(d); }
    const [cmd, port, arg] = d.split(' ');
    const conn = [...c.worker.connections.values()].find((x) => x.remotePort === Number(port));
    if (cmd === 'events') return c.send(JSON.stringify(events.get(Number(port)) ?? []));
    if (!conn) return c.send('none');
    if (cmd === 'send') return c.send(String(conn.send(arg === 'big' ? 'x'.repeat(20000) : arg)));
    if (cmd === 'json') return c.send(String(conn.send({ n: Number(arg) })));
    if (cmd === 'flood') {
      // 2 KB frames until one is not sent at once (the peer does not read).
      let n = 0, r = true;
      while (r === true && n < 20000) { r = conn.send('f'.repeat(2048)); n++; }
      return c.send(n + ' ' + r);
    }
    if (cmd === 'destroy-send') { conn.destroy(); return c.send(String(conn.send('b'.repeat(10000)))); }
    if (cmd === 'close') conn.close();
    if (cmd === 'destroy') conn.destroy();
    if (cmd === 'pause') conn.pauseRecv();
    if (cmd === 'resume') conn.resumeRecv();
    c.send('done');
  },
};`;

interface Row { remote: string; parked?: boolean; bytesIn: number; bytesOut: number }

function open(url: string): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url);
    ws.once('open', () => resolve(ws));
    ws.once('error', reject);
  });
}

/** Messages of a client, in order, as strings. */
function inbox(ws: WebSocket): () => Promise<string> {
  const queue: string[] = [];
  const waiting: ((s: string) => void)[] = [];
  ws.on('message', (d: Buffer) => {
    const s = d.toString();
    const w = waiting.shift();
    if (w) w(s);
    else queue.push(s);
  });
  return () => {
    const s = queue.shift();
    if (s !== undefined) return Promise.resolve(s);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('no message within 10 s')), 10000);
      waiting.push((m) => { clearTimeout(timer); resolve(m); });
    });
  };
}

const localPort = (ws: WebSocket) => (ws as unknown as { _socket: Socket })._socket.localPort!;

async function row(sb: Sandbox, port: number): Promise<Row | undefined> {
  const rows = (await askControl(sb, 'connections')) as Row[];
  return rows.find((r) => r.remote === `127.0.0.1:${port}`);
}

/** A daemon with one ws:// group; idle_timeout 1: the heartbeat pings every second, parked connections too. */
async function daemon(t: Parameters<typeof startDaemon>[0], extra = ''): Promise<{ sb: Sandbox; port: number }> {
  const port = await freePort();
  const sb = sandbox({
    groups: `[ws]\nlisten = websocket://127.0.0.1:${port}\nhandler = ws.js\nidle_timeout = 1\n${extra}`,
    global: 'watch = false',
    files: { 'ws.js': HANDLER },
  });
  await startDaemon(t, sb);
  return { sb, port };
}

const parked = (sb: Sandbox, port: number, what: string) => waitFor(async () => ((await row(sb, port))?.parked ? true : null), `${what} to be parked`);

t.test('parked WebSocket connections', async (t) => {
  const { sb, port } = await daemon(t);
  const url = `ws://127.0.0.1:${port}/`;
  const clients: WebSocket[] = [];
  t.teardown(() => { for (const c of clients) c.terminate(); });
  const client = async () => { const c = await open(url); clients.push(c); return { ws: c, next: inbox(c), port: localPort(c) }; };

  const ctl = await client();
  ctl.ws.send('control');
  t.equal(await ctl.next(), 'ok');
  const ask = async (line: string) => { ctl.ws.send(line); return ctl.next(); };
  const events = async (p: number) => JSON.parse(await ask(`events ${p}`)) as string[];

  const a = await client();
  await parked(sb, a.port, 'an idle connection');
  t.same(await events(a.port), ['connect'], 'parking is not an event');

  // The heartbeat reaches it and its pong keeps it parked.
  const pongsBefore = (await row(sb, a.port))!.bytesIn;
  await waitFor(async () => ((await row(sb, a.port))!.bytesIn >= pongsBefore + 6 ? true : null), 'a pong from the parked connection');
  t.equal((await row(sb, a.port))?.parked, true, 'a pong to the heartbeat leaves it parked');

  // Its first frame wakes it: echoed, and it parks again when idle.
  a.ws.send('hello after parking');
  t.equal(await a.next(), 'hello after parking', 'a parked connection echoes');
  await parked(sb, a.port, 'the connection, idle again,');

  // Sends to a parked connection: a small one goes out without waking it, a big one wakes it;
  // an object goes as its JSON text.
  t.equal(await ask(`send ${a.port} pushed`), 'true', 'send() to a parked connection returns true');
  t.equal(await a.next(), 'pushed', 'the small frame arrives');
  t.equal((await row(sb, a.port))?.parked, true, 'a small send leaves it parked');
  t.equal(await ask(`json ${a.port} 7`), 'true');
  t.equal(await a.next(), '{"n":7}', 'an object arrives as JSON text');
  t.equal(await ask(`send ${a.port} big`), 'true', 'a big send');
  t.equal((await a.next()).length, 20000, 'the big frame arrives');
  await parked(sb, a.port, 'the connection after a big send');

  // Flow control: a paused parked connection reads nothing until resumed.
  t.equal(await ask(`pause ${a.port}`), 'done');
  a.ws.send('held');
  a.ws.send('back');
  t.equal(await ask(`send ${a.port} ping-while-paused`), 'true', 'sends still go out while paused');
  t.equal(await a.next(), 'ping-while-paused');
  t.notOk((await events(a.port)).includes('message:4'), 'nothing was read while paused');
  t.equal(await ask(`resume ${a.port}`), 'done');
  t.equal(await a.next(), 'held', 'resumed: what was sent meanwhile is read, in order');
  t.equal(await a.next(), 'back');

  // close() of a parked connection: a closing handshake with 1000, then onClose.
  const b = await client();
  await parked(sb, b.port, 'a second connection');
  const code = new Promise<number>((resolve) => b.ws.once('close', (c: number) => resolve(c)));
  t.equal(await ask(`close ${b.port}`), 'done');
  t.equal(await code, 1000, 'the client gets a close frame with 1000');
  await waitFor(async () => ((await events(b.port)).includes('close') ? true : null), 'onClose of the closed connection');

  // destroy() of a parked connection: dropped, onClose.
  const c = await client();
  await parked(sb, c.port, 'a third connection');
  const dropped = new Promise<number>((resolve) => c.ws.once('close', (x: number) => resolve(x)));
  t.equal(await ask(`destroy ${c.port}`), 'done');
  t.equal(await dropped, 1006, 'destroy() drops it without a close frame');
  t.same(await waitFor(async () => { const e = await events(c.port); return e.includes('close') ? e : null; }, 'onClose of the destroyed connection'), ['connect', 'close']);

  // The peer closes a parked connection with a closing handshake: answered, onClose.
  const e = await client();
  await parked(sb, e.port, 'a fifth connection');
  const answered = new Promise<number>((resolve) => e.ws.once('close', (x: number) => resolve(x)));
  e.ws.close(1000, 'bye');
  t.equal(await answered, 1000, "the peer's close frame is answered");
  t.same(await waitFor(async () => { const ev = await events(e.port); return ev.includes('close') ? ev : null; }, 'onClose of the peer-closed connection'), ['connect', 'close']);

  // The peer goes away while parked: onClose, no longer listed.
  const d = await client();
  await parked(sb, d.port, 'a fourth connection');
  d.ws.terminate();
  t.same(await waitFor(async () => { const e = await events(d.port); return e.includes('close') ? e : null; }, 'onClose when the peer left'), ['connect', 'close']);
  t.equal(await row(sb, d.port), undefined, 'no longer listed');
  t.equal(await ask(`send ${d.port} late`), 'none', 'and gone from worker.connections');
});

t.test('a parked peer that stops answering pings is dropped by the heartbeat', async (t) => {
  const { sb, port } = await daemon(t);
  // A raw client: the handshake, then silence (it never answers a ping).
  const s = connect(port, '127.0.0.1');
  t.teardown(() => s.destroy());
  await new Promise<void>((resolve) => s.once('connect', () => resolve()));
  s.write('GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n');
  let got = Buffer.alloc(0);
  s.on('data', (d: Buffer) => { got = Buffer.concat([got, d]); });
  const ended = new Promise<void>((resolve) => s.once('close', () => resolve()));
  await waitFor(() => (got.includes('\r\n\r\n') ? true : null), 'the 101 answer');
  t.match(got.toString('latin1'), /^HTTP\/1\.1 101 /, 'upgraded');
  await ended;
  t.ok(got.includes(Buffer.from([0x89, 0x00])), 'it was pinged before it was dropped');
  t.equal(await row(sb, s.localPort!), undefined, 'and is no longer listed');
});

t.test('the send buffer of a parked connection', async (t) => {
  const { sb, port } = await daemon(t, 'max_send_buffer_size = 1024\n');
  const url = `ws://127.0.0.1:${port}/`;
  const ctl = await open(url);
  const next = inbox(ctl);
  t.teardown(() => ctl.terminate());
  ctl.send('control');
  t.equal(await next(), 'ok');
  const ask = async (line: string) => { ctl.send(line); return next(); };

  // A peer that does not read: small frames go to the parked handle until the kernel holds
  // them back; that write counts against max_send_buffer_size (onBufferFull), the next send
  // is refused, and once the peer reads, onBufferDrain.
  const a = await open(url);
  t.teardown(() => a.terminate());
  let frames = 0;
  a.on('message', () => { frames++; });
  const aPort = localPort(a);
  await parked(sb, aPort, 'the connection');
  (a as unknown as { _socket: Socket })._socket.pause();
  const [sent, last] = (await ask(`flood ${aPort}`)).split(' ');
  t.equal(last, 'null', `frames went out until the kernel held one back (${sent})`);
  t.same(JSON.parse(await ask(`events ${aPort}`)), ['connect', 'full'], 'onBufferFull');
  t.equal(await ask(`send ${aPort} refused`), 'false', 'a send while full is refused');
  (a as unknown as { _socket: Socket })._socket.resume();
  await waitFor(() => (frames >= Number(sent) ? true : null), 'every frame sent to arrive');
  t.same(await waitFor(async () => { const e = JSON.parse(await ask(`events ${aPort}`)) as string[]; return e.includes('drain') ? e : null; }, 'onBufferDrain'), ['connect', 'full', 'error:LOOM_ERR_SEND_BUFFER_FULL', 'drain'], 'the refused send told onError; then onBufferDrain');

  // destroy() of a parked connection, then a big send: refused, one onClose.
  const b = await open(url);
  t.teardown(() => b.terminate());
  const bPort = localPort(b);
  await parked(sb, bPort, 'a second connection');
  t.equal(await ask(`destroy-send ${bPort}`), 'false', 'a send after destroy() is refused');
  t.same(await waitFor(async () => { const e = JSON.parse(await ask(`events ${bPort}`)) as string[]; return e.includes('close') ? e : null; }, 'onClose'), ['connect', 'close']);
});

/** A raw client: writes bytes at once, collects what comes back. */
async function raw(port: number, bytes: Buffer | string): Promise<{ got: () => Buffer; ended: Promise<void>; socket: Socket }> {
  const s = connect(port, '127.0.0.1');
  await new Promise<void>((resolve) => s.once('connect', () => resolve()));
  let got = Buffer.alloc(0);
  s.on('data', (d: Buffer) => { got = Buffer.concat([got, d]); });
  const ended = new Promise<void>((resolve) => s.once('close', () => resolve()));
  s.write(bytes);
  return { got: () => got, ended, socket: s };
}

/** A client's masked text frame (mask 0: the payload as it is). */
const maskedText = (text: string) => Buffer.concat([Buffer.from([0x81, 0x80 | text.length, 0, 0, 0, 0]), Buffer.from(text)]);

t.test('handshakes Loom answers itself start parked; the others are ws\'s', async (t) => {
  const { sb, port } = await daemon(t);
  const url = `ws://127.0.0.1:${port}/`;

  // A plain handshake: ws's client checks Loom's Sec-WebSocket-Accept; parked from the start.
  const a = await open(url);
  t.teardown(() => a.terminate());
  const aNext = inbox(a);
  t.equal((await row(sb, localPort(a)))?.parked, true, 'parked as soon as the handshake is answered');
  t.equal(a.protocol, '', 'no subprotocol');
  a.send('first');
  t.equal(await aNext(), 'first', 'its first frame wakes it and is echoed');

  // Asking for subprotocols: ws answers, choosing the first.
  const b = new WebSocket(url, ['chat', 'superchat']);
  t.teardown(() => b.terminate());
  await new Promise((resolve, reject) => { b.once('open', resolve); b.once('error', reject); });
  t.equal(b.protocol, 'chat', 'ws chose the first subprotocol');
  const bNext = inbox(b);
  b.send('sub');
  t.equal(await bNext(), 'sub');

  // A frame in the same write as the handshake: answered after the 101.
  const key = 'dGhlIHNhbXBsZSBub25jZQ==';
  const head = `GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n\r\n`;
  const c = await raw(port, Buffer.concat([Buffer.from(head), maskedText('early')]));
  t.teardown(() => c.socket.destroy());
  const accept = 'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n';
  const echo = Buffer.concat([Buffer.from(accept), Buffer.from([0x81, 5]), Buffer.from('early')]);
  await waitFor(() => (c.got().length >= echo.length ? true : null), 'the 101 and the echo');
  t.equal(c.got().toString('latin1'), echo.toString('latin1'), 'the RFC 6455 example key is answered right, then the frame echoed');

  // Handshakes ws refuses are still refused by ws, with its answers.
  const badKey = await raw(port, head.replace(key, 'short=='));
  await badKey.ended;
  t.match(badKey.got().toString('latin1'), /^HTTP\/1\.1 400 Bad Request\r\n[^]*Missing or invalid Sec-WebSocket-Key header/, 'a bad key: 400 from ws');
  const badVersion = await raw(port, head.replace('Version: 13', 'Version: 7'));
  await badVersion.ended;
  t.match(badVersion.got().toString('latin1'), /^HTTP\/1\.1 400 [^]*Sec-WebSocket-Version: 13, 8/, 'an unknown version: 400 naming the versions');
  const post = await raw(port, head.replace('GET', 'POST'));
  await post.ended;
  t.match(post.got().toString('latin1'), /^HTTP\/1\.1 405 /, 'not GET: 405');
});
