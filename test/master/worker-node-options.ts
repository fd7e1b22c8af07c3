// Workers run with a capped V8 young generation (NODE_OPTIONS, as the single executable
// honours it), on top of the user's NODE_OPTIONS; neither a handler nor what it runs sees Loom's flag.
import t from 'tap';
import { freePort, sandbox, startDaemon } from '../helpers/loom';
import { textClient } from '../helpers/clients';
import { restoreNodeOptions, workerNodeOptions } from '../../src/ipc/node-options';

// Replies to any line with what the worker sees: its NODE_OPTIONS, a child's, and the size its
// young generation reaches under a burst of short-lived objects (2 semi-spaces).
const PROBE = `const v8 = require('node:v8');
const { execFileSync } = require('node:child_process');
module.exports = { onMessage(c) {
  let keep = [];
  for (let i = 0; i < 300000; i++) { keep.push({ a: i, b: [i] }); if (keep.length > 50000) keep = []; }
  const young = v8.getHeapSpaceStatistics().find((s) => s.space_name === 'new_space').space_size;
  const child = execFileSync(process.execPath, ['-e', 'process.stdout.write(JSON.stringify(process.env.NODE_OPTIONS ?? null))'], { env: { ...process.env, LOOM_ROLE: '' } }).toString();
  c.send(JSON.stringify({ own: process.env.NODE_OPTIONS ?? null, child: JSON.parse(child), young }));
} };`;

async function probe(t: { teardown(fn: () => unknown): void }, nodeOptions: string | undefined): Promise<{ own: string | null; child: string | null; young: number }> {
  if (nodeOptions === undefined) delete process.env.NODE_OPTIONS;
  else process.env.NODE_OPTIONS = nodeOptions;
  const port = await freePort();
  const sb = sandbox({ groups: `[probe]\nlisten = text://127.0.0.1:${port}\nhandler = probe.js\n`, global: 'watch = false', files: { 'probe.js': PROBE } });
  await startDaemon(t, sb);
  const c = await textClient(port);
  c.write('?\n');
  const r = JSON.parse((await c.messages.next()).toString()) as { own: string | null; child: string | null; young: number };
  c.socket.destroy();
  return r;
}

t.test('without NODE_OPTIONS: the young generation is capped, the handler sees no NODE_OPTIONS', async (t) => {
  const r = await probe(t, undefined);
  t.equal(r.own, null);
  t.equal(r.child, null, 'a program the handler runs inherits nothing of Loom');
  t.ok(r.young <= 4 * 1048576, `young generation ${r.young} bytes: 2 semi-spaces of at most 2 MB`);
});

t.test("the user's NODE_OPTIONS are kept, and theirs alone reach the handler and its children", async (t) => {
  const r = await probe(t, '--no-warnings');
  t.equal(r.own, '--no-warnings');
  t.equal(r.child, '--no-warnings');
  t.ok(r.young <= 4 * 1048576, 'still capped');
});

t.test("a user's own --max-semi-space-size wins", async (t) => {
  const r = await probe(t, '--max-semi-space-size=8');
  t.equal(r.own, '--max-semi-space-size=8');
  t.ok(r.young > 4 * 1048576, `young generation ${r.young} bytes: past Loom's cap`);
});

t.test('workerNodeOptions and restoreNodeOptions', async (t) => {
  t.same(workerNodeOptions(undefined), { NODE_OPTIONS: '--max-semi-space-size=2', LOOM_USER_NODE_OPTIONS: '' });
  t.same(workerNodeOptions('--trace-warnings'), { NODE_OPTIONS: '--trace-warnings --max-semi-space-size=2', LOOM_USER_NODE_OPTIONS: '--trace-warnings' });
  t.same(workerNodeOptions('--max-semi-space-size=32'), {}, 'the user chose a size: nothing added');
  const env: NodeJS.ProcessEnv = { NODE_OPTIONS: '--max-semi-space-size=2', LOOM_USER_NODE_OPTIONS: '' };
  restoreNodeOptions(env);
  t.same(env, {});
  const env2: NodeJS.ProcessEnv = { NODE_OPTIONS: '--trace-warnings --max-semi-space-size=2', LOOM_USER_NODE_OPTIONS: '--trace-warnings' };
  restoreNodeOptions(env2);
  t.same(env2, { NODE_OPTIONS: '--trace-warnings' });
  const env3: NodeJS.ProcessEnv = { NODE_OPTIONS: '--inspect' };
  restoreNodeOptions(env3);
  t.same(env3, { NODE_OPTIONS: '--inspect' }, 'not started by Loom: left alone');
});
