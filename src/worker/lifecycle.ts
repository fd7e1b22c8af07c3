import { readFileSync } from 'node:fs';
import { extname } from 'node:path';
import { transform } from 'sucrase';

// Handles that sit idle without being "work": sockets, servers, the IPC pipe, signals, ttys.
const IDLE_RESOURCES = new Set([
  'PipeWrap', 'TCPWrap', 'TCPSocketWrap', 'TCPServerWrap', 'PipeServerWrap', 'PipeSocketWrap',
  'TTYWrap', 'UDPWrap', 'SignalWrap', 'FSEventWrap', 'StatWatcher', 'ProcessWrap',
]);

/**
 * Resolves when the handler has no timer, file operation or lookup left pending: the
 * in-flight work of a graceful stop (a reply sent from a setTimeout, say) has finished.
 */
export async function waitForQuiet(): Promise<void> {
  for (;;) {
    const busy = process.getActiveResourcesInfo().some((r) => !IDLE_RESOURCES.has(r));
    if (!busy) return;
    await new Promise<void>((resolve) => setTimeout(resolve, 10).unref());
  }
}

/** "file:line: message" from the stack of an error thrown while loading user code. */
function fromStack(file: string, err: unknown): string {
  const e = err as Error;
  const stack = typeof e?.stack === 'string' ? e.stack : '';
  // Syntax errors from the CommonJS loader start with "/path/file.js:LINE".
  const first = /^(\/[^\n:]+):(\d+)/.exec(stack);
  let where = `${file}`;
  if (first && first[1] === file) where = `${file}:${first[2]}`;
  else {
    const frame = new RegExp(`${escape(file)}:(\\d+)(?::(\\d+))?`).exec(stack);
    if (frame) where = `${file}:${frame[1]}${frame[2] ? `:${frame[2]}` : ''}`;
  }
  return `${where}: ${e?.name ?? 'Error'}: ${e?.message ?? String(err)}`;
}

function escape(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/**
 * "file:line: Name: message" for code that failed to load. Node reports no line for a syntax
 * error in an ES module, and sucrase reports it inside its message; in both cases the line
 * is found by parsing the file again with sucrase.
 */
export function describeLoadError(file: string, err: unknown): string {
  const e = err as Error;
  const lineOf = (x: unknown): number | null => {
    const loc = (x as { loc?: { line?: unknown } } | null)?.loc;
    return typeof loc?.line === 'number' ? loc.line : null;
  };
  let line = lineOf(e);
  if (line !== null) {
    // sucrase: "Error transforming FILE: Unexpected token (4:13)"
    const message = String(e.message).replace(/^Error transforming [^:]*: /, '').replace(/ \(\d+:\d+\)$/, '');
    return `${file}:${line}: ${e.name}: ${message}`;
  }
  const described = fromStack(file, err);
  if (described.startsWith(`${file}:`) && /^:\d/.test(described.slice(file.length))) return described;
  if (e?.name !== 'SyntaxError') return described;
  try {
    const transforms: ('typescript' | 'jsx')[] = extname(file) === '.ts' ? ['typescript'] : [];
    transform(readFileSync(file, 'utf8'), { transforms, filePath: file });
  } catch (parseError) {
    line = lineOf(parseError);
  }
  return line === null ? described : `${file}:${line}: ${e.name}: ${e.message}`;
}
