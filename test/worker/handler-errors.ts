// A handler that throws, synchronously or through a rejected promise, leaves the worker
// serving: same pid, the same connection and the others still answered, the error counted
// in status and logged as LOOM_ERR_HANDLER with the handler's file and line.
import t from 'tap';
import { mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { freePort, sandbox, startDaemon, statusJson, waitFor } from '../helpers/loom';
import { textClient, type StreamClient } from '../helpers/clients';

// Line numbers matter: the log must point at lines 3, 4 and 7.
const BAD = `module.exports = {
  onMessage(c, d) {
    if (d === 'boom') throw new Error('sync boom');
    if (d === 'reject') return Promise.reject(new Error('rejected boom'));
    if (d === 'later') return (async () => {
      await new Promise((r) => setTimeout(r, 10));
      throw new Error('async boom');
    })();
    c.send('ok:' + d);
  },
};
`;

t.test('handler errors leave the worker serving', async (t) => {
  const port = await freePort();
  const sb = sandbox({
    groups: `[bad]\nlisten = text://127.0.0.1:${port}\ncount = 1\nhandler = bad.js\n`,
    files: { 'bad.js': BAD },
  });
  await startDaemon(t, sb);
  const clients: StreamClient[] = [];
  t.teardown(() => { for (const c of clients) c.socket.destroy(); });
  const open = async () => { const c = await textClient(port); clients.push(c); return c; };
  const ask = async (c: StreamClient, msg: string) => {
    c.write(`${msg}\n`);
    return (await c.messages.next()).toString();
  };
  const worker = async () => {
    const p = (await statusJson(sb)).processes.find((x) => x.group === 'bad');
    if (!p) throw new Error('status lists no worker of group bad');
    return p;
  };

  const a = await open();
  const b = await open();
  t.equal(await ask(a, 'hello'), 'ok:hello');
  const pid = (await worker()).pid;

  a.write('boom\n');
  t.equal(await ask(a, 'after-boom'), 'ok:after-boom', 'the same connection is answered after a sync throw');
  t.equal(await ask(b, 'other'), 'ok:other', 'another connection is answered');

  a.write('reject\n');
  t.equal(await ask(a, 'after-reject'), 'ok:after-reject', 'the same connection is answered after a rejected promise');
  b.write('later\n');
  t.equal(await ask(b, 'after-later'), 'ok:after-later', 'answered while an async handler is about to throw');

  const after = await waitFor(async () => {
    const p = await worker();
    return p.handlerErrors >= 3 ? p : null;
  }, 'status to count 3 handler errors');
  t.equal(after.handlerErrors, 3, 'each error counted once');
  t.equal(after.pid, pid, 'the worker was not restarted');
  t.equal((await statusJson(sb)).groups.find((g) => g.name === 'bad')?.deaths, 0, 'no worker died');
  t.equal(await ask(await open(), 'fresh'), 'ok:fresh', 'a new connection is served');

  const log = await waitFor(() => {
    const text = sb.log();
    return /async boom/.test(text) ? text : null;
  }, 'the async error in the log');
  const lines = log.split('\n').filter((l) => l.includes('LOOM_ERR_HANDLER'));
  t.equal(lines.length, 3, 'one LOOM_ERR_HANDLER line per error');
  t.match(lines.find((l) => l.includes('sync boom')), /bad\.js:3\b/, 'the sync throw is located at bad.js:3');
  t.match(lines.find((l) => l.includes('rejected boom')), /bad\.js:4\b/, 'the rejection is located at bad.js:4');
  t.match(lines.find((l) => l.includes('async boom')), /bad\.js:7\b/, 'the async throw is located at bad.js:7');
  t.notMatch(log, /^\s+at /m, 'no bare stack trace in the log');
});

// Deployments often reach their files through symlinks (a `current -> releases/N` directory,
// a handler linked in from a shared checkout). Node reports the real path in stacks; the log
// must still name the handler file and line.
t.test('the error location survives symlinked paths', async (t) => {
  const [port, linkedPort] = [await freePort(), await freePort()];
  const base = sandbox({
    groups: `[bad]\nlisten = text://127.0.0.1:${port}\ncount = 1\nhandler = bad.js\n\n`
      + `[linked]\nlisten = text://127.0.0.1:${linkedPort}\ncount = 1\nhandler = linked.js\n`,
    files: { 'bad.js': BAD },
  });
  // A handler file that is a symlink to a file outside handlers_dir.
  mkdirSync(join(base.dir, 'shared'));
  writeFileSync(join(base.dir, 'shared', 'lib.js'), BAD);
  symlinkSync(join(base.dir, 'shared', 'lib.js'), join(base.handlers, 'linked.js'));
  // The whole tree reached through a symlinked directory, config.ini included.
  const current = join(base.dir, 'current');
  symlinkSync(base.dir, current);
  const sb = { ...base, config: join(current, 'config.ini') };
  await startDaemon(t, sb);
  const clients: StreamClient[] = [];
  t.teardown(() => { for (const c of clients) c.socket.destroy(); });
  for (const p of [port, linkedPort]) {
    const c = await textClient(p);
    clients.push(c);
    c.write('boom\nhello\n');
    t.equal((await c.messages.next()).toString(), 'ok:hello', `worker on port ${p} still answers`);
  }
  const lines = await waitFor(() => {
    const found = sb.log().split('\n').filter((l) => l.includes('LOOM_ERR_HANDLER'));
    return found.length >= 2 ? found : null;
  }, 'two LOOM_ERR_HANDLER lines');
  t.match(lines.find((l) => l.includes('bad#')), /LOOM_ERR_HANDLER .*\bbad\.js:3\b/, 'handlers_dir behind a symlink: bad.js:3');
  t.match(lines.find((l) => l.includes('linked#')), /LOOM_ERR_HANDLER .*\b(lib|linked)\.js:3\b/, 'a symlinked handler file: its file and line');
});
