// handlers/chat.js without a browser: what a hostile or hurried client may try (back-to-back
// logins, one nickname asked by many at once, a flood), and a business reload in the middle of
// a conversation. test/gateway/browser.ts drives the page itself.
import t from 'tap';
import { cpSync } from 'node:fs';
import { join } from 'node:path';
import WebSocket from 'ws';
import { ROOT, freePort, loom, sandbox, startDaemon, waitFor } from '../helpers/loom';

interface Said { type: string; [k: string]: unknown }
interface Client { ws: WebSocket; got: Said[]; send(m: unknown): void; next(pred: (m: Said) => boolean, what: string): Promise<Said> }

async function client(t: { teardown(fn: () => unknown): void }, port: number): Promise<Client> {
  const ws = new WebSocket(`ws://127.0.0.1:${port}/`);
  t.teardown(() => ws.terminate());
  const got: Said[] = [];
  ws.on('message', (d) => got.push(JSON.parse(String(d)) as Said));
  await new Promise((resolve, reject) => { ws.once('open', resolve); ws.once('error', reject); });
  const c: Client = {
    ws, got,
    send: (m) => ws.send(JSON.stringify(m)),
    next: (pred, what) => waitFor(() => got.find(pred), what),
  };
  await c.next((m) => m.type === 'welcome', 'the welcome');
  return c;
}


t.test('chat.js', async (t) => {
  const port = await freePort();
  const sb = sandbox({ groups: `[chat]\nmodel = gateway\nlisten = ws://127.0.0.1:${port}\ncount = 2\nbusiness_count = 2\nhandler = chat.js\n` });
  cpSync(join(ROOT, 'handlers'), sb.handlers, { recursive: true });
  await startDaemon(t, sb);

  t.test('logins back to back: the first one wins, the others are refused', async (t) => {
    const a = await client(t, port);
    a.send({ type: 'login', name: 'x1' });
    a.send({ type: 'login', name: 'x2' });
    const room = await a.next((m) => m.type === 'room', 'the room');
    t.equal(room.name, 'x1');
    // The second is refused as "busy" while the first is handled, or, on a slow machine where
    // the first finished before it, as "you are x1 already": either way, not taken.
    const refusal = await a.next((m) => m.type === 'error' && (m.about === 'login' || /already/.test(String(m.text))), 'the refusal');
    t.ok(refusal, 'the second login is refused');
    a.send({ type: 'login', name: 'x3' }); // later: the session (from the gateway) already has a name
    const isSecond = (m: { type?: unknown; text?: unknown }) => m !== refusal && m.type === 'error' && /already/.test(String(m.text));
    t.match(await a.next(isSecond, 'the later refusal'), { text: 'you are x1 already' });
    a.send({ type: 'say', text: 'still x1' });
    t.equal((await a.next((m) => m.type === 'say', 'her line')).from, 'x1', 'the name did not change');
  });

  t.test('one nickname asked by eight clients at once: at most one gets it', async (t) => {
    const cs = await Promise.all(Array.from({ length: 8 }, () => client(t, port)));
    for (const c of cs) c.send({ type: 'login', name: 'same' });
    const answers = await Promise.all(cs.map((c) => c.next((m) => m.type === 'room' || m.type === 'error', 'an answer')));
    t.ok(answers.filter((m) => m.type === 'room').length <= 1, 'never two holders of one uid');
    t.ok(answers.every((m) => m.type === 'room' || /taken/.test(String(m.text))), 'the others hear it is taken');
  });

  t.test('a flood is cut at the rate limit, and said once', async (t) => {
    const f = await client(t, port);
    f.send({ type: 'login', name: 'flood' });
    await f.next((m) => m.type === 'room', 'the room');
    for (let i = 0; i < 60; i++) f.send({ type: 'say', text: `line ${i}` });
    // The warning is sent only for a dropped message; the burst (20, the login one of them) always passes. How many
    // more pass depends on how fast the machine is: the bucket refills 5 a second.
    await f.next((m) => m.type === 'error' && /slow down/.test(String(m.text)), 'the warning');
    await waitFor(() => f.got.filter((m) => m.type === 'say').length >= 19, 'the burst (less the login) to get through');
    t.ok(f.got.filter((m) => m.type === 'say').length < 60, 'not every line got through');
  });

  t.test('a business reload keeps nicknames, rooms and connections', async (t) => {
    const a = await client(t, port);
    const b = await client(t, port);
    a.send({ type: 'login', name: 'ann', room: 'random' });
    await a.next((m) => m.type === 'room', 'her room');
    b.send({ type: 'login', name: 'ben', room: 'random' });
    await b.next((m) => m.type === 'room', 'his room');
    const r = await loom(['reload', '-c', sb.config]);
    t.equal(r.code, 0, r.stderr);
    a.send({ type: 'say', text: 'after the reload' });
    t.match(await b.next((m) => m.type === 'say', 'her line'), { from: 'ann', room: 'random', text: 'after the reload' });
    b.send({ type: 'private', to: 'ann', text: 'still here' });
    t.match(await a.next((m) => m.type === 'private', 'his private line'), { from: 'ben', to: 'ann' });
    t.equal(a.ws.readyState, WebSocket.OPEN);
    t.equal(b.ws.readyState, WebSocket.OPEN);
  });
});
