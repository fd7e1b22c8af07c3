// Static files under `root` through the real daemon: index.html, MIME types, ETag/Last-Modified
// and 304, Range/206/416, HEAD, 404 without a handler, the handler answering what no file
// matches, and traversal attempts that never yield a file outside root. Checked with fetch
// (undici), curl, and raw sockets (fetch and curl without --path-as-is normalise `..`).
import t from 'tap';
import { execFile, spawnSync } from 'node:child_process';
import { mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { freePort, sandbox, startDaemon, waitFor } from '../helpers/loom';

const HAVE_CURL = spawnSync('sh', ['-c', 'command -v curl'], { stdio: 'ignore' }).status === 0;
const SECRET = `TOP-SECRET-${process.pid}-${Date.now()}`;
const BIG = Array.from({ length: 2000 }, (_, i) => `line ${i}\n`).join('');
const PNG = Buffer.from('89504e470d0a1a0a0000000d49484452', 'hex');

interface Reply { status: number; headers: Record<string, string>; body: string }

/** One request as raw bytes, path exactly as given; the reply read until the server closes. */
function raw(port: number, path: string, method = 'GET'): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const s = connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    s.on('data', (c: Buffer) => chunks.push(c));
    s.on('error', reject);
    s.on('close', () => resolve(parseReply(Buffer.concat(chunks).toString('latin1'))));
    s.write(`${method} ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n`);
  });
}

/** curl -i with --path-as-is; the last response when curl shows several. */
function curl(args: string[]): Promise<Reply> {
  return new Promise((resolve, reject) => {
    execFile('curl', ['-sS', '-i', '--path-as-is', '--max-time', '10', ...args], { encoding: 'latin1' }, (err, stdout) => {
      if (err) reject(err); else resolve(parseReply(stdout));
    });
  });
}

function parseReply(text: string): Reply {
  const cut = text.indexOf('\r\n\r\n');
  const [statusLine, ...lines] = text.slice(0, cut < 0 ? text.length : cut).split('\r\n');
  const headers: Record<string, string> = {};
  for (const l of lines) {
    const i = l.indexOf(':');
    if (i > 0) headers[l.slice(0, i).trim().toLowerCase()] = l.slice(i + 1).trim();
  }
  let body = cut < 0 ? '' : text.slice(cut + 4);
  if (headers['transfer-encoding'] === 'chunked') body = unchunk(body);
  return { status: Number(/^HTTP\/\S+ (\d{3})/.exec(statusLine)?.[1] ?? 0), headers, body };
}

function unchunk(s: string): string {
  let out = '';
  for (let i = 0; ;) {
    const eol = s.indexOf('\r\n', i);
    const n = parseInt(s.slice(i, eol), 16);
    if (!(n > 0)) return out;
    out += s.slice(eol + 2, eol + 2 + n);
    i = eol + 2 + n + 2;
  }
}

const TRAVERSALS = [
  '/../secret.txt',
  '/%2e%2e/secret.txt',
  '/%2E%2E/secret.txt',
  '/..%2fsecret.txt',
  '/%2e%2e%2fsecret.txt',
  '/public/../../secret.txt',
  '/a/%2e%2e/%2e%2e/secret.txt',
  '/a/../../secret.txt',
  '/..%5csecret.txt',
  '/..\\secret.txt',
  '/link.txt',              // symlink inside root to ../secret.txt
  '/outside/secret.txt',    // symlinked directory leading out of root
  '/%2e%2e/public/../secret.txt',
  '/secret.txt%00',
  '/index.html%00../../secret.txt',
  '/%252e%252e/secret.txt', // decoded once: a literal "%2e%2e" directory, which does not exist
];

