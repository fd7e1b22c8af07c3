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
