// Every optional key has a default: a config with only the paths in [loom] and only
// listen + handler in a group runs; and README documents every key of the schema.
import t from 'tap';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { freePort, ROOT, sandbox, startDaemon, statusJson } from '../helpers/loom';
import { textClient } from '../helpers/clients';

t.test('optional keys take their defaults: count 1, handlers_dir handlers', async (t) => {
  const port = await freePort();
  const sb = sandbox({ groups: '', files: { 'echo.js': `module.exports = { onMessage(c, d) { c.send('echo:' + d); } };` } });
  writeFileSync(sb.config, `[loom]
pid_file = ${sb.pidFile}
log_file = ${sb.logFile}
stdout_file = ${sb.stdoutFile}

[echo]
listen = text://127.0.0.1:${port}
handler = echo.js
`);
  await startDaemon(t, sb);
  const s = await statusJson(sb);
  t.equal(s.processes.length, 1, 'count defaults to 1');
  t.equal(s.processes[0].group, 'echo');
  t.equal(s.processes[0].workerId, 0);
  const c = await textClient(port);
  c.write('hi\n');
  t.equal((await c.messages.next()).toString(), 'echo:hi', 'the handler from the default handlers_dir answers');
  c.socket.destroy();
});

const README = join(ROOT, 'README.md');
t.test('README documents every config key', { skip: existsSync(README) ? false : 'README.md does not exist yet' }, (t) => {
  // The schema is the one list of keys; read as text, since tests do not import src/.
  const schema = readFileSync(join(ROOT, 'src', 'config', 'schema.ts'), 'utf8');
  const keys = [...schema.matchAll(/\{ key: '([a-z_]+)', scope: '(global|group)'/g)].map((m) => m[1]);
  t.ok(keys.length >= 10, `found the schema's keys (${keys.join(', ')})`);
  const text = readFileSync(README, 'utf8');
  for (const key of keys) t.match(text, new RegExp(`\\b${key}\\b`), `README mentions ${key}`);
  t.end();
});
