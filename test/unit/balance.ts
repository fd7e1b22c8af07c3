// The hand-off balancer of a worker (src/worker/balance.ts), with fake sockets: when a fresh
// connection is handed to the master instead of served here.
import t from 'tap';
import type { Socket } from 'node:net';
import { Balancer } from '../../src/worker/balance';
import { newStats } from '../../src/core/stats';

function fakeSocket(): Socket & { destroyed_: boolean } {
  const s = { _handle: { fd: 3 }, destroyed_: false, destroy() { s.destroyed_ = true; } };
  return s as unknown as Socket & { destroyed_: boolean };
}

function setup() {
  const stats = newStats();
  const sent: { done?: () => void }[] = [];
  const b = new Balancer(stats, (_m, _h, done) => { sent.push({ done }); });
  return { stats, sent, b };
}

t.test('alone in its group a worker keeps everything', async (t) => {
  const { stats, b } = setup();
  stats.connections = 1000;
  t.notOk(b.handOff(fakeSocket()));
});

t.test('within the slack (8, or a quarter of the sibling) nothing is handed off', async (t) => {
  const { stats, b } = setup();
  b.update(0, 1);
  stats.connections = 7;
  t.notOk(b.handOff(fakeSocket()), '7 against 0: within 8');
  b.update(100, 1);
  stats.connections = 124;
  t.notOk(b.handOff(fakeSocket()), '124 against 100: within 25');
});

t.test('past the slack a fresh connection goes to the master, and is closed here once sent', async (t) => {
  const { stats, sent, b } = setup();
  b.update(0, 1);
  stats.connections = 8;
  const s = fakeSocket();
  t.ok(b.handOff(s), '8 against 0: handed off');
  t.equal(stats.handedOff, 1);
  t.equal(sent.length, 1);
  t.notOk(s.destroyed_, 'our copy stays open until the handle is sent');
  sent[0].done!();
  t.ok(s.destroyed_, 'then it is closed (the master holds a copy)');
});

t.test('a burst spreads: each hand-off counts against the sibling until the next update', async (t) => {
  const { stats, sent, b } = setup();
  b.update(0, 1);
  stats.connections = 8;
  let handed = 0;
  for (let i = 0; i < 10; i++) if (b.handOff(fakeSocket())) handed++;
  t.equal(handed, 1, 'the sibling counted as 1 more: 8 against 1 is within the slack');
  t.equal(sent.length, 1);
});

t.test('at most 64 hand-offs in flight', async (t) => {
  const { stats, sent, b } = setup();
  stats.connections = 10_000;
  b.update(0, 1);
  let handed = 0;
  for (let i = 0; i < 100; i++) if (b.handOff(fakeSocket())) handed++;
  t.equal(handed, 64, 'the 65th is served here rather than queued');
  sent[0].done!();
  t.ok(b.handOff(fakeSocket()), 'one finished: room for another');
});

t.test('a socket without a handle (closed already) is not handed off', async (t) => {
  const { stats, b } = setup();
  stats.connections = 100;
  b.update(0, 1);
  const s = fakeSocket();
  (s as unknown as { _handle: null })._handle = null;
  t.notOk(b.handOff(s));
});
