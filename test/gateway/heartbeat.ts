// Heartbeats of a gateway group: ping_data goes to every client each ping_interval; a client
// from which nothing arrived during ping_not_response_limit intervals is closed (onClose runs);
// one that answers stays. Checked by counting beats, not by the clock.
import t from 'tap';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { WebSocket } from 'ws';
import { freePort, sandbox, startDaemon, waitFor } from '../helpers/loom';

interface Watched { ws: WebSocket; pings: number; closed: boolean; pingsAtClose: number }

function watch(port: number, answer: boolean): Promise<Watched> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`ws://127.0.0.1:${port}/`);
    const w: Watched = { ws, pings: 0, closed: false, pingsAtClose: -1 };
    ws.on('message', (data) => {
      if (data.toString() !== '{"type":"ping"}') return;
      w.pings++;
      if (answer) ws.send('pong');
    });
    ws.on('close', () => { w.closed = true; w.pingsAtClose = w.pings; });
    ws.once('open', () => resolve(w));
    ws.once('error', reject);
  });
}

t.test('ping_data every interval; a silent client closed after the limit, an answering one kept', async (t) => {
  const port = await freePort();
  const sb = sandbox({
    groups: `[beat]\nmodel = gateway\nlisten = ws://127.0.0.1:${port}\nhandler = beat.js\n`
      + `ping_interval = 0.5\nping_not_response_limit = 3\nping_data = {"type":"ping"}\n`,
    global: 'watch = false',
    files: {
      // onClose leaves a mark, so the test sees the business process was told.
      'beat.js': `const fs = require('fs');
module.exports = { onMessage() {}, onClose(client) { fs.appendFileSync(__dirname + '/../closed', client.id + '\\n'); } };
`,
    },
  });
  await startDaemon(t, sb);
  const silent = await watch(port, false);
  const talker = await watch(port, true);
  t.teardown(() => { silent.ws.terminate(); talker.ws.terminate(); });

  await waitFor(() => silent.closed, 'the silent client to be closed', 20000);
  // Each beat sends a ping; the third beat in a row without an answer closes instead.
  t.ok(silent.pingsAtClose >= 2 && silent.pingsAtClose <= 3, `the silent client got ${silent.pingsAtClose} ping(s) before it was closed (limit 3)`);
  await waitFor(() => talker.pings >= silent.pingsAtClose + 3, 'more beats for the answering client', 20000);
  t.notOk(talker.closed, 'the client that answers stays');
  const closedFile = join(sb.dir, 'closed');
  await waitFor(() => existsSync(closedFile) && readFileSync(closedFile, 'utf8').split('\n').filter(Boolean).length === 1, 'onClose for the silent client');
});
