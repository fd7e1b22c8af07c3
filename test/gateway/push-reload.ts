// The push API while the business processes (which serve it) are reloaded: callers pushing
// the whole time, on a fresh connection per request and on a kept-alive one, get every
// request answered 200, and the client gets every message once, in each caller's order.
import t from 'tap';
import WebSocket from 'ws';
import { request } from 'node:http';
import { MessageQueue } from '../helpers/clients';
import { freePort, loom, sandbox, startDaemon, statusJson, waitFor } from '../helpers/loom';

const HANDLER = `module.exports = { onConnect(client) { client.send('id ' + client.id); } };\n`;

t.test('pushing through three reloads of the business processes', async (t) => {
  const [port, pushPort] = [await freePort(), await freePort()];
  const sb = sandbox({
    groups: `[chat]\nmodel = gateway\nlisten = ws://127.0.0.1:${port}\ncount = 2\nbusiness_count = 2\nhandler = chat.js\npush_listen = 127.0.0.1:${pushPort}\npush_token = s3cret\n`,
    global: 'watch = false\nreload_timeout = 2',
    files: { 'chat.js': HANDLER },
  });
  await startDaemon(t, sb);
  const ws = new WebSocket(`ws://127.0.0.1:${port}`);
  t.teardown(() => ws.terminate());
  const queue = new MessageQueue<string>();
  ws.on('message', (d: Buffer) => queue.push(d.toString()));
  await new Promise((resolve) => ws.once('open', resolve));
  const hello = await queue.next(10000);
  t.match(hello, /^id /);
  const id = hello.slice(3);
  const auth = { authorization: 'Bearer s3cret' };

  /** On a connection of its own: the status, or the error. */
  const fresh = (message: string) => new Promise<string>((resolve) => {
    const req = request({ host: '127.0.0.1', port: pushPort, path: '/sendToClient', method: 'POST', agent: false, headers: auth }, (res) => {
      res.resume();
      res.on('end', () => resolve(String(res.statusCode)));
    });
    req.on('error', (err) => resolve(`error ${err.message}`));
    req.end(JSON.stringify({ args: [id, message] }));
  });
  const keptAlive = async (message: string) => {
    try {
      const res = await fetch(`http://127.0.0.1:${pushPort}/sendToClient`, { method: 'POST', headers: auth, body: JSON.stringify({ args: [id, message] }) });
      await res.text();
      return String(res.status);
    } catch (err) {
      return `error ${(err as Error).message} ${String((err as { cause?: unknown }).cause)}`;
    }
  };

  let stop = false;
  const sent = new Map<string, string[]>();
  const failures: string[] = [];
  const caller = async (name: string, send: (m: string) => Promise<string>) => {
    const list: string[] = [];
    sent.set(name, list);
    for (let i = 0; !stop; i++) {
      const status = await send(`${name} ${i}`);
      if (status === '200') list.push(`${name} ${i}`);
      else failures.push(`${name} ${i}: ${status}`);
    }
  };
  const callers = Promise.all([caller('a', fresh), caller('b', fresh), caller('c', keptAlive)]);

  const businessPids = async () => (await statusJson(sb)).processes.filter((p) => p.group === 'chat/business').map((p) => p.pid).sort();
  const before = await businessPids();
  t.equal(before.length, 2);
  /** Until every caller had n more requests answered. */
  const more = async (n: number, what: string) => {
    const counts = [...sent.values()].map((l) => l.length);
    await waitFor(() => [...sent.values()].every((l, i) => l.length >= counts[i] + n), what);
  };
  for (let k = 0; k < 3; k++) {
    await more(20, `pushes before reload ${k + 1}`);
    const r = await loom(['reload', '-c', sb.config]);
    t.equal(r.code, 0, `reload ${k + 1}: ${r.stderr}`);
  }
  await waitFor(async () => (await businessPids()).every((pid) => !before.includes(pid)), 'new business processes');
  await more(20, 'pushes after the reloads');
  stop = true;
  await callers;

  t.strictSame(failures, [], 'every request answered 200');
  // Every message once, in each caller's order.
  const got = new Map<string, string[]>([...sent.keys()].map((k) => [k, []]));
  const total = [...sent.values()].reduce((n, l) => n + l.length, 0);
  for (let n = 0; n < total; n++) {
    const m = await queue.next(10000);
    got.get(m.split(' ')[0])?.push(m);
  }
  for (const [name, list] of sent) t.strictSame(got.get(name), list, `caller ${name}: ${list.length} messages, each once, in order`);
  t.equal(queue.length, 0, 'nothing else');
});
