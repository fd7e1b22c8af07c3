// watch = true: saving a handler reloads only its group; a broken save never replaces a
// working handler, and status shows why; the next good save reloads.
import t from 'tap';
import { renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { freePort, sandbox, startDaemon, statusJson, waitFor } from '../helpers/loom';
import { textClient } from '../helpers/clients';

const handler = (text: string) => `module.exports = {\n  onMessage(c) {\n    c.send(${JSON.stringify(text)});\n  },\n};\n`;

/** Saves like an editor: write a temp file, then rename it over the old one. */
function save(dir: string, name: string, text: string): void {
  const tmp = join(dir, `.${name}.tmp-save`);
  writeFileSync(tmp, text);
  renameSync(tmp, join(dir, name));
}

async function ask(port: number): Promise<string> {
  const c = await textClient(port);
  c.write('x\n');
  try {
    return (await c.messages.next()).toString();
  } finally {
    c.socket.destroy();
  }
}

t.test('hot reload on save', async (t) => {
  const [pa, pb] = [await freePort(), await freePort()];
  const sb = sandbox({
    groups: `[a]\nlisten = text://127.0.0.1:${pa}\ncount = 2\nhandler = a.js\n\n[b]\nlisten = text://127.0.0.1:${pb}\nhandler = b.js\n`,
    global: 'watch = true',
    files: { 'a.js': handler('v1'), 'b.js': handler('b') },
  });
  await startDaemon(t, sb);
  t.equal(await ask(pa), 'v1');
  const bPids = (await statusJson(sb)).processes.filter((p) => p.group === 'b').map((p) => p.pid);

  save(sb.handlers, 'a.js', handler('v2'));
  await waitFor(async () => (await ask(pa)) === 'v2', 'new connections to get v2', 15000);
  // The rolling reload goes on after the first new process answers: let it finish.
  await waitFor(async () => {
    const s = (await statusJson(sb)) as unknown as { groups: { name: string; reloads: number }[] };
    return s.groups.find((g) => g.name === 'a')?.reloads === 1;
  }, 'the reload of group a to finish', 5000);
  t.same((await statusJson(sb)).processes.filter((p) => p.group === 'b').map((p) => p.pid), bPids, 'group b not reloaded');

  save(sb.handlers, 'a.js', 'module.exports = {\n  onMessage(c) {\n    c.send("v3"\n  },\n};\n');
  const failed = await waitFor(async () => {
    const s = (await statusJson(sb)) as unknown as { groups: { name: string; lastReloadError: string | null }[] };
    return s.groups.find((g) => g.name === 'a')?.lastReloadError;
  }, 'status to show the failed reload', 5000);
  t.match(failed, /a\.js:\d+/, 'the error names file:line');
  t.match(failed, /SyntaxError/);
  for (let i = 0; i < 5; i++) t.equal(await ask(pa), 'v2', 'the old handler keeps serving');

  save(sb.handlers, 'a.js', handler('v4'));
  await waitFor(async () => (await ask(pa)) === 'v4', 'the fixed handler to load', 5000);
  // The first new process answers before the group's rolling reload has finished.
  await waitFor(async () => {
    const s = (await statusJson(sb)) as unknown as { groups: { name: string; lastReloadError: string | null }[] };
    return s.groups.find((g) => g.name === 'a')?.lastReloadError === null;
  }, 'the reload error to clear once the group reloaded', 5000);
  t.pass('error cleared');
});
