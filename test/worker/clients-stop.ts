// A graceful stop closes the worker's async clients too: their onClose runs and the peer
// sees the connection end, before the worker exits.
import t from 'tap';
import { existsSync, readFileSync } from 'node:fs';
import { createServer, type Socket } from 'node:net';
import { join } from 'node:path';
import { loom, sandbox, startDaemon, waitFor } from '../helpers/loom';

t.test('stop closes async clients', async (t) => {
  const peers: Socket[] = [];
  let ended = 0;
  const upstream = createServer((s) => {
    peers.push(s);
    s.on('end', () => { ended++; s.end(); });
    s.on('error', () => undefined);
  });
  await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', () => r()));
  t.teardown(() => upstream.close());
  const port = (upstream.address() as { port: number }).port;
  const sb = sandbox({
    groups: `[bg]\nhandler = bg.js\n`,
    global: 'watch = false',
    files: {
      'bg.js': `const fs = require('fs');
module.exports = {
  onWorkerStart(worker) {
    const c = worker.connect('text://127.0.0.1:${port}');
    c.onConnect = () => fs.appendFileSync(${JSON.stringify(join('SBDIR', 'events'))}.replace('SBDIR', __dirname + '/..'), 'connected\\n');
    c.onClose = () => fs.appendFileSync(${JSON.stringify(join('SBDIR', 'events'))}.replace('SBDIR', __dirname + '/..'), 'closed\\n');
  },
};
`,
    },
  });
  const events = () => (existsSync(join(sb.dir, 'events')) ? readFileSync(join(sb.dir, 'events'), 'utf8') : '');
  await startDaemon(t, sb);
  await waitFor(() => events().includes('connected') && peers.length === 1, 'the client to connect');
  const r = await loom(['stop', '-c', sb.config]);
  t.equal(r.code, 0, r.stderr);
  t.match(events(), /connected\nclosed\n/, "the client's onClose ran");
  await waitFor(() => ended === 1, 'the upstream to see the connection end');
});
