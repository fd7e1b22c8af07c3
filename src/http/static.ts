// Static files for http listeners with `root = DIR`: served before the handler, which answers
// whatever no file matches. Safe by construction: the path is normalised (http/path.ts: no dot
// segment survives), each segment decoded once, a segment holding a slash, backslash or NUL
// refused, and the file's realpath must lie inside root's realpath (so a symlink out of root is
// refused too). Dotfiles count as missing.
import { STATUS_CODES } from 'node:http';
import { open, realpath, stat, type FileHandle } from 'node:fs/promises';
import type { Stats } from 'node:fs';
import { extname, isAbsolute, join, relative, resolve, sep } from 'node:path';
import type { HttpExchange } from './exchange.js';
import { targetPath } from './path.js';

const MIME: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.htm': 'text/html; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.webmanifest': 'application/manifest+json; charset=utf-8',
  '.txt': 'text/plain; charset=utf-8',
  '.csv': 'text/csv; charset=utf-8',
  '.xml': 'application/xml; charset=utf-8',
  '.svg': 'image/svg+xml; charset=utf-8',
  '.png': 'image/png',
  '.jpg': 'image/jpeg',
  '.jpeg': 'image/jpeg',
  '.gif': 'image/gif',
  '.webp': 'image/webp',
  '.avif': 'image/avif',
  '.ico': 'image/x-icon',
  '.wasm': 'application/wasm',
  '.woff': 'font/woff',
  '.woff2': 'font/woff2',
  '.ttf': 'font/ttf',
  '.otf': 'font/otf',
  '.pdf': 'application/pdf',
  '.mp4': 'video/mp4',
  '.webm': 'video/webm',
  '.mp3': 'audio/mpeg',
};

/** What a URL path maps to under root: a file, a redirect to the directory's slash form, or an error status. */
type Target = { file: string; stats: Stats } | { redirect: string } | { status: number } | null;

export async function serveStatic(root: string, ex: HttpExchange): Promise<boolean> {
  const target = await locate(resolve(root), ex.url);
  if (target === null) return false;
  if ('status' in target) return answer(ex, target.status);
  if (ex.method !== 'GET' && ex.method !== 'HEAD') return answer(ex, 405, { Allow: 'GET, HEAD' });
  if ('redirect' in target) return answer(ex, 301, { Location: target.redirect });
  await sendFile(ex, target.file, target.stats);
  return true;
}

