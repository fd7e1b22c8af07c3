// The body of a request read through Node's http.Server (IncomingMessage), up to a limit:
// shared by the http.Server path of HTTP listeners and the gateway's push API.
import type { IncomingMessage } from 'node:http';

/**
 * The whole body, or null once it is known to exceed max bytes. Past the limit the rest is
 * left unread ('pause': the connection is closed after the answer) or read and dropped
 * ('drain': the connection stays usable).
 */
export function readIncoming(req: IncomingMessage, max: number, past: 'pause' | 'drain'): Promise<Buffer | null> {
  const over = (): null => {
    req.removeAllListeners('data');
    if (past === 'pause') req.pause();
    else req.resume();
    return null;
  };
  if (Number(req.headers['content-length'] ?? 0) > max) return Promise.resolve(over());
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > max) { resolve(over()); return; }
      chunks.push(c);
    });
    req.once('end', () => resolve(chunks.length === 1 ? chunks[0] : Buffer.concat(chunks)));
    req.once('error', () => resolve(null));
  });
}
