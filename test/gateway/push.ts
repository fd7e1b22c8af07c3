// The push API of a gateway group, end to end: the real daemon (two gateways, two business
// processes), real WebSocket clients spread over both gateways, and the API called with fetch,
// with raw HTTP on a fresh connection per request, and with the README's curl commands.
//
// "Nothing arrived" is proven with a marker: once a check's requests are answered, a marker is
// sent to every client through the API, and what each client got before it is compared whole.
import t, { type Test } from 'tap';
import WebSocket from 'ws';
import { execFile, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { request } from 'node:http';
import { join } from 'node:path';
import { MessageQueue } from '../helpers/clients';
import { ROOT, freePort, sandbox, startDaemon, waitFor } from '../helpers/loom';

const TOKEN = 's3cret';
const hasCurl = spawnSync('curl', ['--version']).status === 0;

// `uid NAME` binds the client to NAME, `join ROOM` puts it in a group, `name X` sets
// client.session.name; each is answered `ok COMMAND` after the bind or join (they travel on
// one ordered link to the client's gateway, so the answer means it is done).
const HANDLER = `module.exports = {
  onConnect(client) { client.send('id ' + client.id); },
  onMessage(client, message) {
    const [cmd, arg] = String(message).split(' ');
    if (cmd === 'uid') client.gateway.bindUid(client.id, arg);
    else if (cmd === 'join') client.gateway.joinGroup(client.id, arg);
    else if (cmd === 'name') client.session.name = arg;
    client.send('ok ' + message);
  },
};
`;

interface Client {
  name: string;
  ws: WebSocket;
  id: string;
  /** The id's first 10 characters: which gateway holds the client. */
  gateway: string;
  queue: MessageQueue<string>;
  closed: Promise<number>;
  next(): Promise<string>;
  /** Sends a handler command and waits for its `ok`. */
  command(text: string): Promise<void>;
}

async function connectClient(url: string, name: string): Promise<Client> {
  const ws = new WebSocket(url);
  const queue = new MessageQueue<string>();
  ws.on('message', (data: Buffer) => queue.push(data.toString()));
  const closed = new Promise<number>((resolve) => ws.once('close', (code: number) => resolve(code)));
  await new Promise<void>((resolve, reject) => { ws.once('open', () => resolve()); ws.once('error', reject); });
  const hello = await queue.next(10000);
  if (!hello.startsWith('id ')) throw new Error(`expected the client id first, got ${hello}`);
  const id = hello.slice(3);
  const client: Client = {
    name, ws, id, gateway: id.slice(0, 10), queue, closed,
    next: () => queue.next(10000),
    async command(text) {
      ws.send(text);
      const answer = await client.next();
      if (answer !== `ok ${text}`) throw new Error(`${name}: expected "ok ${text}", got "${answer}"`);
    },
  };
  return client;
}

interface Answer { status: number; headers: Record<string, string>; text: string; body: { ok: boolean; result?: unknown; error?: string } | null }

function parse(text: string): Answer['body'] {
  try { return JSON.parse(text) as Answer['body']; } catch { return null; }
}

/** One request on a connection of its own (so successive requests meet either business process). */
function rawRequest(port: number, method: string, path: string, headers: Record<string, string>, body?: string | Buffer): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, method, agent: false, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString();
        const h: Record<string, string> = {};
        for (const [k, v] of Object.entries(res.headers)) if (typeof v === 'string') h[k] = v;
        resolve({ status: res.statusCode ?? 0, headers: h, text, body: parse(text) });
      });
    });
    req.on('error', reject);
    req.end(body);
  });
}

const sorted = (list: unknown): unknown => (Array.isArray(list) ? [...(list as string[])].sort() : list);

