// A graceful stop closes the worker's async clients too: their onClose runs and the peer
// sees the connection end, before the worker exits.
import t from 'tap';
import { existsSync, readFileSync } from 'node:fs';
import { createServer, type Socket } from 'node:net';
import { join } from 'node:path';
import { freePort, loom, sandbox, startDaemon, waitFor } from '../helpers/loom';

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

t.test('a client waiting to reconnect does not hold up stop or reload', async (t) => {
  // A port nothing listens on: every attempt is refused, and a retry is always due.
  const dead = await freePort();
  const sb = sandbox({
    groups: `[bg]\nhandler = bg.js\ncount = 1\n`,
    global: 'watch = false',
    files: {
      'bg.js': `const fs = require('fs');
const note = (what) => fs.appendFileSync(__dirname + '/../events', what + ' ' + process.pid + '\\n');
module.exports = {
  onWorkerStart(worker) {
    const c = worker.connect('text://127.0.0.1:${dead}', { reconnectInterval: 30 });
    c.onError = () => note('refused');
  },
  onWorkerReload() { note('reload'); },
  onWorkerStop() { note('stop'); },
};
`,
    },
  });
  const events = () => (existsSync(join(sb.dir, 'events')) ? readFileSync(join(sb.dir, 'events'), 'utf8') : '');
  await startDaemon(t, sb);
  await waitFor(() => events().includes('refused'), 'the first attempt to be refused');
  const first = /refused (\d+)/.exec(events())![1];

  // A retry that held the stop would get the worker SIGKILLed at stop_timeout, onWorkerStop unrun.
  const reload = await loom(['reload', '-c', sb.config]);
  t.equal(reload.code, 0, reload.stderr);
  await waitFor(() => events().includes(`stop ${first}`), 'the old worker to stop after the reload');
  t.match(events(), `reload ${first}`, 'the old worker got onWorkerReload');

  const stop = await loom(['stop', '-c', sb.config]);
  t.equal(stop.code, 0, stop.stderr);
  t.equal(events().split('\n').filter((l) => l.startsWith('stop ')).length, 2, 'onWorkerStop ran in both workers');
  t.notMatch(sb.log(), /did not stop within/, 'no worker had to be killed');
});
