// The send buffer policy: a handler sending more than max_send_buffer_size to a client that
// does not read gets onBufferFull, further sends return false and count as send failures;
// once the client reads again, onBufferDrain fires and sending works again. send() is true on
// an idle connection and false after close. Callbacks are observed through a second
// connection to the same worker (count = 1) and a file the handler appends to.
import t from 'tap';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { freePort, sandbox, startDaemon, statusJson, waitFor } from '../helpers/loom';
import { splitLines, streamClient, type StreamClient } from '../helpers/clients';

const HANDLER = `const fs = require('fs');
const path = require('path');
const EVENTS = path.join(__dirname, '..', 'events.log');
let observer = null;
function note(c, what) {
  fs.appendFileSync(EVENTS, c.worker.name + ' ' + what + '\\n');
  if (observer && observer !== c) observer.send(what);
}
module.exports = {
  onMessage(c, d) {
    const [cmd, arg] = String(d).split(' ');
    if (cmd === 'observe') { observer = c; c.send('observing'); return; }
    if (cmd === 'small') { const r = c.send('x'); c.send('small:' + r); return; }
    if (cmd === 'flood') {
      const chunk = 'y'.repeat(Number(arg));
      const counts = { true: 0, null: 0, false: 0 };
      let fullBeforeFalse = false;
      // Bounded: stop after three refused sends, or after 64 MB offered.
      for (let offered = 0; counts.false < 3 && offered < 64 * 1024 * 1024; offered += chunk.length) {
        const r = c.send(chunk);
        counts[String(r)]++;
        if (r === false && counts.false === 1) fullBeforeFalse = c.data.full === true;
      }
      note(c, 'flood true=' + counts.true + ' null=' + counts.null + ' false=' + counts.false + ' fullBeforeFalse=' + fullBeforeFalse);
      return;
    }
    if (cmd === 'closeme') { c.close(); note(c, 'sendAfterClose=' + c.send('late')); return; }
    if (cmd === 'armclose') { c.data.sendOnClose = true; c.send('armed'); return; }
  },
  onBufferFull(c) { c.data.full = true; note(c, 'full'); },
  onBufferDrain(c) { note(c, 'drain'); },
  onClose(c) { if (c.data.sendOnClose) note(c, 'sendInOnClose=' + c.send('gone')); },
};
`;

t.test('send buffer: full, refused sends, drain', async (t) => {
  const [bigPort, smallPort] = [await freePort(), await freePort()];
  const sb = sandbox({
    // "big" holds more than the stream's own high-water mark, "small" less: both must drain.
    groups: `[big]\nlisten = text://127.0.0.1:${bigPort}\ncount = 1\nhandler = buffer.js\nmax_send_buffer_size = 262144\n\n`
      + `[small]\nlisten = text://127.0.0.1:${smallPort}\ncount = 1\nhandler = buffer.js\nmax_send_buffer_size = 4096\n`,
    files: { 'buffer.js': HANDLER },
  });
  await startDaemon(t, sb);
  const clients: StreamClient[] = [];
  t.teardown(() => { for (const c of clients) c.socket.destroy(); });
  const events = () => (existsSync(join(sb.dir, 'events.log')) ? readFileSync(join(sb.dir, 'events.log'), 'utf8') : '');

  const run = (group: string, port: number, chunkSize: number) => t.test(`${group}: max_send_buffer_size exceeded`, async (t) => {
    const open = async () => { const c = await streamClient({ port }, splitLines); clients.push(c); return c; };
    const line = async (c: StreamClient) => (await c.messages.next()).toString();
    const failures = async () => (await statusJson(sb)).processes.find((p) => p.group === group)?.sendFailures;

    const observer = await open();
    observer.write('observe\n');
    t.equal(await line(observer), 'observing');

    const idle = await open();
    idle.write('small\n');
    t.equal(await line(idle), 'x');
    t.equal(await line(idle), 'small:true', 'send() on an idle connection returns true');

    // A client that stops reading before it asks for the flood.
    const flood = await open();
    flood.socket.pause();
    flood.write(`flood ${chunkSize}\n`);
    t.equal(await line(observer), 'full', 'onBufferFull fired');
    const report = /^flood true=(\d+) null=(\d+) false=(\d+) fullBeforeFalse=(\w+)$/.exec(await line(observer));
    t.ok(report, 'the handler reports its send results');
    const [accepted, queued, refused] = [Number(report?.[1]), Number(report?.[2]), Number(report?.[3])];
    t.equal(refused, 3, 'sends after the buffer is full return false');
    t.ok(queued >= 1, 'sends beyond what the kernel takes return null (queued)');
    t.equal(report?.[4], 'true', 'onBufferFull came before the first refused send');
    t.equal(await failures(), 3, 'status counts the refused sends as send failures');
    t.notOk(events().includes(`${group} drain`), 'no drain while the client does not read');

    // The client reads again: everything accepted arrives, then onBufferDrain.
    flood.socket.resume();
    const chunk = 'y'.repeat(chunkSize);
    let intact = 0;
    for (let i = 0; i < accepted + queued; i++) if ((await line(flood)) === chunk) intact++;
    t.equal(intact, accepted + queued, 'every accepted or queued message arrives intact');
    t.equal(await line(observer), 'drain', 'onBufferDrain fired once the client read');
    await waitFor(() => events().includes(`${group} drain`), 'the drain event in the events file');
    flood.write('small\n');
    t.equal(await line(flood), 'x');
    t.equal(await line(flood), 'small:true', 'after the drain, send() returns true again');

    const closing = await open();
    closing.write('closeme\n');
    t.equal(await line(observer), 'sendAfterClose=false', 'send() after close() returns false');
    await closing.closed;

    const leaving = await open();
    leaving.write('armclose\n');
    t.equal(await line(leaving), 'armed');
    leaving.socket.destroy();
    t.equal(await line(observer), 'sendInOnClose=false', 'send() to a connection the peer closed returns false');
    t.equal(await failures(), 5, 'status counts sends on closed connections too');
  });

  await run('big', bigPort, 65536);
  await run('small', smallPort, 1000);
});
