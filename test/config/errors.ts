// A bad config.ini through the real CLI: `loom check` and `loom start -d` both exit 2, print
// exactly one line `LOOM_ERR_CONFIG FILE:LINE [section] key: message` per problem (no stack
// trace, no raw control bytes) and start nothing. Each class of problem, one by one, is a unit
// test: test/unit/config-load.ts, config-tls.ts, listen.ts.
import t, { type Test } from 'tap';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { loom, sandbox, type Run } from '../helpers/loom';

const HANDLERS = { 'echo.js': `module.exports = { onMessage(c, d) { c.send(d); } };` };

function lineOf(text: string, needle: string): number {
  const i = text.split('\n').findIndex((l) => l.includes(needle));
  if (i < 0) throw new Error(`"${needle}" not in config:\n${text}`);
  return i + 1;
}

function expectRejected(t: Test, cmd: string, run: Run, lines: string[]): void {
  t.equal(run.code, 2, `${cmd} exits 2`);
  t.same(run.stderr.split('\n').filter((l) => l !== ''), lines, `${cmd}: one line per problem, nothing else`);
  t.equal(run.stdout, '', `${cmd}: nothing on stdout`);
}

t.test('several problems: check and start -d list them all, sorted by line, and start nothing', async (t) => {
  const sb = sandbox({ groups: '', files: { ...HANDLERS, 'not-a-cert.pem': 'hello\n' } });
  const config = `[loom]
pid_file = ${sb.pidFile}
log_file = ${sb.logFile}
stdout_file = ${sb.stdoutFile}
stop_timeout = 0

[a]
listen = unix://${join(sb.dir, 'loom.sock')}
handler = echo.js

[b]
listen = text://127.0.0.1:19000
handler = echo.js
ssl_cert = handlers/not-a-cert.pem
ssl_key = handlers/not-a-cert.pem
co\x1b[31munt = 2
`;
  writeFileSync(sb.config, config);
  const at = (needle: string) => `LOOM_ERR_CONFIG ${sb.config}:${lineOf(config, needle)}`;
  const pem = join(sb.handlers, 'not-a-cert.pem');
  const expected = [
    `${at('stop_timeout')} [loom] stop_timeout: 0 is out of range 0.1-86400`,
    `${at('listen = unix')} [a] listen: ${join(sb.dir, 'loom.sock')} is the control socket of pid_file ${sb.pidFile}; give the socket another path`,
    `${at('ssl_cert')} [b] ssl_cert: ${pem} is not a PEM certificate (no "-----BEGIN CERTIFICATE-----" block)`,
    `${at('ssl_key')} [b] ssl_key: ${pem} is not a PEM private key (no "-----BEGIN PRIVATE KEY-----" block)`,
    `${at('unt = 2')} [b] co\\x1b[31munt: unknown key; a group section takes listen, count, handler, reloadable, max_package_size, max_send_buffer_size, ssl_cert, ssl_key, ssl_ca, root, header_timeout, idle_timeout, permessage_deflate, model, business_count, ping_interval, ping_not_response_limit, ping_data, push_listen, push_token, bus`,
  ];
  for (const args of [['check'], ['start', '-d']]) {
    const cmd = `loom ${args.join(' ')}`;
    expectRejected(t, cmd, await loom([...args, '-c', sb.config]), expected);
    t.notOk(existsSync(sb.pidFile), `${cmd}: no pid file`);
    t.notOk(existsSync(join(sb.dir, 'loom.sock')), `${cmd}: no control socket`);
  }
});

t.test('no such config file', async (t) => {
  const sb = sandbox({ groups: '' });
  const missing = join(sb.dir, 'nope.ini');
  for (const args of [['check'], ['start', '-d']]) {
    expectRejected(t, `loom ${args.join(' ')}`, await loom([...args, '-c', missing]), [`LOOM_ERR_CONFIG ${missing}: no such file (use -c FILE)`]);
  }
});

t.test('a device as config.ini is refused, not read', async (t) => {
  // Read, /dev/zero would never end: loom() kills the CLI at its deadline (code null).
  expectRejected(t, 'loom check', await loom(['check', '-c', '/dev/zero'], { timeoutMs: 20000 }), ['LOOM_ERR_CONFIG /dev/zero: a character device, not a regular file']);
});
