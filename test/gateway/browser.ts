// The browser chat as a person uses it: the repository's [web] and [chat] groups (config.ini,
// on free ports) serve handlers/public/chat.html and run handlers/chat.js; headless Chromium
// (Debian's /usr/bin/chromium, driven by playwright-core) opens the page twice, as alice and
// bob, and a plain WebSocket client, carol, checks what a page cannot: that a private message
// reaches only its addressee, and that hostile input is refused without harm.
import t from 'tap';
import { cpSync, existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import WebSocket from 'ws';
import { ROOT, freePort, sandbox, startDaemon, statusJson, waitFor } from '../helpers/loom';

const CHROMIUM = '/usr/bin/chromium';
const ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];

/** The repository's config.ini sections, each 127.0.0.1:PORT moved to a free port; ping_interval 1 s. */
async function repositoryGroups(names: string[]): Promise<{ groups: string; port(old: number): number }> {
  const ini = readFileSync(join(ROOT, 'config.ini'), 'utf8');
  const moved = new Map<number, number>();
  const sections: string[] = [];
  for (const name of names) {
    const body = new RegExp(`^\\[${name}\\]$([\\s\\S]*?)(?=^\\[|(?![\\s\\S]))`, 'm').exec(ini)?.[1];
    if (body === undefined) throw new Error(`config.ini has no [${name}]`);
    sections.push(`[${name}]${body}`);
  }
  let groups = sections.join('\n');
  for (const m of groups.matchAll(/127\.0\.0\.1:(\d+)/g)) {
    const old = Number(m[1]);
    while (!moved.has(old)) {
      const port = await freePort();
      if (![...moved.values()].includes(port)) moved.set(old, port);
    }
  }
  groups = groups.replace(/127\.0\.0\.1:(\d+)/g, (_, p: string) => `127.0.0.1:${moved.get(Number(p))}`);
  // A heartbeat a second (2 missed: closed), so the test sees the page answer it.
  groups = groups.replace(/^ping_interval = .*$/m, 'ping_interval = 1');
  return {
    groups,
    port(old) {
      const p = moved.get(old);
      if (p === undefined) throw new Error(`no port ${old} in the sections`);
      return p;
    },
  };
}

interface Said { type: string; [k: string]: unknown }

/** A plain WebSocket chat client: every JSON message it got, and pings answered as the page does. */
function wsClient(port: number): Promise<{ ws: WebSocket; got: Said[]; send(m: unknown): void; next(pred: (m: Said) => boolean, what: string): Promise<Said> }> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`ws://127.0.0.1:${port}/`);
    const got: Said[] = [];
    ws.on('message', (data, binary) => {
      if (binary) return;
      const m = JSON.parse(String(data)) as Said;
      if (m.type === 'ping') ws.send(JSON.stringify({ type: 'pong' }));
      got.push(m);
    });
    ws.once('error', reject);
    ws.once('open', () => resolve({
      ws, got,
      send: (m) => ws.send(typeof m === 'string' || Buffer.isBuffer(m) ? m : JSON.stringify(m)),
      next: async (pred, what) => {
        const seen = got.length;
        return waitFor(() => got.slice(0).find(pred), `carol to get ${what} (had ${seen}: ${JSON.stringify(got.slice(-5))})`);
      },
    }));
  });
}

async function login(page: Page, name: string): Promise<void> {
  await page.locator('#name:enabled').waitFor();
  await page.fill('#name', name);
  await page.click('#enter');
  await page.locator('#me', { hasText: name }).waitFor();
  await page.locator('#text:enabled').waitFor();
}

async function say(page: Page, text: string): Promise<void> {
  await page.fill('#text', text);
  await page.press('#text', 'Enter');
}

