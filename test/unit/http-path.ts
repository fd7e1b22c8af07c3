// Request targets to paths: absolute-form, dot segments in any spelling, escapes.
import t from 'tap';
import { decodePath, removeDotSegments, targetPath } from '../../src/http/path';

const path = (target: string) => {
  const r = targetPath(target);
  return 'path' in r ? r.path : r.error;
};

t.test('dot segments are removed (RFC 3986 5.2.4)', async (t) => {
  t.equal(path('/./index.html'), '/index.html');
  t.equal(path('/sub/%2e/a.txt'), '/sub/a.txt', 'an encoded dot is a dot');
  t.equal(path('/sub/%2E%2e/a.txt'), '/a.txt');
  t.equal(path('/a/b/../c'), '/a/c');
  t.equal(path('/../../etc/passwd'), '/etc/passwd', 'never above the root');
  t.equal(path('/a/b/..'), '/a/', 'a final dot segment leaves a trailing slash');
  t.equal(path('/a/.'), '/a/');
  t.equal(path('/'), '/');
  t.equal(path('/a//b'), '/a//b', 'empty segments are kept');
  t.equal(path('/..a/b.'), '/..a/b.', 'dots inside a segment are not dot segments');
  t.equal(removeDotSegments('/mid/content=5/../6'), '/mid/6', 'the RFC example');
});

t.test('absolute-form targets give their path', async (t) => {
  t.equal(path('http://x/hello'), '/hello');
  t.equal(path('http://x/hello?a=1'), '/hello');
  t.equal(path('HTTP://example.com:8080/a/../b'), '/b');
  t.equal(path('http://x'), '/', 'no path is /');
  t.equal(path('http://x?q'), '/');
});

t.test('query and fragment are not part of the path', async (t) => {
  t.equal(path('/a/./b?x=/../y#z'), '/a/b');
});

t.test('escapes', async (t) => {
  t.equal(path('/a%41%7e'), '/aA~', 'unreserved characters are decoded');
  t.equal(path('/..%2fsecret'), '/..%2Fsecret', 'an encoded slash is data: "..%2F" is not a dot segment');
  t.equal(path('/x%00'), '/x%00');
  t.equal(path('/%zz'), 'bad-escape');
  t.equal(path('/a%2'), 'bad-escape');
  t.equal(path('*'), 'not-a-path');
  t.equal(decodePath('/a%20b/%2F'), '/a b//');
  t.equal(decodePath('/%FF'), '/%FF', 'malformed UTF-8 stays as sent');
});