async function locate(root: string, url: string): Promise<Target> {
  const target = targetPath(url);
  if ('error' in target) return target.error === 'bad-escape' ? { status: 400 } : null; // `*` (OPTIONS): the handler's business
  const query = /\?[^#]*/.exec(url)?.[0] ?? '';
  const rawPath = target.path;
  // Dot segments are gone (targetPath); what is left is decoded segment by segment, and a
  // segment that decodes to a separator or NUL (`%2F`, `%5C`, `%00`) is refused outright.
  const segments: string[] = [];
  for (const raw of rawPath.split('/')) {
    if (raw === '') continue;
    let s: string;
    try {
      s = decodeURIComponent(raw);
    } catch {
      return { status: 400 };
    }
    if (s.includes('/') || s.includes('\\') || s.includes('\0')) return { status: 403 };
    segments.push(s);
  }
  if (segments.some((s) => s.startsWith('.'))) return null; // .git, .env: as if absent

  let realRoot: string;
  let real: string;
  let stats: Stats;
  try {
    // Not cached: a deploy may swap a `current -> release-N` symlink under a running daemon.
    realRoot = await realpath(root);
    real = await realpath(join(root, ...segments));
    if (!inside(realRoot, real)) return { status: 403 }; // a symlink leading out of root
    stats = await stat(real);
    if (stats.isDirectory()) {
      const index = await realpath(join(real, 'index.html'));
      if (!inside(realRoot, index)) return { status: 403 };
      const indexStats = await stat(index);
      if (!indexStats.isFile()) return null;
      // Relative links in the page resolve against the directory only with a trailing slash.
      // Leading slashes are collapsed so `//evil.example` never becomes an off-site redirect.
      if (!rawPath.endsWith('/')) return { redirect: `${rawPath.replace(/^\/+/, '/')}/${query}` };
      return { file: index, stats: indexStats };
    }
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EACCES' || code === 'EPERM') return { status: 403 };
    if (code === 'ENOENT' || code === 'ENOTDIR' || code === 'ELOOP' || code === 'ENAMETOOLONG') return null;
    throw err;
  }
  // Sockets, FIFOs and devices are not files to serve (opening a FIFO would block);
  // `/file.txt/` names a directory that does not exist.
  if (!stats.isFile() || rawPath.endsWith('/')) return null;
  return { file: real, stats };
}

function inside(realRoot: string, real: string): boolean {
  const rel = relative(realRoot, real);
  return rel !== '..' && !rel.startsWith('..' + sep) && !isAbsolute(rel);
}

async function sendFile(ex: HttpExchange, file: string, stats: Stats): Promise<void> {
  const size = stats.size;
  // Weak: size+mtime says "same file", not byte-for-byte identity the way a hash would.
  const etag = `W/"${size.toString(16)}-${Math.floor(stats.mtimeMs).toString(16)}"`;
  const lastModified = stats.mtime.toUTCString();
  const validators = { ETag: etag, 'Last-Modified': lastModified };

  if (notModified(ex, etag, stats.mtimeMs)) {
    ex.respond(304, validators, null, '');
    return;
  }
  const headers: Record<string, string | number> = {
    ...validators,
    'Content-Type': MIME[extname(file).toLowerCase()] ?? 'application/octet-stream',
    'Accept-Ranges': 'bytes',
  };
  let status = 200;
  let start = 0;
  let end = size - 1;
  const range = ex.method === 'GET' ? parseRange(ex.headers.range, size) : null; // RFC 9110: GET only
  if (range && ifRangeHolds(header(ex, 'if-range'), etag, lastModified)) {
    if (range === 'unsatisfiable') {
      answer(ex, 416, { 'Content-Range': `bytes */${size}` });
      return;
    }
    [start, end] = range;
    status = 206;
    headers['Content-Range'] = `bytes ${start}-${end}/${size}`;
  }
  headers['Content-Length'] = end - start + 1;
  if (ex.method === 'HEAD' || size === 0) {
    ex.respond(status, headers, null, '');
    return;
  }
  // Opened before the status line goes out, so a file that vanished or is unreadable gets an
  // honest answer instead of a reset connection.
  let fh: FileHandle;
  try {
    fh = await open(file, 'r');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    answer(ex, code === 'EACCES' || code === 'EPERM' ? 403 : 404);
    return;
  }
  // A read error or a client gone mid-body ends the connection: the length promised can't be kept.
  await ex.respondStream(status, headers, null, fh.createReadStream({ start, end }));
}

/** RFC 9110 §13.2.2: If-None-Match wins over If-Modified-Since. */
function notModified(ex: HttpExchange, etag: string, mtimeMs: number): boolean {
  const inm = ex.headers['if-none-match'];
  if (inm !== undefined) {
    const opaque = (tag: string) => tag.trim().replace(/^W\//, ''); // weak comparison
    return inm.trim() === '*' || inm.split(',').some((t) => opaque(t) === opaque(etag));
  }
  const ims = Date.parse(ex.headers['if-modified-since'] ?? '');
  return !Number.isNaN(ims) && Math.floor(mtimeMs / 1000) * 1000 <= ims; // HTTP dates have whole seconds
}

/**
 * If-Range: a resumed download gets the rest only if the file is still the one it started.
 * RFC 9110 wants a strong validator here; our weak ETag is exactly as strong as Last-Modified
 * (both come from mtime), so an exact match of either is accepted, as Express's `send` does.
 */
function ifRangeHolds(ifRange: string | undefined, etag: string, lastModified: string): boolean {
  if (ifRange === undefined) return true;
  const v = ifRange.trim();
  return v === etag || v === lastModified;
}

/**
 * One range `bytes=a-b`, `bytes=a-` or `bytes=-n`. Several ranges or bad syntax: null (send the
 * whole file, which RFC 9110 allows); a valid range beyond the end: 'unsatisfiable' (416).
 */
export function parseRange(header: string | undefined, size: number): [number, number] | 'unsatisfiable' | null {
  const m = /^bytes=(\d*)-(\d*)$/.exec(header?.trim() ?? '');
  if (!m || (m[1] === '' && m[2] === '')) return null;
  if (m[1] === '') {
    const n = Number(m[2]);
    if (n === 0 || size === 0) return 'unsatisfiable';
    return [Math.max(0, size - n), size - 1];
  }
  const start = Number(m[1]);
  const end = m[2] === '' ? size - 1 : Math.min(Number(m[2]), size - 1);
  if (m[2] !== '' && Number(m[2]) < start) return null; // `bytes=5-2` is invalid syntax, not unsatisfiable
  if (start >= size) return 'unsatisfiable';
  return [start, end];
}

function answer(ex: HttpExchange, status: number, headers: Record<string, string> = {}): true {
  ex.respond(status, headers, 'text/plain; charset=utf-8', `${status} ${STATUS_CODES[status] ?? ''}\n`);
  return true;
}

/** Headers Node has no type for come as string | string[]; of a repeated one, the first counts. */
function header(ex: HttpExchange, name: string): string | undefined {
  const v = ex.headers[name];
  return Array.isArray(v) ? v[0] : v;
}
