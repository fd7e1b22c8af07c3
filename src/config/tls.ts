// ssl_cert / ssl_key / ssl_ca are parsed when config.ini is read, so a file that is not PEM,
// or a key that belongs to another certificate, is a config line from `check` (and an aborted
// start or reload) rather than a bare OpenSSL message from a worker that failed to start.
import { LoomError } from '../core/errors.js';
import { createPrivateKey, X509Certificate, type KeyObject } from 'node:crypto';
import { createSecureContext } from 'node:tls';
import { readSmallFile } from './files.js';

export type TlsKey = 'ssl_cert' | 'ssl_key' | 'ssl_ca';
export interface TlsProblem { key: TlsKey; message: string }

const CERT_BLOCK = /-----BEGIN CERTIFICATE-----[^-]*-----END CERTIFICATE-----/g;
const KEY_BEGIN = /-----BEGIN ((RSA|EC|DSA|ENCRYPTED) )?PRIVATE KEY-----/;

/** Problems with the TLS files of a group, each for the key whose file is at fault. */
export function checkTlsFiles(certFile: string, keyFile: string, caFile: string | null): TlsProblem[] {
  const problems: TlsProblem[] = [];
  const fail = (key: TlsKey, message: string) => { problems.push({ key, message }); };
  const read = (key: TlsKey, file: string): Buffer | null => {
    try {
      return readSmallFile(file);
    } catch (err) {
      fail(key, `${file}: ${(err as Error).message}`);
      return null;
    }
  };

  const cert = read('ssl_cert', certFile);
  const chain = cert && parseCertificates(cert, certFile, (m) => fail('ssl_cert', m));
  const keyBytes = read('ssl_key', keyFile);
  const key = keyBytes && parseKey(keyBytes.toString('latin1'), keyFile, (m) => fail('ssl_key', m));
  const ca = caFile === null ? null : read('ssl_ca', caFile);
  if (ca && caFile !== null) parseCertificates(ca, caFile, (m) => fail('ssl_ca', m));
  if (problems.length > 0 || !chain || !key || !cert || !keyBytes) return problems;

  if (!chain[0].checkPrivateKey(key)) {
    fail('ssl_key', `${keyFile} is not the private key of the certificate in ${certFile} (${chain[0].subject.replace(/\n/g, ', ')})`);
    return problems;
  }
  // What the listener will do with them, for what the checks above cannot see (a key too weak
  // for OpenSSL's security level, an unsupported algorithm).
  try {
    createSecureContext({ cert, key: keyBytes, ...(ca ? { ca } : {}) });
  } catch (err) {
    fail('ssl_cert', `TLS refuses ${certFile} with ${keyFile}: ${(err as Error).message}`);
  }
  return problems;
}

/** Every certificate of a PEM file (a chain or a CA bundle), or null after reporting. */
function parseCertificates(bytes: Buffer, file: string, fail: (message: string) => void): X509Certificate[] | null {
  const text = bytes.toString('latin1');
  const blocks = text.match(CERT_BLOCK) ?? [];
  if (blocks.length === 0) {
    fail(`${file} is not a PEM certificate (no "-----BEGIN CERTIFICATE-----" block)${notPemHint(bytes, text)}`);
    return null;
  }
  const out: X509Certificate[] = [];
  for (let i = 0; i < blocks.length; i++) {
    try {
      out.push(new X509Certificate(blocks[i]));
    } catch (err) {
      const which = blocks.length > 1 ? `certificate ${i + 1} of ${blocks.length} in ${file}` : `the certificate in ${file}`;
      fail(`${which} does not parse (${(err as Error).message})`);
      return null;
    }
  }
  return out;
}

/** What a file that should hold PEM certificates holds instead, when that is easy to tell. */
function notPemHint(bytes: Buffer, text: string): string {
  if (KEY_BEGIN.test(text)) return '; it holds a private key, which is ssl_key\'s';
  try {
    new X509Certificate(bytes);
    return '; it is a DER certificate: convert it with openssl x509 -inform der -in FILE -out FILE.pem';
  } catch {
    return '';
  }
}

function parseKey(text: string, file: string, fail: (message: string) => void): KeyObject | null {
  const begin = KEY_BEGIN.exec(text);
  if (!begin) {
    const hint = text.includes('-----BEGIN CERTIFICATE-----') ? "; it holds a certificate, which is ssl_cert's" : '';
    fail(`${file} is not a PEM private key (no "-----BEGIN PRIVATE KEY-----" block)${hint}`);
    return null;
  }
  if (begin[2] === 'ENCRYPTED' || /^Proc-Type: 4,ENCRYPTED/m.test(text)) {
    fail(`${file} is encrypted; Loom has no passphrase to open it: write the key unencrypted (openssl pkey -in KEY -out KEY.plain)`);
    return null;
  }
  try {
    return createPrivateKey(text);
  } catch (err) {
    fail(`the private key in ${file} does not parse (${(err as Error).message})`);
    return null;
  }
}

/** The PEM text of a group's TLS files, as the workers get it. */
export interface TlsMaterial { cert: string; key: string; ca?: string }

/**
 * Reads ssl_cert/ssl_key/ssl_ca. The master does (as root, like nginx), and hands the text to
 * its workers: a key readable by root alone still serves workers running as `user`. Each spawn
 * reads again, so a reload picks up renewed certificates.
 */
export function readTlsMaterial(files: { cert: string; key: string; ca: string | null }): TlsMaterial {
  const read = (key: TlsKey, file: string) => {
    try {
      return readSmallFile(file).toString('utf8');
    } catch (err) {
      throw new LoomError('LOOM_ERR_WORKER_START', `cannot read ${key} ${file}: ${(err as Error).message}`);
    }
  };
  return {
    cert: read('ssl_cert', files.cert),
    key: read('ssl_key', files.key),
    ...(files.ca ? { ca: read('ssl_ca', files.ca) } : {}),
  };
}
