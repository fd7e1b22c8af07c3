// A gateway group speaks any stream protocol to its clients: text lines, length-prefixed
// frames, a custom protocol module (whose encode() gets JSON values as values).
import t from 'tap';
import { freePort, loom, sandbox, startDaemon } from '../helpers/loom';
import { frame, splitFrames, streamClient, textClient } from '../helpers/clients';

const HANDLER = `module.exports = {
  onConnect(client) { client.send('hello ' + client.id.length); },
  onMessage(client, m) {
    if (Buffer.isBuffer(m)) return client.send(Buffer.concat([Buffer.from('bin:'), m]));
    if (typeof m === 'object') return client.send({ echo: m });
    if (m === 'json') return client.gateway.sendToAll({ a: 1, b: [2] });
    client.send('text:' + m);
  },
};
`;

const JSONNL = `module.exports = {
  input(b) { const i = b.indexOf(10); return i < 0 ? 0 : i + 1; },
  decode(b) { return JSON.parse(b.toString('utf8', 0, b.length - 1)); },
  encode(v) { return JSON.stringify(v) + '\\n'; },
};
`;

t.test('text, frame and custom listeners', async (t) => {
  const [pText, pFrame, pCustom] = [await freePort(), await freePort(), await freePort()];
  const group = (name: string, listen: string) => `[${name}]\nmodel = gateway\nlisten = ${listen}\nhandler = h.js\n\n`;
  const sb = sandbox({
    groups: group('lines', `text://127.0.0.1:${pText}`) + group('frames', `frame://127.0.0.1:${pFrame}`) + group('objects', `jsonnl://127.0.0.1:${pCustom}`),
    global: 'watch = false',
    files: { 'h.js': HANDLER, 'protocols/jsonnl.js': JSONNL },
  });
  await startDaemon(t, sb);

  const text = await textClient(pText);
  t.teardown(() => text.socket.destroy());
  t.equal((await text.messages.next()).toString(), 'hello 11', 'onConnect through the gateway');
  text.write('abc\n');
  t.equal((await text.messages.next()).toString(), 'text:abc');
  text.write('json\n');
  t.equal((await text.messages.next()).toString(), '{"a":1,"b":[2]}', 'a JSON value is its JSON text on a line');

  const fr = await streamClient({ port: pFrame }, splitFrames);
  t.teardown(() => fr.socket.destroy());
  t.equal((await fr.messages.next()).toString(), 'hello 11');
  fr.write(frame(Buffer.from([0, 1, 2])));
  t.same([...(await fr.messages.next())], [...Buffer.from('bin:'), 0, 1, 2], 'binary frames both ways');

  const obj = await textClient(pCustom);
  t.teardown(() => obj.socket.destroy());
  t.equal((await obj.messages.next()).toString(), '"hello 11"', 'the custom encode() gets the string');
  obj.write('{"x":[1,2]}\n');
  t.equal((await obj.messages.next()).toString(), '{"echo":{"x":[1,2]}}', 'decoded values reach the handler, values go to encode()');
  obj.write('"json"\n');
  t.equal((await obj.messages.next()).toString(), '{"a":1,"b":[2]}', 'a broadcast JSON value goes to encode() as a value');

  // Gateways and business processes stop together, gracefully: none is left to stop_timeout.
  const stop = await loom(['stop', '-c', sb.config]);
  t.equal(stop.code, 0, stop.stderr);
  t.notMatch(sb.log(), /did not stop within/, 'no process had to be killed');
});
