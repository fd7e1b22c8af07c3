// The path of an HTTP request target, normalised once for static files and handlers alike:
// the path of an absolute-form target (`GET http://host/x`) is `/x`; percent-encoded
// unreserved characters are decoded (`%2e` is `.`, RFC 3986 §6.2.2.2) and dot segments removed
// (`/a/./b/../c` is `/a/c`, §5.2.4), so no spelling of `.` or `..` survives. Other escapes
// (`%2F`, `%00`) stay encoded here: a reserved character is data, not a separator.

/** What a request target comes to: its normalised path (still percent-encoded), or why not. */
export type TargetPath = { path: string } | { error: 'not-a-path' | 'bad-escape' };

const UNRESERVED = /[A-Za-z0-9\-._~]/;

export function targetPath(target: string): TargetPath {
  // origin-form `/p?q`, or absolute-form `scheme://authority/p?q` (a proxy's form, RFC 9112 §3.2.2).
  const m = /^(?:[a-z][a-z0-9+.-]*:\/\/[^/?#]*)?(\/[^?#]*)?/i.exec(target);
  if (!m || (m[1] === undefined && !/^[a-z][a-z0-9+.-]*:\/\//i.test(target))) return { error: 'not-a-path' };
  const raw = m[1] ?? '/';
  let decoded = '';
  for (let i = 0; i < raw.length; i++) {
    const c = raw[i];
    if (c !== '%') {
      decoded += c;
      continue;
    }
    const hex = raw.slice(i + 1, i + 3);
    if (!/^[0-9A-Fa-f]{2}$/.test(hex)) return { error: 'bad-escape' };
    const ch = String.fromCharCode(parseInt(hex, 16));
    decoded += UNRESERVED.test(ch) ? ch : `%${hex.toUpperCase()}`;
    i += 2;
  }
  return { path: removeDotSegments(decoded) };
}

/** RFC 3986 §5.2.4 on an absolute path: `.` and `..` segments resolved, never above `/`. */
export function removeDotSegments(path: string): string {
  const out: string[] = [];
  const segments = path.split('/');
  for (let i = 1; i < segments.length; i++) {
    const s = segments[i];
    const last = i === segments.length - 1;
    if (s === '.' || s === '..') {
      if (s === '..' && out.length > 0) out.pop();
      // A final dot segment leaves the path ending in a slash (`/a/b/..` is `/a/`).
      if (last) out.push('');
      continue;
    }
    out.push(s);
  }
  return '/' + out.join('/');
}

/** The normalised path decoded for handlers (`request.path`); malformed UTF-8 stays encoded. */
export function decodePath(path: string): string {
  try {
    return decodeURIComponent(path);
  } catch {
    return path;
  }
}
