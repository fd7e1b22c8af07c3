// The lean HTTP path against hostile and unusual input, on raw sockets: request smuggling
// shapes that llhttp refuses, header limits, slow bodies, deep pipelining, Expect, HTTP/1.0,
// Connection: close, an upgrade on a plain http listener, a bad header from the handler. The
// same basic exchanges then run on the http.Server fallback (LOOM_HTTP_PARSER=node).
import t from 'tap';
import { connect } from 'node:net';
import { freePort, sandbox, startDaemon, statusJson, type Sandbox } from '../helpers/loom';

const HANDLER = `const seen = [];
module.exports = {
  onMessage(conn, req) {
    if (req.path === '/seen') return conn.send(seen.join(','));
    seen.push(req.path);
    if (req.path === '/len') return conn.send(req.method + ' ' + req.rawBody.length + ' ' + req.body.slice(0, 20));
    if (req.path === '/n') return conn.send('n=' + req.query.i);
    if (req.path === '/later') return new Promise((r) => setTimeout(() => { conn.send('later=' + req.query.i); r(); }, Number(req.query.ms)));
    if (req.path === '/badheader') return conn.send({ headers: { 'x-evil': 'a\\r\\nSet-Cookie: pwned=1' }, body: 'no' });
    if (req.path === '/stream') {
      const { Readable } = require('node:stream');
      return conn.send({ headers: { 'content-type': 'text/plain' }, body: Readable.from(['one,', 'two,', 'three']) });
    }
    conn.send('hello ' + req.path);
  },
};
`;

interface Raw { data: string; closed: boolean }

/** Writes the chunks (with a pause between them) and collects what comes back until `until` or close. */
function raw(port: number, chunks: (string | Buffer)[], until: (data: string) => boolean, gapMs = 0, deadlineMs = 15000): Promise<Raw> {
  return new Promise((resolve, reject) => {
    const s = connect(port, '127.0.0.1');
    let data = '';
    let done = false;
    const finish = (closed: boolean) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      s.destroy();
      resolve({ data, closed });
    };
    const timer = setTimeout(() => reject(new Error(`no answer within ${deadlineMs} ms; got ${JSON.stringify(data.slice(0, 300))}`)), deadlineMs);
    s.on('data', (d) => { data += d.toString('latin1'); if (until(data)) finish(false); });
    s.on('close', () => finish(true));
    s.on('error', () => undefined);
    s.on('connect', async () => {
      for (const c of chunks) {
        if (s.destroyed) return;
        s.write(c);
        if (gapMs) await new Promise((r) => setTimeout(r, gapMs));
      }
    });
  });
}

const never = () => false;
const count = (data: string, what: RegExp) => (data.match(what) ?? []).length;

async function web(t: { teardown(fn: () => unknown): void }, env?: NodeJS.ProcessEnv): Promise<{ sb: Sandbox; port: number; get: (path: string) => Promise<string> }> {
  const port = await freePort();
  const sb = sandbox({
    groups: `[web]\nlisten = http://127.0.0.1:${port}\ncount = 1\nhandler = h.js\nmax_package_size = 4096\nheader_timeout = 1\n`,
    global: 'watch = false',
    files: { 'h.js': HANDLER },
  });
  await startDaemon(t, sb, env);
  const get = async (path: string) => (await fetch(`http://127.0.0.1:${port}${path}`)).text();
  return { sb, port, get };
}



