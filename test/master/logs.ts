// SIGUSR2 reopens log_file (master and workers) and stdout_file (workers' output), so
// logrotate can move the files away.
import t from 'tap';
import { existsSync, readFileSync, renameSync } from 'node:fs';
import { freePort, masterPid, sandbox, startDaemon, waitFor } from '../helpers/loom';
import { textClient } from '../helpers/clients';

const read = (f: string) => (existsSync(f) ? readFileSync(f, 'utf8') : '');

t.test('SIGUSR2 reopens the log and stdout files', async (t) => {
  const port = await freePort();
  const sb = sandbox({
    groups: `[echo]\nlisten = text://127.0.0.1:${port}\ncount = 2\nhandler = echo.js\n`,
    global: 'watch = false',
    files: { 'echo.js': `module.exports = { onMessage(c, d) {\n  console.log('out:' + d);\n  if (d.startsWith('boom')) throw new Error(d);\n  c.send(d + ':' + c.worker.id);\n} };\n` },
  });
  await startDaemon(t, sb);
  const c = await textClient(port);
  const say = async (line: string) => { c.write(line + '\n'); if (!line.startsWith('boom')) await c.messages.next(); };

  await say('before');
  await waitFor(() => read(sb.stdoutFile).includes('out:before'), 'handler output in stdout_file');
  await say('boom-before');
  await waitFor(() => read(sb.logFile).includes('boom-before'), 'handler error in log_file');

  renameSync(sb.logFile, sb.logFile + '.1');
  renameSync(sb.stdoutFile, sb.stdoutFile + '.1');
  process.kill(masterPid(sb), 'SIGUSR2');
  await waitFor(() => read(sb.logFile).includes('log files reopened'), 'the master to reopen log_file');

  await say('after');
  await waitFor(() => read(sb.stdoutFile).includes('out:after'), 'output to go to the new stdout_file');
  t.notOk(read(sb.stdoutFile + '.1').includes('out:after'), 'nothing more in the rotated stdout_file');
  // Both workers must have reopened: find a connection on each, make each log an error.
  // Held open, connections spread over the workers (worker/balance.ts).
  const byWorker = new Map<string, Awaited<ReturnType<typeof textClient>>>();
  const held: Awaited<ReturnType<typeof textClient>>[] = [];
  for (let i = 0; i < 50 && byWorker.size < 2; i++) {
    const k = await textClient(port);
    held.push(k);
    k.write('who\n');
    const id = (await k.messages.next()).toString().split(':')[1];
    if (!byWorker.has(id)) byWorker.set(id, k);
  }
  t.equal(byWorker.size, 2, 'a connection on each worker');
  for (const [id, k] of byWorker) k.write(`boom-after-${id}\n`);
  await waitFor(() => /boom-after-0/.test(read(sb.logFile)) && /boom-after-1/.test(read(sb.logFile)), 'both workers to log into the new log_file');
  t.notOk(read(sb.logFile + '.1').includes('boom-after'), 'nothing more in the rotated log_file');
  for (const k of held) k.socket.destroy();
  c.socket.destroy();
});
