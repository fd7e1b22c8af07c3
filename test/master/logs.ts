// SIGUSR2 reopens log_file (master and workers) and stdout_file (workers' output), so
// logrotate can move the files away. The root master never writes or hands over a file
// through a symbolic link planted at those paths.
import t from 'tap';
import { chmodSync, existsSync, readFileSync, renameSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { freePort, loom, masterPid, sandbox, startDaemon, waitFor } from '../helpers/loom';
import { textClient } from '../helpers/clients';
import { daemonPids, killAll } from '../helpers/procs';

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

t.test('a symlinked log_file is refused and the file behind it keeps its owner', { skip: process.getuid?.() !== 0 && 'needs root' }, async (t) => {
  const port = await freePort();
  const sb = sandbox({
    groups: `[echo]\nlisten = text://127.0.0.1:${port}\ncount = 1\nhandler = echo.js\n`,
    global: 'watch = false\nuser = nobody',
    files: { 'echo.js': `module.exports = { onMessage(c, d) { c.send(d); } };` },
  });
  // A start that should fail but did not leaves nothing behind either.
  t.teardown(() => killAll(daemonPids(sb.config)));
  // nobody must be able to load the handler from the (mkdtemp-private) sandbox.
  chmodSync(sb.dir, 0o755);
  chmodSync(sb.handlers, 0o755);
  chmodSync(join(sb.handlers, 'echo.js'), 0o644);
  // Anyone who can write the log directory could plant this link to a file of root's.
  const target = join(sb.dir, 'roots-file');
  writeFileSync(target, 'root only\n', { mode: 0o600 });
  const untouched = (what: string) => {
    t.equal(statSync(target).uid, 0, `${what}: the linked file still belongs to root`);
    t.equal(readFileSync(target, 'utf8'), 'root only\n', `${what}: and holds what it held`);
  };

  for (const [key, file] of [['log_file', sb.logFile], ['stdout_file', sb.stdoutFile]]) {
    rmSync(file, { force: true });
    symlinkSync(target, file);
    const run = await loom(['start', '-d', '-c', sb.config]);
    t.equal(run.code, 1, `start -d with ${key} a symlink exits 1`);
    t.equal(run.stderr, `loom: LOOM_ERR_LOG_FILE ${key} ${file} is a symbolic link, which loom does not follow; set ${key} in [loom] to a writable file\n`, `one line naming ${key}`);
    untouched(`start with ${key} a symlink`);
    rmSync(file);
  }

  await startDaemon(t, sb);
  t.equal(statSync(sb.logFile).uid, 65534, 'the real log file is handed to the workers\' user');
  // Rotated away, and the link planted before SIGUSR2 reopens the file.
  renameSync(sb.logFile, sb.logFile + '.1');
  symlinkSync(target, sb.logFile);
  process.kill(masterPid(sb), 'SIGUSR2');
  const line = `LOOM_ERR_LOG_FILE log_file ${sb.logFile} is a symbolic link, which loom does not follow`;
  await waitFor(() => read(sb.logFile + '.1').includes(line), 'the master to refuse the link, in the log it keeps');
  untouched('SIGUSR2 with log_file a symlink');
});