t.test('lean path: smuggling shapes, limits, slow bodies, pipelining, Expect, HTTP/1.0', async (t) => {
  const { sb, port, get } = await web(t);

  // A chunked body, split across writes in the middle of a chunk.
  const chunked = await raw(port, ['POST /len HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhel', 'lo\r\n6\r\n world\r\n0\r\n\r\n'], (d) => d.includes('POST 11'), 20);
  t.match(chunked.data, /^HTTP\/1\.1 200 OK\r\n[^]*\r\n\r\nPOST 11 hello world$/, 'chunked request body reassembled');

  // Smuggling: each is refused with 400 and the connection closed; the request hidden in it never runs.
  const smuggled = 'GET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n';
  const shapes: Record<string, string> = {
    'Content-Length with Transfer-Encoding': `POST /len HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n${smuggled}`,
    'two Content-Lengths': `POST /len HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nContent-Length: ${smuggled.length}\r\n\r\n${smuggled}`,
    'obs-fold': `GET /fold HTTP/1.1\r\nHost: x\r\nX-A: a\r\n b\r\n\r\n${smuggled}`,
    'bare LF': `GET /lf HTTP/1.1\nHost: x\n\n${smuggled}`,
    'Transfer-Encoding not chunked last': `POST /len HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked, gzip\r\n\r\n0\r\n\r\n${smuggled}`,
    'space before colon': `GET /sp HTTP/1.1\r\nHost : x\r\n\r\n${smuggled}`,
  };
  for (const [name, input] of Object.entries(shapes)) {
    const r = await raw(port, [input], never);
    t.match(r.data, /^HTTP\/1\.1 400 /, `${name}: 400`);
    t.ok(r.closed, `${name}: connection closed`);
    t.equal(count(r.data, /HTTP\/1\.1 /g), 1, `${name}: one answer only`);
  }
  t.equal(await get('/seen'), '/len', 'no smuggled or refused request reached the handler (only the chunked one before)');

  // Header limits: more than 100 fields, or more than 16 KB of head: 431.
  const many = 'GET /many HTTP/1.1\r\nHost: x\r\n' + Array.from({ length: 101 }, (_, i) => `X-F${i}: v\r\n`).join('') + '\r\n';
  const r431a = await raw(port, [many], never);
  t.match(r431a.data, /^HTTP\/1\.1 431 /, '101 header fields: 431');
  t.ok(r431a.closed);
  const hundred = 'GET /hundred HTTP/1.1\r\nHost: x\r\n' + Array.from({ length: 98 }, (_, i) => `X-F${i}: v\r\n`).join('') + 'Connection: close\r\n\r\n';
  t.match((await raw(port, [hundred], never)).data, /^HTTP\/1\.1 200 [^]*hello \/hundred$/, '100 header fields: served');
  const huge = await raw(port, ['GET /huge HTTP/1.1\r\nHost: x\r\nX-Big: ' + 'a'.repeat(20000) + '\r\n\r\n'], never);
  t.match(huge.data, /^HTTP\/1\.1 431 /, 'a 20 KB header: 431');
  t.ok(huge.closed);

  // A body trickling in over longer than header_timeout is not cut off: only the head is timed.
  const body = 'b'.repeat(1000);
  const slowParts = ['POST /len HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n', ...Array.from({ length: 8 }, (_, i) => body.slice(i * 125, (i + 1) * 125))];
  const slow = await raw(port, slowParts, (d) => d.includes('POST 1000'), 250);
  t.match(slow.data, /^HTTP\/1\.1 200 [^]*POST 1000 b{20}$/, 'a slow body upload (2 s, header_timeout 1 s) is served');

  // Over max_package_size: 413, declared or streamed.
  t.match((await raw(port, ['POST /len HTTP/1.1\r\nHost: x\r\nContent-Length: 5000\r\n\r\n' + 'x'.repeat(5000)], never)).data, /^HTTP\/1\.1 413 /, 'declared body over the limit: 413');
  const streamed = await raw(port, ['POST /len HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n', ...Array.from({ length: 5 }, () => `3e8\r\n${'y'.repeat(1000)}\r\n`), '0\r\n\r\n'], never, 10);
  t.match(streamed.data, /^HTTP\/1\.1 413 /, 'chunked body growing over the limit: 413');

  // 100 pipelined requests in one write, some answered late: 100 answers in order.
  const pipelined = Array.from({ length: 100 }, (_, i) => (i % 10 === 3 ? `GET /later?i=${i}&ms=${30 - (i % 7)} HTTP/1.1\r\nHost: x\r\n\r\n` : `GET /n?i=${i} HTTP/1.1\r\nHost: x\r\n\r\n`)).join('');
  const p = await raw(port, [pipelined], (d) => count(d, /HTTP\/1\.1 200/g) === 100);
  const order = [...p.data.matchAll(/(?:n|later)=(\d+)/g)].map((m) => Number(m[1]));
  t.same(order, Array.from({ length: 100 }, (_, i) => i), '100 pipelined requests answered in order');
  t.notOk(p.closed, 'the connection stays open');

  // Expect: 100-continue: the interim answer, then the final one; too big: 413 and no 100.
  const expect = await raw(port, ['POST /len HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n', 'abcde'], (d) => d.includes('POST 5'), 100);
  t.match(expect.data, /^HTTP\/1\.1 100 Continue\r\n\r\nHTTP\/1\.1 200 OK/, 'Expect: 100-continue answered with 100, then 200');
  const expectBig = await raw(port, ['POST /len HTTP/1.1\r\nHost: x\r\nContent-Length: 99999\r\nExpect: 100-continue\r\n\r\n'], never);
  t.match(expectBig.data, /^HTTP\/1\.1 413 /, 'Expect with a body over the limit: 413, no 100');
  t.match((await raw(port, ['GET / HTTP/1.1\r\nHost: x\r\nExpect: teapot\r\n\r\n'], never)).data, /^HTTP\/1\.1 417 /, 'an unknown expectation: 417');

  // HTTP/1.0 without keep-alive, and Connection: close: answered, then closed.
  const h10 = await raw(port, ['GET /old HTTP/1.0\r\n\r\n'], never);
  t.match(h10.data, /^HTTP\/1\.1 200 OK\r\n[^]*Connection: close\r\n[^]*hello \/old$/, 'HTTP/1.0: answered with Connection: close');
  t.ok(h10.closed, 'HTTP/1.0: closed');
  const close = await raw(port, ['GET /a HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\nGET /b HTTP/1.1\r\nHost: x\r\n\r\n'], never);
  t.equal(count(close.data, /HTTP\/1\.1 200/g), 1, 'Connection: close: one answer, the request after it is not served');
  t.ok(close.closed);
  t.match((await raw(port, ['GET /nohost HTTP/1.1\r\n\r\n'], never)).data, /^HTTP\/1\.1 400 /, 'HTTP/1.1 without Host: 400');

  // An upgrade request on a plain http:// listener is an ordinary request, and the last one.
  const up = await raw(port, ['GET /up HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n'], never);
  t.match(up.data, /^HTTP\/1\.1 200 [^]*hello \/up$/, 'upgrade on http://: answered as a request');
  t.ok(up.closed);

  // A streamed body: chunked; a header value with CR LF from the handler: 500, nothing injected.
  const stream = await raw(port, ['GET /stream HTTP/1.1\r\nHost: x\r\n\r\n'], (d) => d.endsWith('0\r\n\r\n'));
  t.match(stream.data, /Transfer-Encoding: chunked\r\n\r\n4\r\none,\r\n4\r\ntwo,\r\n5\r\nthree\r\n0\r\n\r\n$/, 'a Readable body goes out chunked');
  const bad = await raw(port, ['GET /badheader HTTP/1.1\r\nHost: x\r\n\r\n'], (d) => d.includes('\r\n\r\n') && /Content-Length: (\d+)/.test(d) && d.endsWith('Error\n'));
  t.match(bad.data, /^HTTP\/1\.1 500 /, 'a response header with CR LF: 500');
  t.notMatch(bad.data, /pwned/, 'nothing injected');
  t.match(sb.log(), /LOOM_ERR_HANDLER [^\n]*response header value of "x-evil" holds characters not allowed/, 'the handler error is logged');

  const s = await statusJson(sb);
  t.ok(s.processes[0].badPackets >= 10, `refused requests are counted as bad packets (${s.processes[0].badPackets})`);
  t.equal(await get('/still'), 'hello /still', 'the worker still serves');
});

