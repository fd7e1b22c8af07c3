// The parser binding the lean HTTP path drives (Node's own llhttp, through _http_common) has
// the shape Loom knows on the pinned runtime: a runtime upgrade that changes it fails here
// rather than silently falling back to http.Server. Then the pure parts: header objects as
// Node builds them, and response heads.
import t from 'tap';
import { METHODS } from 'node:http';
import { headerObject, llhttp } from '../../src/http/llhttp';
import { responseHead, errorResponse, hasContentType } from '../../src/http/wire';

t.test('the binding is there, with every method Node knows, numbered as llhttp numbers them', async (t) => {
  const ll = llhttp();
  t.ok(ll, `Node ${process.version} has the HTTPParser binding in the shape the lean path drives`);
  if (!ll) return;
  const known = ll.methods.filter((m) => m !== undefined);
  t.same([...known].sort(), [...METHODS].sort(), 'one number for each of http.METHODS');
  t.equal(ll.methods[1], 'GET');
  t.equal(ll.methods[3], 'POST');
  t.ok(ll.isToken('X-Custom'));
  t.notOk(ll.isToken('bad name'));
  t.ok(ll.hasInvalidChar('a\r\nb'));
  t.notOk(ll.hasInvalidChar('text/plain; charset=utf-8'));
});

t.test('one parse: callbacks, flat header list, method number, keep-alive', async (t) => {
  const ll = llhttp()!;
  const p = new ll.Parser();
  p.initialize(ll.Parser.REQUEST, {}, 0, ll.Parser.kLenientNone);
  const seen: unknown[] = [];
  p[ll.Parser.kOnMessageBegin] = () => { seen.push('begin'); return 0; };
  p[ll.Parser.kOnHeadersComplete] = (maj: number, min: number, raw: string[], method: number, url: string, _s: unknown, _m: unknown, upgrade: boolean, keepAlive: boolean) => {
    seen.push({ maj, min, raw, method: ll.methods[method], url, upgrade, keepAlive });
    return 0;
  };
  p[ll.Parser.kOnBody] = (b: Buffer) => { seen.push(b.toString()); };
  p[ll.Parser.kOnMessageComplete] = () => { seen.push('complete'); };
  const input = Buffer.from('PUT /a?b=1 HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nhi');
  t.equal(p.execute(input), input.length, 'all bytes parsed');
  t.same(seen, ['begin', { maj: 1, min: 1, raw: ['Host', 'x', 'Content-Length', '2'], method: 'PUT', url: '/a?b=1', upgrade: false, keepAlive: true }, 'hi', 'complete']);
  const bad = p.execute(Buffer.from('GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n'));
  t.type(bad, Error);
  t.equal((bad as Error & { code: string }).code, 'HPE_INVALID_TRANSFER_ENCODING', 'CL + TE refused by llhttp itself');
  p.close();
});

t.test('header objects as IncomingMessage builds them', async (t) => {
  t.same(headerObject(['Host', 'a', 'X-Many', '1', 'x-many', '2', 'Set-Cookie', 'a=1', 'set-cookie', 'b=2', 'Content-Type', 'text/a', 'Content-Type', 'text/b', 'Cookie', 'a=1', 'Cookie', 'b=2']), {
    host: 'a', 'x-many': '1, 2', 'set-cookie': ['a=1', 'b=2'], 'content-type': 'text/a', cookie: 'a=1; b=2',
  });
});

t.test('response heads', async (t) => {
  const ok = () => undefined;
  const head = responseHead({ status: 200, headers: undefined, contentType: 'text/plain', framing: 5, keepAlive: true, keepAliveSeconds: 60 }, ok);
  t.match(head, /^HTTP\/1\.1 200 OK\r\nContent-Type: text\/plain\r\nDate: [A-Z][a-z]{2}, \d\d [A-Z][a-z]{2} \d{4} \d\d:\d\d:\d\d GMT\r\nConnection: keep-alive\r\nKeep-Alive: timeout=60\r\nContent-Length: 5\r\n\r\n$/);
  const own = responseHead({ status: 404, headers: { 'content-length': 3, Connection: 'close', 'X-A': ['1', '2'] }, contentType: null, framing: 9, keepAlive: true, keepAliveSeconds: 60 }, ok);
  t.match(own, /^HTTP\/1\.1 404 Not Found\r\ncontent-length: 3\r\nConnection: close\r\nX-A: 1\r\nX-A: 2\r\nDate: [^\r]+\r\n\r\n$/, 'the handler\'s own length and connection fields win; arrays repeat');
  t.match(responseHead({ status: 200, headers: undefined, contentType: null, framing: 'chunked', keepAlive: false, keepAliveSeconds: 5 }, ok), /Connection: close\r\nTransfer-Encoding: chunked\r\n\r\n$/);
  t.notMatch(responseHead({ status: 304, headers: undefined, contentType: null, framing: 'none', keepAlive: true, keepAliveSeconds: 5 }, ok), /Content-Length/, '304: no length');
  t.throws(() => responseHead({ status: 200, headers: { 'x-a': 'a\r\nb' }, contentType: null, framing: 0, keepAlive: true, keepAliveSeconds: 5 }, (n, v) => { if (/[\r\n]/.test(v)) throw new Error(`bad ${n}`); }), /bad x-a/);
  t.match(errorResponse(431), /^HTTP\/1\.1 431 Request Header Fields Too Large\r\n[^]*Connection: close\r\nContent-Length: 32\r\n\r\nRequest Header Fields Too Large\n$/);
  t.ok(hasContentType({ 'Content-Type': 'x' }));
  t.notOk(hasContentType({ 'Content-Length': 1 }));
});
