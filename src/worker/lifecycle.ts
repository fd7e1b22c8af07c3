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

/** "file:line: message" for an error thrown while loading user code. */
export function describeLoadError(file: string, err: unknown): string {
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
