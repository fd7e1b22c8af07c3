// http:// listeners: fetch and curl against the real daemon.
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { connect } from 'node:net';
import { request } from 'node:http';
import { freePort, sandbox, startDaemon, statusJson, waitFor } from '../helpers/loom';

const HANDLER = `module.exports = {
  onMessage(conn, req) {
    if (req.path === '/json') return conn.send({ status: 201, headers: { 'x-seen': req.method }, body: { got: req.json(), q: req.query, cookies: req.cookies } });
    if (req.path === '/len') return conn.send(String(req.rawBody.length));
    if (req.path === '/slow') return new Promise((r) => setTimeout(() => { conn.send('slow:' + req.query.n); r(); }, Number(req.query.ms || 50)));
    if (req.path === '/conn') return conn.send(String(conn.id));
    conn.send('hello ' + req.method + ' ' + req.path);
  },
};
`;

const curl = spawnSync('curl', ['--version']).status === 0;

t.test('http listener', async (t) => {
  const [port, bare] = [await freePort(), await freePort()];
  const sb = sandbox({
    groups: `[web]\nlisten = http://127.0.0.1:${port}\ncount = 2\nhandler = h.js\nmax_package_size = 4096\nheader_timeout = 2\n\n` +
      `[bare]\nlisten = http://127.0.0.1:${bare}\nhandler = none.js\n`,
    global: 'watch = false',
    files: { 'h.js': HANDLER, 'none.js': 'module.exports = {};' },
  });
  await startDaemon(t, sb);
  const base = `http://127.0.0.1:${port}`;

  const get = await fetch(`${base}/hello?x=1`);
  t.equal(get.status, 200);
  t.equal(await get.text(), 'hello GET /hello');

  const post = await fetch(`${base}/json?a=1&a=2&b=3`, { method: 'POST', body: JSON.stringify({ k: 'v' }), headers: { 'content-type': 'application/json', cookie: 'sid=abc; theme=dark' } });
  t.equal(post.status, 201);
  t.equal(post.headers.get('x-seen'), 'POST');
  t.match(post.headers.get('content-type') ?? '', /application\/json/);
  t.same(await post.json(), { got: { k: 'v' }, q: { a: ['1', '2'], b: '3' }, cookies: { sid: 'abc', theme: 'dark' } });

  // A chunked request body (no content-length).
  const chunked = await new Promise<string>((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path: '/len', method: 'POST', headers: { 'transfer-encoding': 'chunked' } }, (res) => {
      let b = '';
      res.on('data', (c) => { b += c; });
      res.on('end', () => resolve(b));
    });
    req.on('error', reject);
    req.write('a'.repeat(1000));
    req.write('b'.repeat(1000));
    req.end('c'.repeat(500));
  });
  t.equal(chunked, '2500', 'chunked body reassembled');

  const head = await fetch(`${base}/x`, { method: 'HEAD' });
  t.equal(head.status, 200);
  t.equal(await head.text(), '', 'HEAD has no body');

  const big = await fetch(`${base}/len`, { method: 'POST', body: 'x'.repeat(5000) });
  t.equal(big.status, 413, 'body over max_package_size: 413');

  const missing = await fetch(`http://127.0.0.1:${bare}/nothing`);
  t.equal(missing.status, 404, '404 without a handler');

  // Keep-alive reuse and pipelining on one raw TCP connection: answers in order.
  const raw = await new Promise<string>((resolve, reject) => {
    const s = connect(port, '127.0.0.1');
    let b = '';
    s.on('data', (c) => { b += c; if ((b.match(/HTTP\/1\.1 200/g) ?? []).length === 4) { s.end(); resolve(b); } });
    s.on('error', reject);
    s.write('GET /slow?n=1&ms=150 HTTP/1.1\r\nHost: x\r\n\r\nGET /slow?n=2&ms=10 HTTP/1.1\r\nHost: x\r\n\r\nGET /conn HTTP/1.1\r\nHost: x\r\n\r\nGET /conn HTTP/1.1\r\nHost: x\r\n\r\n');
  });
  const bodies = raw.split(/HTTP\/1\.1 200 OK/).slice(1).map((r) => r.split('\r\n\r\n')[1]);
  t.same(bodies.slice(0, 2), ['slow:1', 'slow:2'], 'pipelined requests answered in order');
  t.equal(bodies[2], bodies[3], 'one connection id for requests on one keep-alive connection');

  if (curl) {
    const c = spawnSync('curl', ['-s', '-o', '/dev/null', '-o', '/dev/null', '-w', '%{http_code} %{num_connects}\n', `${base}/a`, `${base}/b`], { encoding: 'utf8' });
    t.same(c.stdout.trim().split('\n'), ['200 1', '200 0'], 'curl reuses the keep-alive connection');
    const p = spawnSync('curl', ['-s', '-d', '{"n":5}', '-H', 'content-type: application/json', `${base}/json`], { encoding: 'utf8' });
    t.match(p.stdout, /"got":\{"n":5\}/);
  }

  const s = await statusJson(sb);
  t.ok(s.processes.filter((p) => p.group === 'web').reduce((n, p) => n + p.totalRequests, 0) >= 8, 'requests counted');
});

t.test('slowloris: one header byte a second is cut off by header_timeout; others unaffected', async (t) => {
  const port = await freePort();
  const sb = sandbox({
    groups: `[web]\nlisten = http://127.0.0.1:${port}\nhandler = h.js\nheader_timeout = 1\n`,
    global: 'watch = false',
    files: { 'h.js': HANDLER },
  });
  await startDaemon(t, sb);
  const slow = connect(port, '127.0.0.1');
  let closed = false;
  let answer = '';
  slow.on('data', (d) => { answer += d; });
  slow.on('close', () => { closed = true; });
  slow.on('error', () => undefined);
  const header = 'GET / HTTP/1.1\r\nHost: slow\r\nX-Slow: ' + 'a'.repeat(40);
  let i = 0;
  const drip = setInterval(() => { if (!closed && i < header.length) slow.write(header[i++]); }, 1000);
  t.teardown(() => clearInterval(drip));
  // Other clients are served while the slow one drips.
  for (let k = 0; k < 3; k++) t.equal(await (await fetch(`http://127.0.0.1:${port}/ok`)).text(), 'hello GET /ok');
  // Dripping its whole header would take the client over a minute: closed well before that.
  await waitFor(() => closed, 'the slow client to be closed', 30000);
  t.match(answer, /^HTTP\/1\.1 408|^$/, 'answered 408 (or just closed)');
  t.equal(await (await fetch(`http://127.0.0.1:${port}/still`)).text(), 'hello GET /still', 'the worker still serves');
  clearInterval(drip);
});