t.test('a keep-alive connection idle long enough to give its parser back is served on', async (t) => {
  const { port } = await web(t);
  const s = connect(port, '127.0.0.1');
  t.teardown(() => s.destroy());
  let data = '';
  s.on('data', (d) => { data += d; });
  const answers = (n: number) => new Promise<void>((resolve, reject) => {
    const deadline = setTimeout(() => reject(new Error(`${n} answers not seen: ${data}`)), 10000);
    const check = () => { if (count(data, /HTTP\/1\.1 200/g) >= n) { clearTimeout(deadline); resolve(); } else setTimeout(check, 20); };
    check();
  });
  s.write('GET /n?i=1 HTTP/1.1\r\nHost: x\r\n\r\n');
  await answers(1);
  // Idle past PARK_MS (1 s) and a sweep: the session reads from JavaScript again until its next request.
  await new Promise((r) => setTimeout(r, 2200));
  s.write('GET /n?i=2 HTTP/1.1\r\nHost: x\r\n\r\nGET /len HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nab');
  await new Promise((r) => setTimeout(r, 50));
  s.write('c');
  await answers(3);
  t.match(data, /n=1[^]*n=2[^]*GET 3 abc$/, 'the requests after the idle time, one split across reads, are answered in order');
});

t.test('http.Server fallback (LOOM_HTTP_PARSER=node): the same answers', async (t) => {
  const { port, get } = await web(t, { LOOM_HTTP_PARSER: 'node' });
  t.equal(await get('/x'), 'hello /x');
  const pipelined = Array.from({ length: 20 }, (_, i) => `GET /n?i=${i} HTTP/1.1\r\nHost: x\r\n\r\n`).join('');
  const p = await raw(port, [pipelined], (d) => count(d, /HTTP\/1\.1 200/g) === 20);
  t.same([...p.data.matchAll(/n=(\d+)/g)].map((m) => Number(m[1])), Array.from({ length: 20 }, (_, i) => i), 'pipelined, in order');
  const r = await raw(port, ['POST /len HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n'], never);
  t.match(r.data, /^HTTP\/1\.1 400 /, 'CL + TE: 400');
  const post = await fetch(`http://127.0.0.1:${port}/len`, { method: 'POST', body: 'abc' });
  t.equal(await post.text(), 'POST 3 abc');
});
