import t from 'tap';
import { freePort, sandbox, startDaemon, statusJson, waitFor } from '../helpers/loom';
import { textClient } from '../helpers/clients';

t.test('text echo through the real daemon, two workers', async (t) => {
  const port = await freePort();
  const sb = sandbox({
    groups: `[echo]\nlisten = text://127.0.0.1:${port}\ncount = 2\nhandler = echo.js\n`,
    files: { 'echo.js': `module.exports = { onMessage(c, d) { c.send('echo:' + d + ':' + c.worker.id); } };` },
  });
  await startDaemon(t, sb);
  const c = await textClient(port);
  c.write('hello\nworld\r\n');
  t.match((await c.messages.next()).toString(), /^echo:hello:[01]$/);
  t.match((await c.messages.next()).toString(), /^echo:world:[01]$/);
  const s = await waitFor(async () => {
    const st = await statusJson(sb);
    return st.processes.reduce((n, p) => n + p.totalRequests, 0) === 2 ? st : null;
  }, 'status to count 2 requests');
  t.equal(s.processes.length, 2);
  c.socket.destroy();
});
