// Two gateways × two business processes: clients held by different gateways reach each other
// by client id, uid and group; counts and id lists are right; sessions persist across messages
// and vanish on close; sendToAll with only/exclude lists; closeClient.
import t from 'tap';
import { freePort, loom, sandbox, startDaemon, waitFor } from '../helpers/loom';
import { API_HANDLER, gatewayOf, gwClient, spreadClients, type GwClient } from '../helpers/gateway';

t.test('the gateway API across two gateways and two business processes', async (t) => {
  const port = await freePort();
  const sb = sandbox({
    groups: `[chat]\nmodel = gateway\nlisten = ws://127.0.0.1:${port}\ncount = 2\nbusiness_count = 2\nhandler = api.js\n`,
    global: 'watch = false',
    files: { 'api.js': API_HANDLER },
  });
  await startDaemon(t, sb);
  const clients = await spreadClients(port, 2);
  t.teardown(() => { for (const c of clients) c.ws.terminate(); });
  const [a, b] = [clients[0], clients.find((c) => gatewayOf(c) !== gatewayOf(clients[0]))!];
  const others = clients.filter((c) => c !== a && c !== b);
  t.not(gatewayOf(a), gatewayOf(b), 'a and b are held by different gateways');
  t.equal(new Set(clients.map((c) => c.id)).size, clients.length, 'client ids are unique');

  t.test('by client id', async (t) => {
    t.equal(await a.call('sendToClient', b.id, 'to b'), true, 'sendToClient returns true');
    t.equal(await b.messages.next(), 'to b');
    t.equal(await a.call('sendToClient', `${gatewayOf(a)}zzzz`, 'nobody'), true, 'an unknown id on a live gateway: sent, to no one');
    t.equal(await a.call('sendToClient', 'ffffffffff1', 'nobody'), false, 'an id of no gateway: false');
    t.equal(await a.call('isOnline', b.id), true);
    t.equal(await b.call('isOnline', 'ffffffffff1'), false);
    // JSON values go out as JSON text; Buffers (as the handler gets them) are a test of their own.
    t.equal(await a.call('sendToClient', b.id, { n: 1 }), true);
    t.equal(await b.messages.next(), '{"n":1}');
  });

  t.test('by uid', async (t) => {
    await b.call('bindUid', b.id, 'bob');
    await a.call('bindUid', a.id, 'alice');
    t.same(await waitFor(async () => {
      const ids = (await a.call('getClientIdsByUid', 'bob')) as string[];
      return ids.length === 1 ? ids : null;
    }, 'bob to be bound'), [b.id]);
    t.equal(await a.call('isUidOnline', 'bob'), true);
    t.equal(await a.call('isUidOnline', 'nobody'), false);
    await a.call('sendToUid', 'bob', 'hi bob');
    t.equal(await b.messages.next(), 'hi bob');
    await b.call('sendToUid', ['bob', 'alice'], 'both');
    t.equal(await a.messages.next(), 'both');
    t.equal(await b.messages.next(), 'both');
    // A uid bound twice has two clients; unbindUid removes one.
    const third = others[0];
    await third.call('bindUid', third.id, 'bob');
    await waitFor(async () => ((await a.call('getClientIdsByUid', 'bob')) as string[]).length === 2, 'two clients for bob');
    await third.call('unbindUid', third.id, 'bob');
    await waitFor(async () => ((await a.call('getClientIdsByUid', 'bob')) as string[]).length === 1, 'one client for bob again');
  });

  t.test('by group, with exclusions; counts and lists', async (t) => {
    const members = [a, b, others[0]];
    for (const m of members) await m.call('joinGroup', m.id, 'room');
    await waitFor(async () => (await a.call('getClientCountByGroup', 'room')) === 3, 'three in room');
    t.same(((await b.call('getClientIdsByGroup', 'room')) as string[]).sort(), members.map((m) => m.id).sort());
    t.same(((await b.call('getUidsByGroup', 'room')) as string[]).sort(), ['alice', 'bob'], 'uids of the room (others[0] has none)');
    await a.call('sendToGroup', 'room', 'room msg', [a.id]);
    t.equal(await b.messages.next(), 'room msg');
    t.equal(await others[0].messages.next(), 'room msg');
    t.equal(await a.call('getAllClientCount'), clients.length, 'every client counted once');
    await others[0].call('leaveGroup', others[0].id, 'room');
    await waitFor(async () => (await a.call('getClientCountByGroup', 'room')) === 2, 'two left in room');
    await a.call('ungroup', 'room');
    await waitFor(async () => (await a.call('getClientCountByGroup', 'room')) === 0, 'room gone');
    // Nothing was delivered to a: it was excluded.
    await a.call('sendToClient', a.id, 'marker');
    t.equal(await a.messages.next(), 'marker', 'a got nothing before its marker');
  });

  t.test('sendToAll, only and exclude', async (t) => {
    await a.call('sendToAll', 'everyone');
    for (const c of clients) t.equal(await c.messages.next(), 'everyone', `${c.id} got everyone`);
    await a.call('sendToAll', 'some', [a.id, b.id, others[0].id], [b.id]);
    t.equal(await a.messages.next(), 'some');
    t.equal(await others[0].messages.next(), 'some');
    await a.call('sendToAll', 'most', null, [a.id]);
    for (const c of clients.filter((c) => c !== a)) t.equal(await c.messages.next(), 'most');
    // A broadcast is framed once for all: a long one (64-bit length), and binary.
    const long = 'é'.repeat(40000);
    await a.call('sendToAll', long);
    for (const c of clients) t.equal(await c.messages.next(), long, `${c.id} got the 80,000-byte message whole`);
    // b got no "some": its next delivery is a marker.
    await a.call('sendToClient', b.id, 'marker');
    t.equal(await b.messages.next(), 'marker', 'b was excluded from "some"');
    await a.call('sendToClient', a.id, 'marker');
    t.equal(await a.messages.next(), 'marker', 'a was excluded from "most"');
  });

  t.test('sessions persist across messages, are seen by other processes, and vanish on close', async (t) => {
    const c = others[1] ?? others[0];
    t.same(await c.call('session', 0), {}, 'an empty session at first');
    c.ws.send(JSON.stringify({ op: 'session', set: { nick: 'carol', n: 1 } }));
    t.same((await c.results.next()).r, { nick: 'carol', n: 1 });
    c.ws.send(JSON.stringify({ op: 'session', set: { n: 2 } }));
    t.same((await c.results.next()).r, { nick: 'carol', n: 2 }, 'the next message sees the session');
    t.same(await a.call('getSession', c.id), { nick: 'carol', n: 2 }, 'getSession from another client');
    await a.call('updateSession', c.id, { extra: true });
    await waitFor(async () => ((await b.call('getSession', c.id)) as { extra?: boolean } | null)?.extra === true, 'updateSession merged');
    await a.call('setSession', c.id, { only: 'this' });
    await waitFor(async () => JSON.stringify(await b.call('getSession', c.id)) === '{"only":"this"}', 'setSession replaced');
    c.ws.close();
    await c.closed;
    await waitFor(async () => (await a.call('isOnline', c.id)) === false, 'the closed client to be offline');
    t.equal(await a.call('getSession', c.id), null, 'its session is gone');
  });

  t.test('closeClient with a last message', async (t) => {
    const d = await gwClient(port);
    await a.call('closeClient', d.id, 'bye now');
    t.equal(await d.messages.next(), 'bye now');
    await d.closed;
    t.pass('closed by the gateway');
  });

  t.test('connections lists the clients with their uid and groups', async (t) => {
    await b.call('joinGroup', b.id, 'lobby');
    type Row = { group: string; clientId?: string; uid?: string | null; groups?: string[] };
    const row = await waitFor(async () => {
      const rows = JSON.parse((await loom(['connections', '--json', '-c', sb.config])).stdout) as Row[];
      const r = rows.find((x) => x.clientId === b.id);
      return r?.groups?.includes('lobby') ? r : null;
    }, "b's row with its group");
    t.equal(row.group, 'chat/gateway');
    t.equal(row.uid, 'bob');
    const table = await loom(['connections', '-c', sb.config]);
    t.match(table.stdout, new RegExp(`${b.id}\\s+bob\\s+lobby`), 'the table shows client, uid and groups');
  });

  t.test('status shows the gateway group', async (t) => {
    const r = await loom(['status', '--json', '-c', sb.config]);
    const s = JSON.parse(r.stdout) as { processes: { group: string; gateway?: { clients: number } }[] };
    const gateways = s.processes.filter((p) => p.group === 'chat/gateway');
    t.equal(gateways.length, 2, 'two gateway processes');
    t.equal(s.processes.filter((p) => p.group === 'chat/business').length, 2, 'two business processes');
    t.ok(gateways.every((g) => typeof g.gateway?.clients === 'number'), 'each gateway reports its clients');
  });
});

/** Keeps a reference so the test's clients are not collected early. */
export type { GwClient };