t.test('push API', async (t) => {
  const [port, pushPort] = [await freePort(), await freePort()];
  const sb = sandbox({
    groups: `[chat]
model = gateway
listen = ws://127.0.0.1:${port}
count = 2
business_count = 2
handler = chat.js
push_listen = 127.0.0.1:${pushPort}
push_token = ${TOKEN}
`,
    global: 'watch = false',
    files: { 'chat.js': HANDLER },
  });
  await startDaemon(t, sb);
  const base = `http://127.0.0.1:${pushPort}`;
  const auth = { authorization: `Bearer ${TOKEN}` };

  /** A call through fetch (one kept-alive connection). */
  const call = async (method: string, args: unknown[], headers: Record<string, string> = auth): Promise<Answer> => {
    const res = await fetch(`${base}/${method}`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify({ args }) });
    const text = await res.text();
    return { status: res.status, headers: Object.fromEntries(res.headers), text, body: parse(text) };
  };
  /** The same on a fresh connection. */
  const callRaw = (method: string, args: unknown[]): Promise<Answer> => rawRequest(pushPort, 'POST', `/${method}`, auth, JSON.stringify({ args }));
  const result = async (method: string, ...args: unknown[]): Promise<unknown> => {
    const a = await call(method, args);
    if (a.status !== 200 || a.body?.ok !== true) throw new Error(`${method}: ${a.status} ${a.text}`);
    return a.body.result;
  };

  // Clients until each gateway holds at least two (the kernel picks the gateway).
  const clients: Client[] = [];
  t.teardown(() => { for (const c of clients) c.ws.terminate(); });
  const byGateway = new Map<string, Client[]>();
  for (let i = 0; [...byGateway.values()].filter((l) => l.length >= 2).length < 2; i++) {
    if (i === 40) throw new Error(`40 clients and not two on each of the two gateways: ${[...byGateway].map(([k, l]) => `${k} ${l.length}`).join(', ')}`);
    const c = await connectClient(`ws://127.0.0.1:${port}`, `client ${i}`);
    clients.push(c);
    byGateway.set(c.gateway, [...(byGateway.get(c.gateway) ?? []), c]);
  }
  t.equal(byGateway.size, 2, 'two gateways hold the clients');
  const spare = await connectClient(`ws://127.0.0.1:${port}`, 'spare');
  clients.push(spare);
  const [onA, onB] = [...byGateway.values()];
  const [alice1, carol] = onA;
  const [alice2, bob] = onB;
  Object.assign(alice1, { name: 'alice1' });
  Object.assign(alice2, { name: 'alice2' });
  Object.assign(bob, { name: 'bob' });
  Object.assign(carol, { name: 'carol' });
  await alice1.command('uid alice');
  await alice2.command('uid alice');
  await bob.command('uid bob');
  await alice1.command('join room1');
  await bob.command('join room1');
  await alice1.command('join room2');
  await carol.command('join room2');

  let live = [...clients];
  let markers = 0;
  /** What each live client got since the last check must be exactly `want` (nothing for the others). */
  const expectReceived = async (t: Test, what: string, want: [Client, string[]][]): Promise<void> => {
    const marker = `marker ${++markers}`;
    await result('sendToAll', marker);
    for (const c of live) {
      const got: string[] = [];
      for (let m = await c.next(); m !== marker; m = await c.next()) got.push(m);
      t.strictSame(got, want.find(([w]) => w === c)?.[1] ?? [], `${what}: ${c.name}`);
    }
  };

  t.test('sendToUid reaches every client bound to the uid, on either gateway, and no other', async (t) => {
    const a = await call('sendToUid', ['alice', 'to alice']);
    t.strictSame([a.status, a.body], [200, { ok: true, result: true }], '200 {"ok": true, "result": true}');
    t.match(a.headers['content-type'], /^application\/json/);
    await expectReceived(t, 'one uid', [[alice1, ['to alice']], [alice2, ['to alice']]]);
    await result('sendToUid', ['alice', 'bob'], 'to both');
    await expectReceived(t, 'a list of uids', [[alice1, ['to both']], [alice2, ['to both']], [bob, ['to both']]]);
    t.equal(await result('sendToUid', 'nobody', 'lost'), true, 'a uid nobody has: true (the gateways were told), nothing sent');
    await expectReceived(t, 'an unknown uid', []);
  });

  t.test('sendToGroup reaches the members, once each, except the excluded', async (t) => {
    await result('sendToGroup', 'room1', 'to room1');
    await expectReceived(t, 'one group', [[alice1, ['to room1']], [bob, ['to room1']]]);
    await result('sendToGroup', 'room1', 'not bob', [bob.id]);
    await expectReceived(t, 'excludeClientIds', [[alice1, ['not bob']]]);
    await result('sendToGroup', ['room1', 'room2'], 'two rooms');
    await expectReceived(t, 'two groups, alice1 in both', [[alice1, ['two rooms']], [bob, ['two rooms']], [carol, ['two rooms']]]);
  });

  t.test('sendToClient and sendToAll', async (t) => {
    await result('sendToClient', carol.id, 'to carol');
    await result('sendToClient', bob.id, { json: [1, 2] });
    await expectReceived(t, 'sendToClient, a string and a JSON value', [[carol, ['to carol']], [bob, ['{"json":[1,2]}']]]);
    await result('sendToAll', 'to all');
    await expectReceived(t, 'sendToAll', live.map((c) => [c, ['to all']]));
    await result('sendToAll', 'only', [alice2.id, carol.id, bob.id], [bob.id]);
    await expectReceived(t, 'sendToAll with onlyClientIds and excludeClientIds', [[alice2, ['only']], [carol, ['only']]]);
    await result('sendToAll', 'all but', null, [alice1.id, bob.id]);
    await expectReceived(t, 'sendToAll with excludeClientIds', live.filter((c) => c !== alice1 && c !== bob).map((c) => [c, ['all but']]));
  });

  t.test('questions', async (t) => {
    await carol.command('name Carol');
    t.equal(await result('getAllClientCount'), live.length, 'getAllClientCount');
    t.strictSame(sorted(await result('getClientIdsByUid', 'alice')), [alice1.id, alice2.id].sort(), 'getClientIdsByUid, across gateways');
    t.strictSame(await result('getClientIdsByUid', 'nobody'), [], 'getClientIdsByUid of an unknown uid');
    t.equal(await result('isUidOnline', 'bob'), true);
    t.equal(await result('isUidOnline', 'nobody'), false);
    t.equal(await result('isOnline', carol.id), true);
    t.equal(await result('isOnline', `${carol.id}zz`), false, 'isOnline of an id no one has');
    t.equal(await result('getClientCountByGroup', 'room1'), 2);
    t.strictSame(sorted(await result('getClientIdsByGroup', 'room2')), [alice1.id, carol.id].sort());
    t.strictSame(sorted(await result('getUidsByGroup', 'room1')), ['alice', 'bob']);
    t.strictSame(await result('getUidsByGroup', 'room2'), ['alice'], 'carol has no uid');
    await waitFor(async () => JSON.stringify(await result('getSession', carol.id)) === '{"name":"Carol"}', 'the session the handler set');
    t.strictSame(await result('getSession', bob.id), {}, 'a session never set: {}');
    t.equal(await result('getSession', `${carol.id}zz`), null, 'getSession of a client not online: null');
    t.equal(await result('getClientCountByGroup', 'nowhere'), 0);
  });

  t.test('commands take effect before the answer: the next request, on any business process, sees them', async (t) => {
    // Each request on a fresh connection, so they land on either business process.
    const p = spare;
    for (let i = 0; i < 40; i++) {
      t.equal((await callRaw('joinGroup', [p.id, `g${i}`])).status, 200);
      t.equal((await callRaw('sendToGroup', [`g${i}`, `m${i}`])).status, 200);
      t.equal((await callRaw('bindUid', [p.id, `u${i}`])).status, 200);
      t.strictSame((await callRaw('getClientIdsByUid', [`u${i}`])).body?.result, [p.id]);
      t.equal((await callRaw('setSession', [p.id, { i }])).status, 200);
      t.strictSame((await callRaw('getSession', [p.id])).body?.result, { i });
      t.equal((await callRaw('leaveGroup', [p.id, `g${i}`])).status, 200);
      t.equal((await callRaw('getClientCountByGroup', [`g${i}`])).body?.result, 0);
    }
    await callRaw('unbindUid', [p.id, 'u39']);
    t.equal((await callRaw('isUidOnline', ['u39'])).body?.result, false, 'unbindUid');
    await callRaw('updateSession', [p.id, { more: true }]);
    t.strictSame((await callRaw('getSession', [p.id])).body?.result, { i: 39, more: true }, 'updateSession merges');
    await expectReceived(t, 'every group message, in order', [[p, Array.from({ length: 40 }, (_, i) => `m${i}`)]]);
  });

  t.test('ungroup and closeClient', async (t) => {
    await result('ungroup', 'room2');
    t.equal(await result('getClientCountByGroup', 'room2'), 0, 'the group is gone');
    await result('sendToGroup', 'room2', 'to an ungrouped room');
    await expectReceived(t, 'ungroup', []);
    t.equal(await result('getClientCountByGroup', 'room1'), 2, 'other groups stay');

    t.equal(await result('closeClient', carol.id, 'bye carol'), true);
    t.equal(await carol.next(), 'bye carol', 'closeClient sends the message first');
    t.equal(await carol.closed, 1000, 'then closes');
    live = live.filter((c) => c !== carol);
    await waitFor(async () => (await result('getAllClientCount')) === live.length, 'the count to drop by one');
    t.equal(await result('isOnline', carol.id), false);
  });

  t.test('a missing or wrong token: 401 and nothing done', async (t) => {
    const before = await result('getAllClientCount');
    const tries: [string, Record<string, string>][] = [
      ['no Authorization header', {}],
      ['a wrong token', { authorization: 'Bearer wrong' }],
      ['a prefix of the token', { authorization: `Bearer ${TOKEN.slice(0, -1)}` }],
      ['the token and more', { authorization: `Bearer ${TOKEN}x` }],
      ['the token in another case', { authorization: `Bearer ${TOKEN.toUpperCase()}` }],
      ['the token as Basic credentials', { authorization: `Basic ${TOKEN}` }],
      ['the token alone', { authorization: TOKEN }],
      ['an empty bearer', { authorization: 'Bearer ' }],
    ];
    for (const [what, headers] of tries) {
      for (const [method, args] of [['sendToAll', ['intruder']], ['sendToUid', ['alice', 'intruder']], ['closeClient', [bob.id]], ['bindUid', [bob.id, 'mallory']]] as const) {
        const a = await call(method, [...args], headers);
        t.strictSame([a.status, a.body?.ok], [401, false], `${what}: ${method} → 401`);
        t.equal(a.headers['www-authenticate'], 'Bearer', 'WWW-Authenticate: Bearer');
      }
    }
    const unknown = await call('noSuchMethod', [], {});
    t.equal(unknown.status, 401, 'an unknown method without the token: 401, not 404 (method names are not revealed)');
    t.equal((await call('sendToAll', ['lower-case scheme'], { authorization: `bearer ${TOKEN}` })).status, 200, 'the scheme is case-insensitive');
    await expectReceived(t, 'nothing from the refused requests', live.map((c) => [c, ['lower-case scheme']]));
    t.equal(await result('getAllClientCount'), before, 'no client closed');
    t.equal(await result('isUidOnline', 'mallory'), false, 'nothing bound');
  });

  t.test('bad requests: 400, 404, 405, 413, and nothing done', async (t) => {
    const post = (path: string, body: string | Buffer, headers: Record<string, string> = auth) => rawRequest(pushPort, 'POST', path, headers, body);
    const bad = async (what: string, a: Answer, status: number, error: RegExp) => {
      t.equal(a.status, status, `${what}: ${status}`);
      t.equal(a.body?.ok, false, `${what}: ok false`);
      t.match(a.body?.error, error, `${what}: says why`);
    };
    await bad('bad JSON', await post('/sendToAll', '{"args": ["x"'), 400, /^bad JSON/);
    await bad('args not an array', await post('/sendToAll', '{"args": "x"}'), 400, /"args" must be an array/);
    await bad('a body that is not an object', await post('/sendToAll', '["x"]'), 400, /an object/);
    await bad('a missing argument', await post('/sendToUid', '{"args": ["alice"]}'), 400, /message/);
    await bad('no arguments at all', await post('/sendToClient', ''), 400, /clientId/);
    await bad('an id that is an object', await post('/sendToUid', '{"args": [{"a": 1}, "x"]}'), 400, /uid/);
    await bad('a session that is not an object', await post('/setSession', JSON.stringify({ args: [bob.id, 'text'] })), 400, /session/);
    await bad('excludeClientIds not a list', await post('/sendToAll', '{"args": ["x", null, "abc"]}'), 400, /excludeClientIds/);
    await bad('too many arguments', await post('/sendToClient', JSON.stringify({ args: [bob.id, 'x', 'y'] })), 400, /at most 2/);
    await bad('an unknown method', await post('/noSuchMethod', '{"args": []}'), 404, /no such method/);
    await bad('a prototype name', await post('/constructor', '{"args": []}'), 404, /no such method/);
    await bad('GET on a method', await rawRequest(pushPort, 'GET', '/getAllClientCount', auth), 405, /POST/);
    t.equal((await rawRequest(pushPort, 'GET', '/getAllClientCount', auth)).headers.allow, 'POST', 'Allow: POST');
    await bad('a body over 1 MiB', await post('/sendToAll', JSON.stringify({ args: ['x'.repeat(1024 * 1024)] })), 413, /over 1048576 bytes/);
    const huge = await fetch(`${base}/sendToAll`, { method: 'POST', headers: auth, body: JSON.stringify({ args: ['y'.repeat(1024 * 1024)] }) });
    t.equal(huge.status, 413, 'a body over 1 MiB through fetch: 413');
    await huge.text();
    t.equal((await post('/sendToClient', JSON.stringify({ args: [bob.id, 'z'.repeat(1024 * 1024 - 100)] }))).status, 200, 'a body of just under 1 MiB is taken');
    await expectReceived(t, 'nothing from the bad requests', [[bob, ['z'.repeat(1024 * 1024 - 100)]]]);
    t.equal((await post('/getAllClientCount?x=1', '')).body?.result, live.length, 'a query string is ignored; an empty body is no arguments');
  });

  t.test('the README\'s curl examples, as written', { skip: !hasCurl && 'curl is not installed' }, async (t) => {
    const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
    const section = /^### Push API\n([\s\S]*?)(?=^##)/m.exec(readme)?.[1] ?? '';
    t.match(section, /push_listen = 127\.0\.0\.1:8081/, 'README shows the config the examples are for');
    // The examples for the config above (the one for config.ini's chat is the browser test's push).
    const commands = section.split('\n').filter((l) => l.startsWith('curl ') && l.includes('127.0.0.1:8081'));
    t.same(commands.map((c) => /\/(\w+)$/.exec(c)?.[1]), ['sendToUid', 'sendToGroup', 'getClientIdsByUid'], 'one example each');
    const curl = (command: string) => new Promise<{ out: string; err: string }>((resolve, reject) => {
      execFile('sh', ['-c', command.replaceAll('127.0.0.1:8081', `127.0.0.1:${pushPort}`)], (err, out, stderr) => (err ? reject(err) : resolve({ out, err: stderr })));
    });
    const [toUid, toGroup, question] = commands;
    t.strictSame(JSON.parse((await curl(toUid)).out), { ok: true, result: true }, toUid);
    const uidMessage = /"args": \["alice", "([^"]*)"\]/.exec(toUid)?.[1];
    t.strictSame(JSON.parse((await curl(toGroup)).out), { ok: true, result: true }, toGroup);
    const groupMessage = /"args": \["room1", "([^"]*)"\]/.exec(toGroup)?.[1];
    await expectReceived(t, 'curl', [[alice1, [uidMessage ?? '?', groupMessage ?? '?']], [alice2, [uidMessage ?? '?']], [bob, [groupMessage ?? '?']]]);
    const answer = JSON.parse((await curl(question)).out) as { ok: boolean; result: string[] };
    t.strictSame([answer.ok, sorted(answer.result)], [true, [alice1.id, alice2.id].sort()], question);
  });
});
