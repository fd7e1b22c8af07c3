// websocket:// listeners with the `ws` client: text, binary, big messages and 1009,
// fragments, ping/pong, closing both ways, refusal, permessage-deflate.
import t from 'tap';
import { connect } from 'node:net';
import WebSocket from 'ws';
import { freePort, loom, sandbox, startDaemon, statusJson, waitFor } from '../helpers/loom';

const HANDLER = `module.exports = {
  onWebSocketConnect(conn, req) {
    if (req.query.token === 'bad') return false;
    if (req.path === '/throw') throw new Error('refused');
    if (req.path === '/slow-no') return new Promise((r) => setTimeout(() => r(false), 300));
    if (req.path === '/slow-yes') return new Promise((r) => setTimeout(() => r(true), 300));
    conn.data.path = req.path;
    conn.data.agent = req.headers['x-agent'];
  },
  onMessage(conn, data) {
    if (data === 'who') return conn.send(conn.data.path + ' ' + conn.data.agent + ' ' + conn.remotePort);
    if (data === 'bye') return conn.close();
    if (typeof data === 'string') return conn.send('text:' + data.length + ':' + data.slice(0, 20));
    conn.send(data);
  },
};
`;

function open(url: string, opts: WebSocket.ClientOptions = {}): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, opts);
    ws.once('open', () => resolve(ws));
    ws.once('error', reject);
  });
}

function next(ws: WebSocket): Promise<{ data: Buffer; binary: boolean }> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('no message')), 10000);
    ws.once('message', (data: Buffer, binary: boolean) => { clearTimeout(timer); resolve({ data, binary }); });
  });
}

function closed(ws: WebSocket): Promise<number> {
  return new Promise((resolve) => ws.once('close', (code: number) => resolve(code)));
}

t.test('websocket listener', async (t) => {
  const [port, small, deflate] = [await freePort(), await freePort(), await freePort()];
  const sb = sandbox({
    groups: `[ws]\nlisten = websocket://127.0.0.1:${port}\nhandler = ws.js\nmax_package_size = 16777216\nmax_send_buffer_size = 33554432\n\n` +
      `[small]\nlisten = ws://127.0.0.1:${small}\nhandler = ws.js\nmax_package_size = 1024\n\n` +
      `[deflate]\nlisten = ws://127.0.0.1:${deflate}\nhandler = ws.js\npermessage_deflate = true\n`,
    global: 'watch = false',
    files: { 'ws.js': HANDLER },
  });
  await startDaemon(t, sb);
  const url = `ws://127.0.0.1:${port}`;

  const ws = await open(`${url}/room/1?x=2`, { headers: { 'x-agent': 'tap' } });
  ws.send('who');
  const who = await next(ws);
  t.equal(who.data.toString(), `/room/1 tap ${(ws as unknown as { _socket: { localPort: number } })._socket.localPort}`, 'handshake path, headers and remote port reach the handler');
  t.equal(who.binary, false, 'a string goes out as a text frame');

  // `loom connections` lists WebSocket connections, by their remote port.
  const localPort = (ws as unknown as { _socket: { localPort: number } })._socket.localPort;
  const rows = JSON.parse((await loom(['connections', '--json', '-c', sb.config])).stdout) as { protocol: string; remote: string }[];
  t.ok(rows.some((r) => r.protocol === 'websocket' && r.remote === `127.0.0.1:${localPort}`), 'listed by loom connections');

  ws.send('hello');
  t.equal((await next(ws)).data.toString(), 'text:5:hello');
  ws.send(Buffer.from([0, 1, 2, 255]));
  const bin = await next(ws);
  t.equal(bin.binary, true, 'a Buffer goes out as a binary frame');
  t.same([...bin.data], [0, 1, 2, 255]);

  // Fragmented message: three frames, one message.
  ws.send('frag', { fin: false });
  ws.send('ment', { fin: false });
  ws.send('ed', { fin: true });
  t.equal((await next(ws)).data.toString(), 'text:10:fragmented');

  // 10 MB when allowed.
  const ten = Buffer.alloc(10 * 1024 * 1024, 7);
  ws.send(ten);
  const echoed = await next(ws);
  t.equal(echoed.data.length, ten.length, '10 MB binary message round trip');
  t.ok(echoed.data.equals(ten));

  // ping → pong from the server.
  const pong = new Promise<Buffer>((resolve) => ws.once('pong', resolve));
  ws.ping('are-you-there');
  t.equal((await pong).toString(), 'are-you-there', 'pong answers ping');

  // Server-side close.
  const byServer = closed(ws);
  ws.send('bye');
  t.equal(await byServer, 1000, 'closed by the server with 1000');

  // Client-side close.
  const ws2 = await open(url);
  const c2 = closed(ws2);
  ws2.close(1000, 'done');
  t.equal(await c2, 1000, 'clean close from the client');

  // Over max_package_size: 1009.
  const ws3 = await open(`ws://127.0.0.1:${small}/`);
  const c3 = closed(ws3);
  ws3.send('x'.repeat(2000));
  t.equal(await c3, 1009, 'message too big: 1009');
  const ws4 = await open(`ws://127.0.0.1:${small}/`);
  ws4.send('small');
  t.equal((await next(ws4)).data.toString(), 'text:5:small', 'the worker still serves');
  ws4.close();

  // Refusal in onWebSocketConnect: returning false, and throwing.
  await t.rejects(open(`${url}/?token=bad`), /403/, 'return false refuses with 403');
  await t.rejects(open(`${url}/throw`), /403/, 'a throw refuses with 403');

  // A client that half-closes while an async onWebSocketConnect decides still gets the refusal.
  const half = connect(port, '127.0.0.1');
  let halfData = '';
  half.on('data', (d: Buffer) => { halfData += d.toString('latin1'); });
  await new Promise<void>((resolve) => half.once('connect', () => resolve()));
  half.end('GET /slow-no HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n');
  await new Promise<void>((resolve) => half.once('close', () => resolve()));
  t.match(halfData, /^HTTP\/1\.1 403 /, 'a refusal reaches a client that half-closed meanwhile');

  // A plain HTTP request: 426.
  const plain = await fetch(`http://127.0.0.1:${port}/`);
  t.equal(plain.status, 426);

  // permessage-deflate: negotiated only where enabled.
  const d = await open(`ws://127.0.0.1:${deflate}/`, { perMessageDeflate: true });
  t.match(d.extensions, /permessage-deflate/, 'negotiated when enabled');
  d.send('z'.repeat(5000));
  t.equal((await next(d)).data.toString(), 'text:5000:zzzzzzzzzzzzzzzzzzzz');
  d.close();
  const nd = await open(`${url}/`, { perMessageDeflate: true });
  t.equal(nd.extensions, '', 'not negotiated when disabled');
  nd.close();

  const s = await waitFor(async () => {
    const st = await statusJson(sb);
    return st.processes.find((p) => p.group === 'small' && p.badPackets === 1) ? st : null;
  }, 'the oversize message to be counted');
  t.ok(s);
});