t.test('static files under root through the daemon', async (t) => {
  const [sitePort, appPort] = [await freePort(), await freePort()];
  const sb = sandbox({
    groups: `[site]\nlisten = http://127.0.0.1:${sitePort}\nroot = public\n\n`
      + `[app]\nlisten = http://127.0.0.1:${appPort}\nroot = public\nhandler = h.js\n`,
    files: {
      'h.js': `module.exports = { onMessage(conn, req) {
        conn.send({ status: 200, headers: { 'content-type': 'text/plain', 'x-from': 'handler' }, body: 'handler:' + req.method + ' ' + req.path });
      } };`,
    },
  });
  // secret.txt sits one level above root, next to config.ini.
  const pub = join(sb.dir, 'public');
  writeFileSync(join(sb.dir, 'secret.txt'), SECRET);
  mkdirSync(join(pub, 'docs'), { recursive: true });
  mkdirSync(join(pub, 'a'));
  mkdirSync(join(pub, '.git'));
  const files: Record<string, string | Buffer> = {
    'index.html': '<h1>home</h1>',
    'docs/index.html': '<h1>docs</h1>',
    'style.css': 'body { color: red }',
    'app.js': 'console.log(1)',
    'mod.mjs': 'export {}',
    'data.json': '{"a":1}',
    'logo.svg': '<svg xmlns="http://www.w3.org/2000/svg"/>',
    'img.png': PNG,
    'font.woff2': 'wOF2',
    'mod.wasm': Buffer.from([0, 0x61, 0x73, 0x6d]),
    'notes.txt': 'notes',
    'blob.xyz': 'blob',
    'big.txt': BIG,
    '.env': 'DOTFILE-CONTENT',
    '.git/config': 'DOTFILE-CONTENT',
    'a/file.txt': 'a file',
  };
  for (const [name, body] of Object.entries(files)) writeFileSync(join(pub, name), body);
  symlinkSync('../secret.txt', join(pub, 'link.txt'));
  symlinkSync(sb.dir, join(pub, 'outside'));
  await startDaemon(t, sb);

  const site = `http://127.0.0.1:${sitePort}`;
  const app = `http://127.0.0.1:${appPort}`;
  await waitFor(async () => (await fetch(`${site}/`).catch(() => null))?.ok, 'the site to answer');

  t.test('index.html for / and directories, with a redirect to the slash form', async (t) => {
    const home = await fetch(`${site}/`);
    t.equal(home.status, 200);
    t.equal(await home.text(), '<h1>home</h1>');
    t.equal(home.headers.get('content-type'), 'text/html; charset=utf-8');
    const bare = await fetch(`${site}/docs?x=1`, { redirect: 'manual' });
    t.equal(bare.status, 301);
    t.equal(bare.headers.get('location'), '/docs/?x=1');
    await bare.arrayBuffer();
    const followed = await fetch(`${site}/docs`);
    t.equal(await followed.text(), '<h1>docs</h1>');
    t.equal(followed.url, `${site}/docs/`);
    // A leading `//` must not turn into an off-site (protocol-relative) Location.
    const r = await raw(sitePort, '//docs');
    t.equal(r.status, 301);
    t.equal(r.headers.location, '/docs/');
  });

  t.test('MIME types', async (t) => {
    const want: Record<string, string> = {
      'style.css': 'text/css; charset=utf-8',
      'app.js': 'text/javascript; charset=utf-8',
      'mod.mjs': 'text/javascript; charset=utf-8',
      'data.json': 'application/json; charset=utf-8',
      'logo.svg': 'image/svg+xml; charset=utf-8',
      'img.png': 'image/png',
      'font.woff2': 'font/woff2',
      'mod.wasm': 'application/wasm',
      'notes.txt': 'text/plain; charset=utf-8',
      'blob.xyz': 'application/octet-stream',
    };
    for (const [name, type] of Object.entries(want)) {
      const r = await fetch(`${site}/${name}`);
      t.equal(r.headers.get('content-type'), type, name);
      t.same(Buffer.from(await r.arrayBuffer()), Buffer.from(files[name]), `${name} body`);
    }
  });

  t.test('ETag and Last-Modified give 304', async (t) => {
    const r = await fetch(`${site}/big.txt`);
    await r.text();
    const etag = r.headers.get('etag') ?? '';
    const lastModified = r.headers.get('last-modified') ?? '';
    t.match(etag, /^W\/".+"$/);
    t.ok(Date.parse(lastModified) > 0, 'Last-Modified is a date');
    const byTag = await fetch(`${site}/big.txt`, { headers: { 'if-none-match': etag } });
    t.equal(byTag.status, 304);
    t.equal(await byTag.text(), '');
    t.equal(byTag.headers.get('etag'), etag);
    const inList = await fetch(`${site}/big.txt`, { headers: { 'if-none-match': `"other", ${etag}` } });
    t.equal(inList.status, 304);
    const byDate = await fetch(`${site}/big.txt`, { headers: { 'if-modified-since': lastModified } });
    t.equal(byDate.status, 304);
    const stale = await fetch(`${site}/big.txt`, { headers: { 'if-none-match': '"other"', 'if-modified-since': lastModified } });
    t.equal(stale.status, 200, 'If-None-Match wins over If-Modified-Since');
    t.equal(await stale.text(), BIG);
    const old = await fetch(`${site}/big.txt`, { headers: { 'if-modified-since': 'Mon, 01 Jan 2001 00:00:00 GMT' } });
    t.equal(old.status, 200);
    await old.text();
  });

  t.test('Range requests', async (t) => {
    const size = Buffer.byteLength(BIG);
    const r = await fetch(`${site}/big.txt`, { headers: { range: 'bytes=5-14' } });
    t.equal(r.status, 206);
    t.equal(r.headers.get('content-range'), `bytes 5-14/${size}`);
    t.equal(r.headers.get('content-length'), '10');
    t.equal(await r.text(), BIG.slice(5, 15));
    const open = await fetch(`${site}/big.txt`, { headers: { range: `bytes=${size - 3}-` } });
    t.equal(open.status, 206);
    t.equal(await open.text(), BIG.slice(-3));
    const suffix = await fetch(`${site}/big.txt`, { headers: { range: 'bytes=-7' } });
    t.equal(suffix.status, 206);
    t.equal(suffix.headers.get('content-range'), `bytes ${size - 7}-${size - 1}/${size}`);
    t.equal(await suffix.text(), BIG.slice(-7));
    const past = await fetch(`${site}/big.txt`, { headers: { range: `bytes=${size}-` } });
    t.equal(past.status, 416);
    t.equal(past.headers.get('content-range'), `bytes */${size}`);
    await past.text();
    const etag = r.headers.get('etag') ?? '';
    const resumed = await fetch(`${site}/big.txt`, { headers: { range: 'bytes=0-3', 'if-range': etag } });
    t.equal(resumed.status, 206, 'If-Range with the current ETag: the range');
    await resumed.text();
    const changed = await fetch(`${site}/big.txt`, { headers: { range: 'bytes=0-3', 'if-range': '"an-old-version"' } });
    t.equal(changed.status, 200, 'If-Range with another ETag: the whole file');
    t.equal(await changed.text(), BIG);
  });

  t.test('HEAD: headers only', async (t) => {
    const r = await fetch(`${site}/big.txt`, { method: 'HEAD' });
    t.equal(r.status, 200);
    t.equal(r.headers.get('content-length'), String(Buffer.byteLength(BIG)));
    t.equal(r.headers.get('content-type'), 'text/plain; charset=utf-8');
    t.equal(await r.text(), '');
  });

  t.test('without a handler, what no file matches is 404; dotfiles are hidden', async (t) => {
    for (const path of ['/missing.txt', '/docs/missing/', '/.env', '/.git/config', '/a/']) {
      const r = await fetch(`${site}${path}`);
      t.equal(r.status, 404, path);
      t.notMatch(await r.text(), /DOTFILE-CONTENT/, path);
    }
  });

  t.test('with a handler, files first and the handler for the rest', async (t) => {
    const file = await fetch(`${app}/notes.txt`);
    t.equal(await file.text(), 'notes');
    t.equal(file.headers.get('x-from'), null);
    const miss = await fetch(`${app}/api/users?id=1`);
    t.equal(miss.status, 200);
    t.equal(miss.headers.get('x-from'), 'handler');
    t.equal(await miss.text(), 'handler:GET /api/users');
    const dot = await fetch(`${app}/.env`);
    t.equal(await dot.text(), 'handler:GET /.env', 'a dotfile is not served; the handler answers');
    const post = await fetch(`${app}/notes.txt`, { method: 'POST', body: 'x' });
    t.equal(await post.text(), 'handler:POST /notes.txt', 'only GET and HEAD look for files');
  });

  t.test('dot segments in any spelling and absolute-form targets are normalised', async (t) => {
    t.equal((await raw(sitePort, '/./index.html')).body, '<h1>home</h1>', '/./index.html');
    t.equal((await raw(sitePort, '/a/%2e/file.txt')).body, 'a file', '/a/%2e/file.txt');
    t.equal((await raw(sitePort, '/a/%2E%2E/notes.txt')).body, 'notes', '/a/%2E%2E/notes.txt stays inside root');
    t.equal((await raw(sitePort, '/docs/../a/./file.txt')).body, 'a file');
    t.equal((await raw(sitePort, 'http://example.com/notes.txt')).body, 'notes', 'an absolute-form target serves its path');
    const handled = await raw(appPort, 'http://example.com/api/./x/../users?q=1');
    t.equal(handled.body, 'handler:GET /api/users', 'the handler sees the normalised path of an absolute-form target');
    t.equal((await raw(appPort, '/api/%2e%2e/v1/%2E/items')).body, 'handler:GET /v1/items');
  });

  t.test('traversal never yields a file outside root (raw sockets)', async (t) => {
    for (const port of [sitePort, appPort]) {
      for (const path of TRAVERSALS) {
        const r = await raw(port, path);
        // With a handler, what is no file (a literal `%2e%2e` directory) may reach the handler.
        if (port === sitePort) t.ok(r.status === 403 || r.status === 404 || r.status === 400, `${path} → ${r.status}`);
        else t.ok([400, 403, 404].includes(r.status) || r.headers['x-from'] === 'handler', `app ${path} → ${r.status}`);
        t.notOk(r.body.includes(SECRET), `${path}: no secret in the body`);
      }
      for (const path of ['/%zz', '/a%2']) t.equal((await raw(port, path)).status, 400, `${path}: a malformed escape is 400`);
    }
    // The worker is unharmed.
    t.equal((await raw(sitePort, '/notes.txt')).body, 'notes');
  });

  t.test('traversal with fetch', async (t) => {
    for (const path of ['/..%2fsecret.txt', '/%2e%2e%2fsecret.txt', '/link.txt', '/outside/secret.txt', '/secret.txt%00']) {
      const r = await fetch(`${site}${path}`);
      t.ok(r.status === 403 || r.status === 404, `${path} → ${r.status}`);
      t.notOk((await r.text()).includes(SECRET), path);
    }
  });

  t.test('curl', { skip: HAVE_CURL ? false : 'curl is not installed' }, async (t) => {
    const home = await curl([`${site}/`]);
    t.equal(home.status, 200);
    t.equal(home.body, '<h1>home</h1>');
    t.equal(home.headers['content-type'], 'text/html; charset=utf-8');
    const css = await curl([`${site}/style.css`]);
    t.equal(css.headers['content-type'], 'text/css; charset=utf-8');
    const etag = css.headers.etag;
    t.equal((await curl(['-H', `If-None-Match: ${etag}`, `${site}/style.css`])).status, 304);
    t.equal((await curl(['-H', `If-Modified-Since: ${css.headers['last-modified']}`, `${site}/style.css`])).status, 304);
    // curl's own conditional GET (-z takes a date and sends If-Modified-Since).
    t.equal((await curl(['-z', css.headers['last-modified'], `${site}/style.css`])).status, 304);
    const range = await curl(['-r', '0-9', `${site}/big.txt`]);
    t.equal(range.status, 206);
    t.equal(range.body, BIG.slice(0, 10));
    const suffix = await curl(['-r', '-4', `${site}/big.txt`]);
    t.equal(suffix.status, 206);
    t.equal(suffix.body, BIG.slice(-4));
    t.equal((await curl(['-r', '999999-', `${site}/big.txt`])).status, 416);
    const head = await curl(['-I', `${site}/big.txt`]);
    t.equal(head.status, 200);
    t.equal(head.headers['content-length'], String(Buffer.byteLength(BIG)));
    t.equal(head.body, '');
    t.equal((await curl([`${site}/missing.txt`])).status, 404);
    t.equal((await curl([`${app}/missing.txt`])).body, 'handler:GET /missing.txt');
    for (const port of [sitePort, appPort]) {
      for (const path of TRAVERSALS.filter((p) => !p.includes('\\'))) {
        const r = await curl([`http://127.0.0.1:${port}${path}`]);
        if (port === sitePort) t.ok(r.status === 403 || r.status === 404 || r.status === 400, `${path} → ${r.status}`);
        t.notOk(r.body.includes(SECRET), `${path}: no secret in the body`);
      }
    }
  });
});