t.test('two browsers chat: room messages, a private message, join and leave notices', {
  skip: !existsSync(CHROMIUM) && `${CHROMIUM} is missing (apt-get install chromium; .ci/run installs it)`,
  timeout: 90_000,
}, async (t) => {
  const started = Date.now();
  const { groups, port } = await repositoryGroups(['web', 'chat']);
  const sb = sandbox({ groups });
  cpSync(join(ROOT, 'handlers'), sb.handlers, { recursive: true });
  await startDaemon(t, sb);

  const browser: Browser = await chromium.launch({ executablePath: CHROMIUM, args: ARGS });
  t.teardown(() => browser.close());
  const problems: string[] = [];
  // A failure shows what the pages reported and what the daemon logged (a flake is then diagnosable).
  t.teardown(() => {
    if (!t.passing()) t.comment(`pages: ${JSON.stringify(problems)}\ndaemon log:\n${sb.log()}`);
  });
  const open = async (who: string): Promise<Page> => {
    const context = await browser.newContext({ viewport: { width: 960, height: 600 } });
    const page = await context.newPage();
    // Generous: CI runs four test files at once beside Chromium on two cores.
    page.setDefaultTimeout(30_000);
    page.on('pageerror', (err) => problems.push(`${who}: ${err.message}`));
    page.on('console', (msg) => { if (msg.type() === 'error') problems.push(`${who}: ${msg.text()}`); });
    await page.goto(`http://127.0.0.1:${port(19913)}/chat.html?port=${port(19916)}`);
    return page;
  };
  const alice = await open('alice');
  const bob = await open('bob');
  t.match(await alice.title(), /chat/i, 'the page is served by [web] from handlers/public');

  await login(alice, 'alice');
  await login(bob, 'bob');
  await alice.locator('#log li.notice', { hasText: 'bob joined #lobby' }).waitFor();
  await alice.locator('#users [data-name="bob"]').waitFor();
  await bob.locator('#users [data-name="alice"]').waitFor();
  t.pass('alice sees bob join the lobby; each sees the other online');

  // carol: the nickname is the uid, so a taken one is refused; then she is in the lobby too.
  const carol = await wsClient(port(19916));
  t.teardown(() => carol.ws.terminate());
  await carol.next((m) => m.type === 'welcome', 'the welcome');
  carol.send({ type: 'login', name: 'alice' });
  t.match(await carol.next((m) => m.type === 'error', 'an error'), { about: 'login', text: /taken/ }, 'a nickname in use is refused');
  carol.send({ type: 'login', name: 'carol' });
  t.same((await carol.next((m) => m.type === 'room', 'her room')).users, ['alice', 'bob', 'carol'], 'the online list of the lobby');
  await bob.locator('#users [data-name="carol"]').waitFor();

  await say(alice, 'hello from alice');
  await bob.locator('#log li.say', { hasText: 'hello from alice' }).waitFor();
  t.match(await bob.locator('#log li.say').last().locator('.from').textContent(), 'alice', 'a room message typed by alice appears at bob');
  await carol.next((m) => m.type === 'say' && m.text === 'hello from alice' && m.from === 'alice', 'alice\'s room message');

  // The push API of config.ini's [chat] (its development token): another program talks to the room.
  const token = /^push_token = (\S+)$/m.exec(groups)?.[1];
  const pushed = await fetch(`http://127.0.0.1:${port(19917)}/sendToGroup`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}` },
    body: JSON.stringify({ args: ['room:lobby', { type: 'say', from: 'curl', room: 'lobby', text: 'hi from the push API' }] }),
  });
  t.equal(pushed.status, 200, 'the push API answers with the token of config.ini');
  await bob.locator('#log li.say', { hasText: 'hi from the push API' }).waitFor();

  await bob.click('#users [data-name="alice"]');
  t.equal(await bob.locator('#target').textContent(), 'private to alice', 'clicking a name writes privately');
  await say(bob, 'psst, alice');
  const whisper = alice.locator('#log li.private', { hasText: 'psst, alice' });
  await whisper.waitFor();
  t.equal(await whisper.locator('.from').textContent(), 'bob → alice', 'alice gets bob\'s private message');
  await bob.locator('#log li.private', { hasText: 'psst, alice' }).waitFor();
  // carol's own room message comes back to her after the private one was delivered.
  carol.send({ type: 'say', text: 'marker' });
  await carol.next((m) => m.type === 'say' && m.text === 'marker', 'her own message');
  t.notOk(carol.got.some((m) => m.type === 'private' || JSON.stringify(m).includes('psst')), 'the private message reached nobody else');
  t.notOk(await alice.locator('#log li.say', { hasText: 'psst' }).count(), 'and it did not go to the room');

  // Hostile input from carol: answered with errors, nothing broken, nothing sent to the room.
  const errors = carol.got.filter((m) => m.type === 'error').length;
  carol.send('not json');
  carol.send(Buffer.from([1, 2, 3]));
  carol.send({ type: 'say', text: 'x'.repeat(501) });
  carol.send({ type: 'say', text: { toString: 'no' } });
  carol.send({ type: 'private', to: 'nobody-here', text: 'hi' });
  carol.send({ type: 'join', room: '../../etc' });
  carol.send({ type: 'login', name: 'carol2' });
  carol.send({ type: 'say', text: '\u202eevil\u202c <b>bold</b>' });
  await carol.next((m) => m.type === 'say' && typeof m.text === 'string' && m.text.endsWith('</b>'), 'her cleaned message');
  await waitFor(() => carol.got.filter((m) => m.type === 'error').length >= errors + 7, 'seven errors');
  const lastSay = carol.got.filter((m) => m.type === 'say').at(-1);
  t.equal(lastSay?.text, 'evil <b>bold</b>', 'direction overrides are stripped from a line');
  const shown = alice.locator('#log li.say', { hasText: 'evil' });
  await shown.waitFor();
  t.equal(await shown.locator('.text').textContent(), 'evil <b>bold</b>', 'the page shows markup as text');
  t.equal(await alice.locator('#log li.say b').count(), 0, 'and never as HTML');

  // bob moves to another room: alice sees him go, her list loses him, the room counts follow.
  await bob.click('#rooms [data-room="nodejs"]');
  await bob.locator('#room-name', { hasText: '#nodejs' }).waitFor();
  await alice.locator('#log li.notice', { hasText: 'bob went to #nodejs' }).waitFor();
  await waitFor(async () => (await alice.locator('#users [data-name="bob"]').count()) === 0, 'bob to leave alice\'s list');
  await alice.locator('#rooms [data-room="nodejs"] .count', { hasText: '1' }).waitFor();
  await bob.click('#to-room'); // back from writing privately to alice
  t.equal(await bob.locator('#target').textContent(), 'to #nodejs', 'the × writes to the room again');
  await say(bob, 'anyone in nodejs?');
  await bob.locator('#log li.say', { hasText: 'anyone in nodejs?' }).waitFor();
  t.pass('bob is in #nodejs and reads his own line there');

  // The heartbeat (ping_interval = 1 s here, 2 missed closes): the pages answer it and stay.
  const pings = carol.got.filter((m) => m.type === 'ping').length;
  await new Promise((r) => setTimeout(r, 3200));
  t.ok(carol.got.filter((m) => m.type === 'ping').length >= pings + 2, 'ping_data arrives every interval');
  for (const [who, page] of [['alice', alice], ['bob', bob]] as const) {
    t.equal(await page.locator('#status').textContent(), 'online', `${who}'s page answered the pings and is still connected`);
  }
  t.equal(carol.ws.readyState, WebSocket.OPEN, 'so is carol');

  // carol leaves: the lobby hears it.
  carol.ws.close();
  await alice.locator('#log li.notice', { hasText: 'carol left.' }).waitFor();
  await waitFor(async () => (await alice.locator('#users [data-name="carol"]').count()) === 0, 'carol to leave alice\'s list');

  const shot = join(sb.dir, 'chat.png');
  await alice.screenshot({ path: shot });
  const png = readFileSync(shot);
  t.ok(png.subarray(0, 8).equals(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a])) && png.length > 5000, `a screenshot: ${shot}`);

  t.same(problems, [], 'no error on either page');
  const status = await statusJson(sb);
  const chat = status.processes.filter((p) => p.group.startsWith('chat/'));
  t.same(chat.map((p) => p.group).sort(), ['chat/business', 'chat/business', 'chat/gateway', 'chat/gateway'], 'two gateways and two business processes');
  t.same(chat.filter((p) => p.handlerErrors > 0), [], 'no handler error');
  t.comment(`chat in the browser: ${((Date.now() - started) / 1000).toFixed(1)} s`);
});
