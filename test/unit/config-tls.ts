// ssl_cert / ssl_key / ssl_ca are parsed when config.ini is loaded: what is not PEM, a key
// that is not the certificate's, an encrypted key or a key OpenSSL refuses is a config line
// (so `check` finds it and a start or reload stops before any worker meets it).
import t from 'tap';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '../../src/config/load.js';
import { formatProblem } from '../../src/config/problems.js';
import { hasOpenssl } from '../helpers/tls';

const DIR = mkdtempSync(join(tmpdir(), 'loom-config-tls-'));
t.teardown(() => rmSync(DIR, { recursive: true, force: true }));
mkdirSync(join(DIR, 'handlers'));
writeFileSync(join(DIR, 'handlers', 'echo.js'), 'module.exports = {};\n');
const file = (name: string) => join(DIR, name);
const openssl = (...args: string[]) => execFileSync('openssl', args, { stdio: 'ignore' });

/** A self-signed certificate and its key, a.pem + a.key (EC: quick to make). */
function pair(name: string): void {
  openssl('req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '1',
    '-subj', `/CN=${name}`, '-keyout', file(`${name}.key`), '-out', file(`${name}.pem`));
}

let n = 0;
/** Problem lines of a config whose one group has these TLS lines (after a listen line). */
function problems(tlsLines: string, listen = 'text://127.0.0.1:9000') {
  const config = file(`config-${++n}.ini`);
  const text = `[loom]\npid_file = ${DIR}/loom.pid\nlog_file = ${DIR}/loom.log\nstdout_file = ${DIR}/stdout.log\n\n[g]\nlisten = ${listen}\nhandler = echo.js\n${tlsLines}`;
  writeFileSync(config, text);
  const r = loadConfig(config);
  const at = (key: string) => `${config}:${text.split('\n').findIndex((l) => l.startsWith(`${key} =`)) + 1} [g] ${key}`;
  return { r, lines: r.problems.map(formatProblem), at: (key: string, message: string) => `LOOM_ERR_CONFIG ${at(key)}: ${message}` };
}

t.test('TLS files', { skip: !hasOpenssl && 'needs openssl' }, async (t) => {
  pair('a');
  pair('b');
  writeFileSync(file('chain.pem'), readFileSync(file('a.pem'), 'latin1') + readFileSync(file('b.pem'), 'latin1'));
  writeFileSync(file('text.pem'), 'this is not a certificate\n');
  openssl('x509', '-in', file('a.pem'), '-outform', 'der', '-out', file('a.der'));
  openssl('pkey', '-in', file('a.key'), '-aes256', '-passout', 'pass:secret', '-out', file('encrypted.key'));
  const aPem = readFileSync(file('a.pem'), 'latin1');
  writeFileSync(file('broken-chain.pem'), aPem + aPem.replace(/^(-----BEGIN CERTIFICATE-----\n)MII/, '$1XXX'));

  t.test('a certificate and its key pass, also with a chain and a CA bundle', async (t) => {
    const { r, lines } = problems(`ssl_cert = a.pem\nssl_key = a.key\nssl_ca = b.pem\n`);
    t.same(lines, []);
    t.same(r.config?.groups[0].tls, { cert: file('a.pem'), key: file('a.key'), ca: file('b.pem') });
    t.same(problems(`ssl_cert = chain.pem\nssl_key = a.key\n`).lines, [], 'the first certificate of a chain is the one the key must match');
  });

  t.test('not PEM', async (t) => {
    const p = problems(`ssl_cert = text.pem\nssl_key = a.key\n`);
    t.same(p.lines, [p.at('ssl_cert', `${file('text.pem')} is not a PEM certificate (no "-----BEGIN CERTIFICATE-----" block)`)]);
    const der = problems(`ssl_cert = a.der\nssl_key = a.key\n`);
    t.same(der.lines, [der.at('ssl_cert', `${file('a.der')} is not a PEM certificate (no "-----BEGIN CERTIFICATE-----" block); it is a DER certificate: convert it with openssl x509 -inform der -in FILE -out FILE.pem`)]);
    const key = problems(`ssl_cert = a.pem\nssl_key = text.pem\n`);
    t.same(key.lines, [key.at('ssl_key', `${file('text.pem')} is not a PEM private key (no "-----BEGIN PRIVATE KEY-----" block)`)]);
    const ca = problems(`ssl_cert = a.pem\nssl_key = a.key\nssl_ca = text.pem\n`);
    t.same(ca.lines, [ca.at('ssl_ca', `${file('text.pem')} is not a PEM certificate (no "-----BEGIN CERTIFICATE-----" block)`)]);
  });

  t.test('certificate and key swapped', async (t) => {
    const p = problems(`ssl_cert = a.key\nssl_key = a.pem\n`);
    t.same(p.lines, [
      p.at('ssl_cert', `${file('a.key')} is not a PEM certificate (no "-----BEGIN CERTIFICATE-----" block); it holds a private key, which is ssl_key's`),
      p.at('ssl_key', `${file('a.pem')} is not a PEM private key (no "-----BEGIN PRIVATE KEY-----" block); it holds a certificate, which is ssl_cert's`),
    ]);
  });

  t.test("a key that is not the certificate's", async (t) => {
    const p = problems(`ssl_cert = a.pem\nssl_key = b.key\n`);
    t.same(p.lines, [p.at('ssl_key', `${file('b.key')} is not the private key of the certificate in ${file('a.pem')} (CN=a)`)]);
  });

  t.test('an encrypted key', async (t) => {
    const p = problems(`ssl_cert = a.pem\nssl_key = encrypted.key\n`);
    t.same(p.lines, [p.at('ssl_key', `${file('encrypted.key')} is encrypted; Loom has no passphrase to open it: write the key unencrypted (openssl pkey -in KEY -out KEY.plain)`)]);
  });

  t.test('a certificate that does not parse', async (t) => {
    const p = problems(`ssl_cert = broken-chain.pem\nssl_key = a.key\n`);
    t.equal(p.lines.length, 1);
    t.match(p.lines[0], p.at('ssl_cert', `certificate 2 of 2 in ${file('broken-chain.pem')} does not parse (`));
  });

  t.test('a device or a FIFO in place of a file: refused, not read', async (t) => {
    execFileSync('mkfifo', [file('fifo.key')]);
    const p = problems(`ssl_cert = /dev/zero\nssl_key = fifo.key\n`);
    t.same(p.lines, [
      p.at('ssl_cert', '/dev/zero: a character device, not a regular file'),
      p.at('ssl_key', `${file('fifo.key')}: a FIFO, not a regular file`),
    ]);
  });

  t.test('a key OpenSSL refuses to serve with', async (t) => {
    openssl('genpkey', '-algorithm', 'rsa', '-pkeyopt', 'rsa_keygen_bits:512', '-out', file('weak.key'));
    openssl('req', '-x509', '-key', file('weak.key'), '-days', '1', '-subj', '/CN=weak', '-out', file('weak.pem'));
    const p = problems(`ssl_cert = weak.pem\nssl_key = weak.key\n`);
    t.equal(p.lines.length, 1);
    t.match(p.lines[0], p.at('ssl_cert', `TLS refuses ${file('weak.pem')} with ${file('weak.key')}: `));
    t.match(p.lines[0], /key too small/);
  });

  t.test('TLS over udp', async (t) => {
    const p = problems(`ssl_cert = a.pem\nssl_key = a.key\n`, 'udp://127.0.0.1:9000');
    t.same(p.lines, [p.at('ssl_cert', 'TLS cannot run over udp')]);
  });
});