t.test('a slow WebSocket reader: sends queue up to max_send_buffer_size, onBufferFull, then onBufferDrain', async (t) => {
  const port = await freePort();
  const sb = sandbox({
    groups: `[ws]\nlisten = ws://127.0.0.1:${port}\nhandler = flood.js\nmax_send_buffer_size = 262144\n`,
    global: 'watch = false',
    files: {
      'flood.js': `const chunk = 'x'.repeat(65536);
module.exports = {
  onMessage(c) {
    let n = 0;
    // Until the buffer is full: send() answers true/null while it has room, false after.
    while (n < 1000 && c.send(chunk) !== false) n++;
    c.data.sent = n;
  },
  onBufferFull(c) { c.data.full = true; },
  onBufferDrain(c) { c.send('drained after ' + c.data.sent + (c.data.full ? ' full' : '')); },
};
`,
    },
  });
  await startDaemon(t, sb);
  const ws = new WebSocket(`ws://127.0.0.1:${port}/`);
  await new Promise((r) => ws.once('open', r));
  t.teardown(() => ws.terminate());
  const socket = (ws as unknown as { _socket: import('node:net').Socket })._socket;
  socket.pause(); // a reader that does not read: the server's buffer fills
  let chunks = 0;
  let last = '';
  ws.on('message', (d) => { const s = d.toString(); if (s.startsWith('drained')) last = s; else chunks++; });
  ws.send('go');
  await waitFor(async () => (await statusJson(sb)).processes[0].sendFailures >= 1, 'a send to be refused once the buffer is full');
  socket.resume();
  await waitFor(() => last !== '', 'onBufferDrain once the reader caught up', 20000);
  t.match(last, /^drained after \d+ full$/, 'onBufferFull came first');
  t.equal(chunks, Number(/after (\d+)/.exec(last)![1]), 'every accepted chunk arrived');
});

t.test('a frame that comes while an async onWebSocketConnect decides is read once the client is accepted', async (t) => {
  // On bare handles and on net.Socket (the path of runtimes without the binding).
  for (const env of [undefined, { LOOM_BARE_HANDLES: 'off' }]) {
    const port = await freePort();
    const sb = sandbox({ groups: `[ws]\nlisten = websocket://127.0.0.1:${port}\nhandler = ws.js\n`, global: 'watch = false', files: { 'ws.js': HANDLER } });
    await startDaemon(t, sb, env);
    const s = connect(port, '127.0.0.1');
    t.teardown(() => s.destroy());
    let got = '';
    s.on('data', (d: Buffer) => { got += d.toString('latin1'); });
    await new Promise<void>((resolve) => s.once('connect', () => resolve()));
    s.write('GET /slow-yes HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n');
    await new Promise((r) => setTimeout(r, 50));
    s.write(Buffer.concat([Buffer.from([0x81, 0x85, 0, 0, 0, 0]), Buffer.from('early')]));
    await waitFor(() => (got.includes('text:5:early') ? true : null), `the early frame's echo (${env ? 'net.Socket' : 'bare handle'})`);
    t.match(got, /^HTTP\/1\.1 101 [^]*text:5:early$/, `${env ? 'net.Socket' : 'bare handle'}: accepted, then the early frame answered`);
  }
});
