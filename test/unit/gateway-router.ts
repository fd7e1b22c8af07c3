// The router's hand-over between an old and a new business process of one slot: the new one
// gets nothing until the old one's fence came back (acknowledgements alone are not enough:
// the old process's output may still be on its way to another gateway), then the held events
// in the order they came.
import t from 'tap';
import type { BusLink } from '../../src/bus/bus.js';
import { BusinessLink, BusinessRouter } from '../../src/gateway/router.js';
import { Op, readMessageHead } from '../../src/gateway/protocol.js';
import type { Logger } from '../../src/log/logger.js';

interface Sent { op: number; head: unknown; body?: Buffer | string }

function fakeLink(): BusLink & { sent: Sent[]; closeNow(): void } {
  const link = {
    sent: [] as Sent[],
    closed: false,
    queued: 0,
    onFrame: null,
    onClose: null as (() => void) | null,
    send(op: number, head: unknown, body?: Buffer | string) { link.sent.push({ op, head, body }); },
    whenWritten(callback: () => void) { callback(); },
    close() { link.closeNow(); },
    closeNow() { link.closed = true; link.onClose?.(); },
  };
  return link;
}

const quiet = { error() {}, warn() {}, info() {}, debug() {} } as unknown as Logger;

function business(slot: number, pid: number): BusinessLink & { link: ReturnType<typeof fakeLink> } {
  return new BusinessLink(fakeLink(), { slot, pid, wsc: false }) as BusinessLink & { link: ReturnType<typeof fakeLink> };
}

const messages = (bl: { link: ReturnType<typeof fakeLink> }) => bl.link.sent
  .filter((s) => s.op === Op.Message)
  .map((s) => String(s.body));

const fenceId = (bl: { link: ReturnType<typeof fakeLink> }) => (bl.link.sent.find((s) => s.op === Op.Fence)?.head as { id: number } | undefined)?.id;

t.test('a reload: held until the old process fences, then in order to the new one', async (t) => {
  const router = new BusinessRouter(1, quiet);
  const old = business(0, 100);
  router.attach(old);
  router.route('c1', Op.Message, { c: 'c1', k: 't' }, 'm1');
  router.route('c1', Op.Message, { c: 'c1', k: 't' }, 'm2');
  t.same(messages(old), ['m1', 'm2']);

  const next = business(0, 101);
  router.attach(next);
  t.ok(fenceId(old), 'the old process is asked for a fence');
  router.route('c1', Op.Message, { c: 'c1', k: 't' }, 'm3');
  router.acked(old, 2);
  router.route('c1', Op.Message, { c: 'c1', k: 't' }, 'm4');
  t.same(messages(next), [], 'acknowledged is not enough: nothing goes to the new one before the fence');
  t.equal(router.stats().held, 2);

  router.fenced(old, fenceId(old)! + 1000);
  t.same(messages(next), [], 'a fence answer with another id changes nothing');
  router.fenced(old, fenceId(old)!);
  t.same(messages(next), ['m3', 'm4'], 'after the fence, the held events in order');
  t.same(next.link.sent.filter((s) => s.op === Op.Message).map((s) => readMessageHead(s.head as Buffer).seq), [1, 2], 'numbered on the new link');
  router.route('c1', Op.Message, { c: 'c1', k: 't' }, 'm5');
  t.same(messages(next), ['m3', 'm4', 'm5'], 'then straight through');
  t.same(messages(old), ['m1', 'm2'], 'nothing more to the old one');
  t.equal(router.stats().lost, 0);
});

t.test('a graceful stop (goodbye before the successor): one fence, held until it and the successor are there', async (t) => {
  const router = new BusinessRouter(1, quiet);
  const old = business(0, 100);
  router.attach(old);
  router.leaving(old);
  router.route('c1', Op.Message, { c: 'c1', k: 't' }, 'm1');
  const next = business(0, 101);
  router.attach(next);
  t.equal(old.link.sent.filter((s) => s.op === Op.Fence).length, 1, 'asked once');
  t.same(messages(next), []);
  router.fenced(old, fenceId(old)!);
  t.same(messages(next), ['m1']);
});

t.test('a retiring process that dies: its unhandled events are lost and counted, the slot moves on', async (t) => {
  const router = new BusinessRouter(1, quiet);
  const old = business(0, 100);
  router.attach(old);
  router.route('c1', Op.Message, { c: 'c1', k: 't' }, 'm1');
  const next = business(0, 101);
  router.attach(next);
  router.route('c1', Op.Message, { c: 'c1', k: 't' }, 'm2');
  router.closed(old);
  t.same(messages(next), ['m2']);
  t.equal(router.stats().lost, 1, 'm1 was sent to the dead process and never acknowledged');
});
