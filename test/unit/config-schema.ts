// The schema drives conversion, the config types and README's key table; problem lines carry
// LOOM_ERR_CONFIG and show hostile bytes as escapes.
import t from 'tap';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { LoomError } from '../../src/core/errors.js';
import { ConfigError, formatProblem, printable } from '../../src/config/problems.js';
import { camelCase, convert, findKey, keyTableMarkdown, SCHEMA, type KeySpec } from '../../src/config/schema.js';

const ROOT = join(__dirname, '..', '..');

t.test("README's key table is the one generated from the schema", async (t) => {
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
  const table = /<!-- config-table[^\n]*-->\n([\s\S]*?)\n<!-- \/config-table -->/.exec(readme)?.[1];
  t.equal(table, keyTableMarkdown(), 'if not: node scripts/config-table.mjs rewrites it');
});

t.test('every key has a field name and a doc; keys are unique per scope', async (t) => {
  const seen = new Set<string>();
  for (const k of SCHEMA) {
    t.notOk(seen.has(`${k.scope}.${k.key}`), `${k.key} once in ${k.scope}`);
    seen.add(`${k.scope}.${k.key}`);
    t.match(camelCase(k.key), /^[a-z][A-Za-z]*$/);
    t.ok(k.doc.endsWith('.'), `${k.key} is documented`);
  }
  t.equal(camelCase('max_send_buffer_size'), 'maxSendBufferSize');
});

t.test('convert: values by type', async (t) => {
  const spec = (scope: 'global' | 'group', key: string): KeySpec => {
    const k = findKey(scope, key);
    if (!k) throw new Error(`no key ${key}`);
    return k;
  };
  const watch = spec('global', 'watch');
  for (const yes of ['true', 'TRUE', 'yes', 'on', '1']) t.equal(convert(watch, yes), true, yes);
  for (const no of ['false', 'No', 'off', '0']) t.equal(convert(watch, no), false, no);
  const count = spec('group', 'count');
  t.equal(convert(count, ' 12 '), 12);
  t.equal(convert(count, '+3'), 3);
  t.throws(() => convert(count, '1e3'), { message: '"1e3" is not a number' });
  t.throws(() => convert(count, '1025'), { message: '1025 is out of range 1-1024' });
  const stop = spec('global', 'stop_timeout');
  t.equal(convert(stop, '.5'), 0.5);
  t.equal(convert(stop, '2.'), 2);
  t.throws(() => convert(stop, 'NaN'), { message: '"NaN" is not a number' });
  t.throws(() => convert(stop, 'Infinity'), { message: '"Infinity" is not a number' });
  const name = spec('global', 'name');
  t.equal(convert(name, 'n'.repeat(32)), 'n'.repeat(32), '32 characters are allowed');
  t.throws(() => convert(name, 'n'.repeat(33)), { message: `"${'n'.repeat(33)}" is 33 characters long; at most 32` });
  t.same(convert(spec('group', 'listen'), 'text://127.0.0.1:1'), { url: 'text://127.0.0.1:1', protocol: 'text', transport: 'tcp', host: '127.0.0.1', port: 1, path: '' });
});

t.test('problem lines: LOOM_ERR_CONFIG, then FILE:LINE [section] key: message', async (t) => {
  t.equal(formatProblem({ file: '/etc/loom/config.ini', line: 7, section: 'echo', key: 'count', message: 'bad' }), 'LOOM_ERR_CONFIG /etc/loom/config.ini:7 [echo] count: bad');
  t.equal(formatProblem({ file: '/c.ini', line: 0, section: '', key: '', message: 'no worker group' }), 'LOOM_ERR_CONFIG /c.ini: no worker group');
  t.equal(formatProblem({ file: '/c.ini', line: 3, section: 'x', key: '', message: 'section repeated' }), 'LOOM_ERR_CONFIG /c.ini:3 [x]: section repeated');
  const err = new ConfigError([
    { file: '/c.ini', line: 1, section: 'a', key: 'k', message: 'one' },
    { file: '/c.ini', line: 2, section: 'b', key: 'k', message: 'two' },
  ]);
  t.ok(err instanceof LoomError);
  t.equal(err.code, 'LOOM_ERR_CONFIG');
  t.equal(err.message, 'LOOM_ERR_CONFIG /c.ini:1 [a] k: one\nLOOM_ERR_CONFIG /c.ini:2 [b] k: two');
  t.equal(err.problems.length, 2);
});

t.test('printable: what could drive a terminal is escaped, other text is kept', async (t) => {
  t.equal(printable('\x1b[2J\x07\x00\x7f\x9b'), '\\x1b[2J\\x07\\x00\\x7f\\x9b', 'C0, DEL and C1 controls');
  t.equal(printable('a\tb\r\nc'), 'a\\tb\\r\\nc');
  t.equal(printable('\u202egnp.exe \u200b \u2028'), '\\u{202e}gnp.exe \\u{200b} \\u{2028}', 'bidi override, zero-width space, line separator');
  t.equal(printable('grüße 日本 café \ufffd'), 'grüße 日本 café \ufffd', 'printable non-ASCII stays');
  t.equal(formatProblem({ file: '/c.ini', line: 1, section: 'a\x1bb', key: 'k\x1b', message: 'v\x1b' }), 'LOOM_ERR_CONFIG /c.ini:1 [a\\x1bb] k\\x1b: v\\x1b');
});
