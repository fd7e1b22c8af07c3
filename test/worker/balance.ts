// Long-lived connections spread over the workers of a group, whether they arrive one by one
// or in a burst (worker/balance.ts): no worker holds them all. (Without the balancer one
// worker took 40 of 40; the exact thresholds are unit tests, test/unit/balance.ts.)
import t from 'tap';
import { freePort, sandbox, startDaemon, statusJson, waitFor } from '../helpers/loom';
import { textClient, type StreamClient } from '../helpers/clients';

t.test('held connections spread over the workers', async (t) => {
  const port = await freePort();
  const sb = sandbox({
    groups: `[w]\nlisten = text://127.0.0.1:${port}\ncount = 2\nhandler = w.js\n`,
    global: 'watch = false',
    files: { 'w.js': `module.exports = { onMessage(c, d) { c.send(d + ':' + c.worker.id); } };` },
  });
  await startDaemon(t, sb);
  const held: StreamClient[] = [];
  t.teardown(() => { for (const c of held) c.socket.destroy(); });
  const open = async () => {
    const c = await textClient(port);
    held.push(c);
    c.write('who\n');
    return (await c.messages.next()).toString().split(':')[1];
  };

  const sequential: Record<string, number> = {};
  for (let i = 0; i < 40; i++) {
    const id = await open();
    sequential[id] = (sequential[id] ?? 0) + 1;
  }
  t.ok((sequential['0'] ?? 0) >= 4 && (sequential['1'] ?? 0) >= 4, `one by one: ${JSON.stringify(sequential)}`);

  const burst: Record<string, number> = {};
  for (const id of await Promise.all(Array.from({ length: 40 }, open))) burst[id] = (burst[id] ?? 0) + 1;
  t.ok((burst['0'] ?? 0) >= 4 && (burst['1'] ?? 0) >= 4, `in a burst: ${JSON.stringify(burst)}`);

  // Handed-over connections are ordinary ones: counted, and they work both ways.
  const s = await waitFor(async () => {
    const st = await statusJson(sb);
    return st.processes.reduce((n, p) => n + p.connections, 0) === 80 ? st : null;
  }, 'status to count 80 connections');
  t.equal(s.processes.length, 2);
  held[0].write('again\n');
  t.match((await held[0].messages.next()).toString(), /^again:[01]$/);
});
