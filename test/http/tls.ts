// TLS on any TCP listener: https, wss, TLS text; a plain client on a TLS port fails cleanly;
// `loom reload` picks up a new certificate.
import t from 'tap';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
import { connect } from 'node:net';
import { request } from 'node:https';
import WebSocket from 'ws';
import { freePort, loom, sandbox, startDaemon, statusJson, waitFor } from '../helpers/loom';
import { hasOpenssl, makeCert } from '../helpers/tls';

function tlsLine(port: number, line: string): Promise<{ reply: string; fingerprint: string }> {
  return new Promise((resolve, reject) => {
    const s: TLSSocket = tlsConnect({ port, host: '127.0.0.1', rejectUnauthorized: false }, () => s.write(line + '\n'));
    let b = '';
    s.on('data', (d) => {
      b += d;
      if (b.includes('\n')) { const fingerprint = s.getPeerCertificate().fingerprint256; s.end(); resolve({ reply: b.trim(), fingerprint }); }
    });
    s.on('error', reject);
  });
}

t.test('TLS listeners', { skip: !hasOpenssl && 'openssl is not installed' }, async (t) => {
  const [https, wss, text] = [await freePort(), await freePort(), await freePort()];
  const sb = sandbox({
    groups: `[https]\nlisten = http://127.0.0.1:${https}\nhandler = h.js\nssl_cert = cert.pem\nssl_key = key.pem\n\n` +
      `[wss]\nlisten = ws://127.0.0.1:${wss}\nhandler = h.js\nssl_cert = cert.pem\nssl_key = key.pem\n\n` +
      `[text]\nlisten = text://127.0.0.1:${text}\ncount = 2\nhandler = h.js\nssl_cert = cert.pem\nssl_key = key.pem\n`,
    global: 'watch = false',
    files: { 'h.js': `module.exports = { onMessage(c, d) { c.send(typeof d === 'string' ? 'tls:' + d : 'tls:' + d.path); } };` },
  });
  makeCert(sb.dir);
  await startDaemon(t, sb);

  const body = await new Promise<string>((resolve, reject) => {
    request({ host: '127.0.0.1', port: https, path: '/secure', rejectUnauthorized: false }, (res) => {
      let b = '';
      res.on('data', (c) => { b += c; });
      res.on('end', () => resolve(b));
    }).on('error', reject).end();
  });
  t.equal(body, 'tls:/secure', 'https round trip');

  const ws = new WebSocket(`wss://127.0.0.1:${wss}/x`, { rejectUnauthorized: false });
  await new Promise((r, j) => { ws.once('open', r); ws.once('error', j); });
  ws.send('over-wss');
  t.equal(String(await new Promise((r) => ws.once('message', r))), 'tls:over-wss', 'wss round trip');
  ws.close();

  const first = await tlsLine(text, 'hello');
  t.equal(first.reply, 'tls:hello', 'TLS text round trip');

  // Plain text to the TLS port: that connection fails, the worker does not.
  const plain = await new Promise<string>((resolve) => {
    const s = connect(text, '127.0.0.1', () => s.write('hello in clear\n'));
    let b = '';
    s.on('data', (d) => { b += d; });
    s.on('close', () => resolve(b));
    s.on('error', () => resolve(b));
  });
  t.notMatch(plain, /tls:/, 'no answer in clear text');
  t.equal((await tlsLine(text, 'again')).reply, 'tls:again', 'the worker still serves TLS');
  const st = await waitFor(async () => {
    const s = await statusJson(sb);
    return s.processes.some((p) => p.group === 'text' && p.badPackets > 0) ? s : null;
  }, 'the failed handshake to be counted');
  t.ok(st);

  // New certificate + reload: served from then on.
  makeCert(sb.dir);
  const r = await loom(['reload', '-c', sb.config]);
  t.equal(r.code, 0, r.stderr);
  const after = await tlsLine(text, 'new');
  t.not(after.fingerprint, first.fingerprint, 'reload picked up the new certificate');
});
