// Every optional key has a default: a config with only the paths in [loom] and only
// listen + handler in a group runs. (README's key table is checked against the schema by
// test/unit/config-schema.ts.)
import t from 'tap';
import { writeFileSync } from 'node:fs';
import { freePort, sandbox, startDaemon, statusJson } from '../helpers/loom';
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
