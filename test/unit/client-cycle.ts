// The async clients' one life cycle (src/clients/cycle.ts), driven with a fake transport: when
// attempts start, which errors reach onError, onClose after every attempt, retries, the queue of
// early sends, close/destroy/reconnect in each phase, and a worker's graceful stop.
import t from 'tap';
import { ClientCycle, type ClientTransport } from '../../src/clients/cycle';

class FakeTransport implements ClientTransport {
  events: string[] = [];
  cycle!: ClientCycle;
  live = false;
  dropped = 0;
  begin(attempt: number): void {
    this.events.push(`begin ${attempt}`);
    this.live = true;
  }
  hasTransport(): boolean { return this.live; }
  dropTransport(): void {
    this.dropped++;
    // A dropped transport closes on a later turn, as a socket does.
    setImmediate(() => this.close());
  }
  /** The transport's close event. */
  close(): void {
    if (!this.live) return;
    this.live = false;
    this.cycle.ended();
    this.events.push('onClose');
    this.cycle.afterClose();
  }
  reportError(err: Error): void { this.events.push(`onError ${(err as Error & { code?: string }).code ?? err.message}`); }
  closedWithoutTransport(): void { this.events.push('onClose'); }
  queueDropped(): void { this.queueDrops++; }
  queueDrops = 0;
}

function make(interval = 0, timeout = 0): FakeTransport {
  const f = new FakeTransport();
  f.cycle = new ClientCycle(f, interval, timeout, 'tcp://127.0.0.1:9');
  return f;
}

const turn = () => new Promise<void>((r) => setImmediate(r));
async function until(cond: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 5000;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 2));
  }
}

t.test('the first attempt starts on the next turn, and opens', async (t) => {
  const f = make();
  t.same(f.events, [], 'nothing happens synchronously');
  t.equal(f.cycle.state(false), 'connecting');
  t.ok(f.cycle.queueing, 'sends are queued while connecting');
  await turn();
  t.same(f.events, ['begin 1']);
  f.cycle.opened();
  t.equal(f.cycle.state(false), 'established');
  t.equal(f.cycle.state(true), 'closing');
  t.notOk(f.cycle.queueing);
});

t.test('a refused connect: onError once (LOOM_ERR_CONNECT_FAILED), then onClose; no retry without an interval', async (t) => {
  const f = make();
  await turn();
  const refused = Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' });
  f.cycle.error(1, refused);
  f.cycle.error(1, refused); // a second error of the same attempt is not news
  await until(() => f.events.includes('onClose'), 'onClose');
  t.same(f.events, ['begin 1', 'onError LOOM_ERR_CONNECT_FAILED', 'onClose']);
  t.ok(f.queueDrops > 0, 'the queue is dropped');
  t.equal(f.cycle.state(false), 'closed');
  t.notOk(f.cycle.queueing, 'no attempt will come: sends are refused');
});

t.test('with reconnectInterval a failed attempt is retried, and queued sends survive', async (t) => {
  const f = make(0.01);
  f.cycle.queue.push('hello');
  await turn();
  f.cycle.error(1, new Error('refused'));
  await until(() => f.events.includes('begin 2'), 'the second attempt');
  t.same(f.events, ['begin 1', 'onError LOOM_ERR_CONNECT_FAILED', 'onClose', 'begin 2']);
  t.equal(f.cycle.queue.bytes, 5, 'the queue waits for the next attempt');
  t.ok(f.cycle.queueing);
  f.cycle.opened();
  t.same(f.cycle.queue.take(), ['hello']);
});

t.test('a connect timeout fails the attempt with LOOM_ERR_CONNECT_TIMEOUT', async (t) => {
  const f = make(0, 0.01);
  await until(() => f.events.includes('onClose'), 'onClose after the timeout');
  t.same(f.events, ['begin 1', 'onError LOOM_ERR_CONNECT_TIMEOUT', 'onClose']);
});

t.test('a passive close of an open connection is retried with an interval', async (t) => {
  const f = make(0.01);
  await turn();
  f.cycle.opened();
  f.close();
  t.equal(f.cycle.state(false), 'closed');
  t.ok(f.cycle.queueing, 'a reconnect is due: sends are queued');
  await until(() => f.events.includes('begin 2'), 'the reconnect');
});

t.test('close() while connecting abandons the attempt and the queue, without onError', async (t) => {
  const f = make(0.01);
  f.cycle.queue.push('x');
  await turn();
  f.cycle.abandon();
  await until(() => f.events.includes('onClose'), 'onClose');
  t.same(f.events, ['begin 1', 'onClose']);
  t.equal(f.cycle.queue.bytes, 0);
  t.ok(f.queueDrops > 0, 'the owner is told the queue is gone');
  f.cycle.error(1, new Error('late')); // the dropped attempt's late error
  t.notOk(f.events.some((e) => e.startsWith('onError')), 'no onError for an abandoned attempt');
  await new Promise((r) => setTimeout(r, 30));
  t.notOk(f.events.includes('begin 2'), 'no retry after close()');
});

t.test('close() before the first attempt began: onClose, no attempt', async (t) => {
  const f = make();
  f.cycle.abandon();
  t.same(f.events, ['onClose']);
  await turn();
  t.same(f.events, ['onClose'], 'the scheduled attempt was cancelled');
});

t.test('reconnect() on a live connection drops it, then connects again after the delay', async (t) => {
  const f = make();
  await turn();
  f.cycle.opened();
  f.cycle.reconnect(0);
  await until(() => f.events.includes('begin 2'), 'the new attempt');
  t.same(f.events, ['begin 1', 'onClose', 'begin 2']);
  t.throws(() => f.cycle.reconnect(-1), /reconnect\(afterSeconds\) must be a number of seconds >= 0/);
});

t.test('reconnect() after close() undoes it', async (t) => {
  const f = make();
  await turn();
  f.cycle.abandon();
  await until(() => f.events.includes('onClose'), 'onClose');
  f.cycle.reconnect(0);
  await until(() => f.events.includes('begin 2'), 'the new attempt');
  t.equal(f.cycle.state(false), 'connecting');
});

t.test("retire(): a client waiting to retry stops waiting; a connected one stays up", async (t) => {
  const waiting = make(60);
  await turn();
  waiting.cycle.error(1, new Error('refused'));
  await until(() => waiting.events.includes('onClose'), 'the failed attempt to close');
  t.ok(waiting.cycle.queueing, 'a retry is due in 60 s');
  waiting.cycle.retire();
  t.notOk(waiting.cycle.queueing, 'no retry is due any more');
  t.equal(waiting.events.filter((e) => e === 'onClose').length, 1, 'onClose is not repeated');

  const open = make(60);
  await turn();
  open.cycle.opened();
  open.cycle.retire();
  t.equal(open.cycle.state(false), 'established', 'the connection stays up for the stop to close it');
  open.close();
  await new Promise((r) => setTimeout(r, 20));
  t.notOk(open.events.includes('begin 2'), 'and is not retried once closed');
});
