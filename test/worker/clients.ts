// Async clients, worker.connect(): a control handler in a real daemon opens clients on
// command and reports every callback (connect, message, close, error, full, drain) back on the
// control connection; one client is opened in onWorkerStart. Covered: round trips to Loom
// listeners of every protocol (text, frame, tcp, custom, udp, websocket, TLS text, text over a
// unix socket), ws:// and wss:// to a plain `ws` server, tls:// to a node:tls server, sends
// queued before the connection is up, reconnect after reconnectInterval when a server goes
// away and comes back, no reconnect after close(), reconnect() on demand, connect timeout
// against a blackhole (a listening socket whose accept queue is full, so SYNs are dropped),
// refused connects, bad URLs, a throwing client callback, and a TCP proxy
// (handlers/tcp-proxy.js) built on pipe().
import t, { type Test } from 'tap';
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { createServer as createHttpsServer } from 'node:https';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { createServer as createTlsServer, type TLSSocket } from 'node:tls';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { WebSocketServer } from 'ws';
import { freePort, ROOT, sandbox, startDaemon, statusJson, waitFor } from '../helpers/loom';
import { splitLines } from '../helpers/clients';
import { hasOpenssl, makeCert } from '../helpers/tls';

const shipped = (rel: string) => readFileSync(join(ROOT, 'handlers', rel), 'utf8');

// The control handler. Commands (one per line): observe | open NAME URL [OPTS-JSON] |
// send NAME DATA | close NAME | destroy NAME | reconnect NAME [SECONDS] | state NAME |
// throw NAME (its onMessage throws from now on). OPTS may hold first: [DATA...] (sent right
// after connect()) and maxSendBufferSize.
// DATA is str:TEXT, buf:TEXT (a Buffer) or json:JSON. Events: "ev NAME KIND MS DETAIL".
const CONTROL = `const fs = require('fs');
const path = require('path');
const clients = new Map();
const backlog = [];
let observer = null;
function emit(line) { if (observer) observer.send(line); else backlog.push(line); }
function desc(d) {
  if (Buffer.isBuffer(d)) return 'buf:' + d.toString();
  if (typeof d === 'string') return 'str:' + d;
  return 'json:' + JSON.stringify(d);
}
function value(arg) {
  const i = arg.indexOf(':');
  const kind = arg.slice(0, i), text = arg.slice(i + 1);
  if (kind === 'buf') return Buffer.from(text);
  if (kind === 'json') return JSON.parse(text);
  return text;
}
function options(json) {
  const opts = json ? JSON.parse(json) : {};
  if (opts.tls && opts.tls.caFile) { opts.tls.ca = fs.readFileSync(opts.tls.caFile); delete opts.tls.caFile; }
  return opts;
}
function open(worker, name, url, opts) {
  const c = worker.connect(url, opts);
  if (opts.maxSendBufferSize) c.maxSendBufferSize = opts.maxSendBufferSize;
  clients.set(name, c);
  const ev = (kind, detail) => emit('ev ' + name + ' ' + kind + ' ' + Date.now() + ' ' + detail);
  c.onConnect = (conn) => ev('connect', conn.state + ' ' + conn.remoteAddress + ':' + conn.remotePort);
  c.onMessage = (_conn, d) => ev('message', desc(d));
  c.onClose = (conn) => ev('close', conn.state);
  c.onError = (_conn, err) => ev('error', (err.code || '-') + ' ' + err.message);
  c.onBufferFull = () => ev('full', '');
  c.onBufferDrain = () => ev('drain', '');
  return c;
}
module.exports = {
  onWorkerStart(worker) {
    const file = path.join(__dirname, '..', 'start.json');
    if (!fs.existsSync(file)) return;
    for (const [name, url, opts, first] of JSON.parse(fs.readFileSync(file, 'utf8'))) {
      const c = open(worker, name, url, opts);
      emit('started ' + name + ' ' + c.state + ' ' + first.map((d) => String(c.send(value(d)))).join(','));
    }
  },
  onMessage(conn, line) {
    const [cmd, name, ...rest] = line.split(' ');
    const c = clients.get(name);
    if (cmd === 'observe') {
      observer = conn;
      conn.send('observing');
      for (const l of backlog.splice(0)) conn.send(l);
    } else if (cmd === 'open') {
      let opts;
      try {
        opts = options(rest[1]);
        const first = opts.first || [];
        delete opts.first;
        const c = open(conn.worker, name, rest[0], opts);
        conn.send('opened ' + name + ' ' + c.state + ' ' + first.map((d) => String(c.send(value(d)))).join(','));
      } catch (err) {
        conn.send('threw ' + name + ' ' + (err.code || err.name) + ' ' + err.message);
      }
    } else if (!c) {
      conn.send('unknown ' + name);
    } else if (cmd === 'send') {
      conn.send('sent ' + name + ' ' + String(c.send(value(rest.join(' ')))));
    } else if (cmd === 'close') {
      c.close();
      conn.send('closed ' + name + ' ' + c.state);
    } else if (cmd === 'destroy') {
      c.destroy();
      conn.send('destroyed ' + name + ' ' + c.state);
    } else if (cmd === 'reconnect') {
      c.reconnect(rest[0] === undefined ? undefined : Number(rest[0]));
      conn.send('reconnecting ' + name + ' ' + c.state);
    } else if (cmd === 'state') {
      conn.send('state ' + name + ' ' + c.state);
    } else if (cmd === 'throw') {
      c.onMessage = () => { throw new Error('boom in a client callback'); };
      conn.send('armed ' + name);
    }
  },
};
`;

const ECHO = `module.exports = { onMessage(c, d) { c.send(d); } };\n`;
// An echo with flow control: piped to itself, it stops reading while its send buffer is full
// (the plain echo drops what does not fit, as the send buffer policy says).
const FLOW_ECHO = `module.exports = { onConnect(c) { c.pipe(c); } };\n`;

/** The control connection: every line it receives, searchable by pattern. */
class Control {
  readonly lines: string[] = [];
  private rest: Buffer = Buffer.alloc(0);
  constructor(readonly socket: Socket) {
    socket.on('data', (chunk: Buffer) => {
      const [msgs, rest] = splitLines(Buffer.concat([this.rest, chunk]));
      this.rest = rest;
      for (const m of msgs) this.lines.push(m.toString());
    });
    socket.on('error', () => undefined);
  }

  /** The first line at or after index `from` matching re. */
  async wait(re: RegExp, what: string, from = 0, timeoutMs = 10000): Promise<{ line: string; index: number; m: RegExpExecArray }> {
    return waitFor(() => {
      for (let i = from; i < this.lines.length; i++) {
        const m = re.exec(this.lines[i]);
        if (m) return { line: this.lines[i], index: i, m };
      }
      return null;
    }, `${what}; got:\n${this.lines.slice(from).join('\n')}`, timeoutMs);
  }

  /** Sends a command and waits for the reply line starting with `reply`. */
  async cmd(line: string, reply: string): Promise<string> {
    const from = this.lines.length;
    this.socket.write(line + '\n');
    return (await this.wait(new RegExp(`^${reply}\\b`), `reply to "${line}"`, from)).line;
  }

  count(re: RegExp, from = 0): number {
    return this.lines.slice(from).filter((l) => re.test(l)).length;
  }

  /** Times (worker clock, ms) of the events matching re. */
  times(re: RegExp, from = 0): number[] {
    return this.lines.slice(from).filter((l) => re.test(l)).map((l) => Number(l.split(' ')[3]));
  }
}

/** A line server owned by the test: echoes each line, records lines and connections. */
class LineServer {
  server: Server | null = null;
  readonly sockets = new Set<Socket>();
  readonly received: string[] = [];
  connections = 0;
  constructor(readonly port: number) {}

  start(): Promise<void> {
    const server = createServer((s) => {
      this.connections++;
      this.sockets.add(s);
      let rest: Buffer = Buffer.alloc(0);
      s.on('data', (chunk: Buffer) => {
        const [msgs, r] = splitLines(Buffer.concat([rest, chunk]));
        rest = r;
        for (const m of msgs) { this.received.push(m.toString()); s.write(m.toString() + '\n'); }
      });
      s.on('error', () => undefined);
      s.on('close', () => this.sockets.delete(s));
    });
    this.server = server;
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.port, '127.0.0.1', () => resolve());
    });
  }

  /** Stops listening and drops every connection (the clients see a passive close). */
  stop(): Promise<void> {
    const server = this.server;
    this.server = null;
    for (const s of this.sockets) s.destroy();
    return new Promise((resolve) => (server ? server.close(() => resolve()) : resolve()));
  }
}

/**
 * A TCP blackhole on 127.0.0.1: a listening socket in a stopped process, its accept queue
 * filled first, so the kernel drops further SYNs and a connect hangs until its timeout.
 */
async function blackhole(t: { teardown(fn: () => unknown): void }): Promise<number> {
  const child: ChildProcess = spawn(process.execPath, ['-e',
    "const s = require('net').createServer(); s.listen({ port: 0, host: '127.0.0.1', backlog: 1 }, () => console.log(s.address().port));"],
  { stdio: ['ignore', 'pipe', 'inherit'] });
  const held: Socket[] = [];
  t.teardown(() => { child.kill('SIGKILL'); for (const s of held) s.destroy(); });
  const port = await new Promise<number>((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error('blackhole process printed no port')), 10000);
    child.stdout!.on('data', (c) => {
      out += c;
      if (out.includes('\n')) { clearTimeout(timer); resolve(Number(out.trim())); }
    });
  });
  process.kill(child.pid!, 'SIGSTOP');
  // Fill the accept queue: connections complete in the kernel until it is full (bounded).
  for (let i = 0; i < 64; i++) {
    const s = connect(port, '127.0.0.1');
    s.on('error', () => undefined);
    const ok = await new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => resolve(false), 400);
      s.once('connect', () => { clearTimeout(timer); resolve(true); });
    });
    if (!ok) { s.destroy(); return port; }
    held.push(s);
  }
  throw new Error('the accept queue of the blackhole never filled');
}

t.test('async clients: worker.connect()', async (t) => {
  const names = ['text', 'frame', 'tcp', 'json', 'udp', 'ws', 'tlstext', 'ctl', 'proxy', 'wsTest', 'wssTest', 'tlsTest', 'bounce', 'refused'] as const;
  const port = {} as Record<(typeof names)[number], number>;
  for (const n of names) port[n] = await freePort();

  const sock = join(tmpdir(), `loom-clients-${process.pid}.sock`);
  const sb = sandbox({
    groups: [
      `[text]\nlisten = text://127.0.0.1:${port.text}\ncount = 1\nhandler = echo.js\n`,
      `[frame]\nlisten = frame://127.0.0.1:${port.frame}\ncount = 1\nhandler = echo.js\n`,
      `[tcp]\nlisten = tcp://127.0.0.1:${port.tcp}\ncount = 1\nhandler = flow-echo.js\n`,
      `[json]\nlisten = jsonnl://127.0.0.1:${port.json}\ncount = 1\nhandler = json-echo.js\n`,
      `[udp]\nlisten = udp://127.0.0.1:${port.udp}\ncount = 1\nhandler = echo.js\n`,
      `[ws]\nlisten = ws://127.0.0.1:${port.ws}\ncount = 1\nhandler = ws-echo.js\n`,
      hasOpenssl ? `[tlstext]\nlisten = text://127.0.0.1:${port.tlstext}\ncount = 1\nhandler = echo.js\nssl_cert = cert.pem\nssl_key = key.pem\n` : '',
      `[utext]\nlisten = text+unix://${sock}\ncount = 1\nhandler = echo.js\n`,
      `[ctl]\nlisten = text://127.0.0.1:${port.ctl}\ncount = 1\nhandler = ctl.js\n`,
      `[proxy]\nlisten = tcp://127.0.0.1:${port.proxy}\ncount = 1\nhandler = tcp-proxy.js\n`,
    ].join('\n'),
    global: 'watch = false',
    files: {
      'echo.js': ECHO,
      'flow-echo.js': FLOW_ECHO,
      'ctl.js': CONTROL,
      'json-echo.js': shipped('json-echo.js'),
      'ws-echo.js': shipped('ws-echo.js'),
      'tcp-proxy.js': shipped('tcp-proxy.js'),
      'protocols/jsonnl.js': shipped('protocols/jsonnl.js'),
      'protocols/broken.js': 'module.exports = { input(b) { return b.length; }, decode(b) { return b; } };\n',
    },
  });
  const cert = hasOpenssl ? makeCert(sb.dir) : null;
  // A client opened in onWorkerStart, with a send made before it is connected. The [text]
  // group's worker may not listen yet (each worker listens once its own onWorkerStart is
  // done): reconnectInterval retries, the queued send waits.
  writeFileSync(join(sb.dir, 'start.json'), JSON.stringify([['boot', `text://127.0.0.1:${port.text}`, { reconnectInterval: 0.2 }, ['str:from onWorkerStart']]]));
  // handlers/tcp-proxy.js takes its upstream from the environment: the raw tcp echo group.
  process.env.LOOM_PROXY_UPSTREAM = `tcp://127.0.0.1:${port.tcp}`;
  await startDaemon(t, sb);

  const ctl = new Control(connect(port.ctl, '127.0.0.1'));
  t.teardown(() => ctl.socket.destroy());
  await ctl.cmd('observe', 'observing');

  /** Opens a client; returns the index of the reply line, for waiting on later events. */
  const open = async (name: string, url: string, opts: Record<string, unknown> = {}): Promise<string> =>
    ctl.cmd(`open ${name} ${url} ${JSON.stringify(opts)}`, `(opened|threw) ${name}`);
  const ev = (name: string, kind: string, detail = '') => new RegExp(`^ev ${name} ${kind} \\d+ ${detail}`);
  const roundTrip = async (t: Test, name: string, send: string, expect: string) => {
    const from = ctl.lines.length;
    t.equal(await ctl.cmd(`send ${name} ${send}`, `sent ${name}`), `sent ${name} true`, `${name}: send() is true once established`);
    await ctl.wait(new RegExp(`^ev ${name} message \\d+ ${escape(expect)}$`), `${name}: the reply ${expect}`, from);
  };

  t.test('onWorkerStart: a client opened there, its early send queued and delivered', async (t) => {
    const started = await ctl.wait(/^started boot /, 'the client opened in onWorkerStart');
    t.equal(started.line, 'started boot connecting null', 'state connecting; send() before the connection is up returns null (queued)');
    await ctl.wait(ev('boot', 'connect', 'established 127\\.0\\.0\\.1:' + port.text), 'boot connected');
    await ctl.wait(ev('boot', 'message', 'str:from onWorkerStart$'), 'the queued line echoed');
  });

  t.test('round trips to Loom listeners of each protocol', async (t) => {
    const cases: [string, string, Record<string, unknown>, string, string][] = [
      ['t1', `text://127.0.0.1:${port.text}`, {}, 'str:hello text', 'str:hello text'],
      ['f1', `frame://127.0.0.1:${port.frame}`, {}, 'buf:hello frame', 'buf:hello frame'],
      ['r1', `tcp://127.0.0.1:${port.tcp}`, {}, 'str:hello tcp', 'buf:hello tcp'],
      ['j1', `jsonnl://127.0.0.1:${port.json}`, {}, 'json:{"a":[1,2],"b":"é"}', 'json:{"type":"echo","got":{"a":[1,2],"b":"é"}}'],
      ['u1', `udp://127.0.0.1:${port.udp}`, {}, 'str:hello udp', 'buf:hello udp'],
      ['w1', `ws://127.0.0.1:${port.ws}/echo`, {}, 'str:hello ws', 'str:hello ws'],
      ['x1', `text+unix://${sock}`, {}, 'str:hello unix', 'str:hello unix'],
    ];
    for (const [name, url, opts, send, expect] of cases) {
      t.test(url.split(':')[0], async (t) => {
        const from = ctl.lines.length;
        t.equal(await open(name, url, opts), `opened ${name} connecting `, 'connect() returns at once, state connecting');
        await ctl.wait(ev(name, 'connect', 'established '), `${name} connected`, from);
        await roundTrip(t, name, send, expect);
        t.equal(await ctl.cmd(`state ${name}`, `state ${name}`), `state ${name} established`);
      });
    }
    t.test('websocket binary frames arrive as Buffers', async (t) => {
      await roundTrip(t, 'w1', 'buf:binary ws', 'buf:binary ws');
    });
    t.test('a second frame and text message on the same clients', async (t) => {
      await roundTrip(t, 'f1', 'str:second', 'buf:second');
      await roundTrip(t, 't1', 'buf:as buffer', 'str:as buffer');
    });
    t.test('TLS text listener (text:// with opts.tls)', { skip: !cert && 'openssl is not installed' }, async (t) => {
      const from = ctl.lines.length;
      await open('s1', `text://127.0.0.1:${port.tlstext}`, { tls: { caFile: cert?.cert, servername: 'localhost' } });
      await ctl.wait(ev('s1', 'connect', 'established'), 's1 connected over TLS', from);
      await roundTrip(t, 's1', 'str:over tls', 'str:over tls');
    });
    t.test('active close: onClose, state closed, send() false', async (t) => {
      const from = ctl.lines.length;
      t.match(await ctl.cmd('close t1', 'closed t1'), /^closed t1 (closing|closed)$/);
      await ctl.wait(ev('t1', 'close', 'closed'), 't1 closed', from);
      t.equal(await ctl.cmd('send t1 str:late', 'sent t1'), 'sent t1 false');
      for (const n of ['f1', 'r1', 'j1', 'u1', 'w1', 'x1']) await ctl.cmd(`close ${n}`, `closed ${n}`);
      await ctl.wait(ev('w1', 'close', 'closed'), 'w1 closed', from);
      await ctl.wait(ev('u1', 'close', 'closed'), 'u1 closed', from);
    });
  });

  t.test('sends before the connection is up: queued up to maxSendBufferSize', async (t) => {
    const from = ctl.lines.length;
    const [a, b] = ['a'.repeat(600), 'b'.repeat(600)];
    const reply = await open('q', `text://127.0.0.1:${port.text}`, { maxSendBufferSize: 1000, first: [`str:${a}`, `str:${b}`, 'str:c'] });
    t.equal(reply, 'opened q connecting null,null,false', 'queued, queued (now full), refused');
    const full = await ctl.wait(ev('q', 'full'), 'onBufferFull while connecting', from);
    const refused = await ctl.wait(ev('q', 'error', 'LOOM_ERR_SEND_BUFFER_FULL'), 'onError for the refused send', from);
    t.ok(full.index < refused.index, 'onBufferFull before the refused send');
    const connected = await ctl.wait(ev('q', 'connect', 'established'), 'q connected', from);
    const drain = await ctl.wait(ev('q', 'drain'), 'onBufferDrain once the queue went out', from);
    t.ok(drain.index > connected.index, 'drained after onConnect');
    await ctl.wait(ev('q', 'message', `str:${a}$`), 'the first queued line echoed', from);
    await ctl.wait(ev('q', 'message', `str:${b}$`), 'the second queued line echoed', from);
    t.equal(ctl.count(ev('q', 'message', 'str:c$'), from), 0, 'the refused send never went out');

    // A client callback that throws is caught, counted and logged with the file and line.
    await ctl.cmd('throw q', 'armed q');
    await ctl.cmd('send q str:boom', 'sent q');
    await waitFor(() => /LOOM_ERR_HANDLER onMessage threw at ctl\.js:\d+:\d+: Error: boom in a client callback/.test(sb.log()), 'the error logged with ctl.js:line');
    t.equal((await statusJson(sb)).processes.find((p) => p.group === 'ctl')?.handlerErrors, 1, 'counted as a handler error');
    await ctl.cmd('close q', 'closed q');
  });

  t.test('ws:// and wss:// to a plain ws server', async (t) => {
    const paths: string[] = [];
    const wss = new WebSocketServer({ host: '127.0.0.1', port: port.wsTest });
    t.teardown(() => new Promise((r) => { for (const c of wss.clients) c.terminate(); wss.close(r); }));
    wss.on('connection', (socket, req) => {
      paths.push(req.url ?? '');
      socket.on('message', (data, isBinary) => socket.send(data, { binary: isBinary }));
    });
    await new Promise((r) => wss.once('listening', r));
    const from = ctl.lines.length;
    await open('wt', `ws://127.0.0.1:${port.wsTest}/some/path?x=1`);
    await ctl.wait(ev('wt', 'connect', `established 127\\.0\\.0\\.1:${port.wsTest}`), 'wt connected', from);
    t.same(paths, ['/some/path?x=1'], 'the server saw the path and query');
    await roundTrip(t, 'wt', 'str:text frame', 'str:text frame');
    await roundTrip(t, 'wt', 'buf:binary frame', 'buf:binary frame');
    await roundTrip(t, 'wt', 'json:{"k":1}', 'str:{"k":1}');
    // The server closes the client: a passive close, onClose once, no reconnect (interval 0).
    const before = ctl.lines.length;
    for (const c of wss.clients) c.close(1001);
    await ctl.wait(ev('wt', 'close', 'closed'), 'wt saw the server close it', before);
    // (That no reconnect follows without reconnectInterval is test/unit/client-cycle.ts's.)

    // With reconnectInterval, a WebSocket the server drops is made again.
    let from2 = ctl.lines.length;
    await open('wr', `ws://127.0.0.1:${port.wsTest}/again`, { reconnectInterval: 0.3 });
    await ctl.wait(ev('wr', 'connect', 'established'), 'wr connected', from2);
    from2 = ctl.lines.length;
    for (const c of wss.clients) c.terminate();
    await ctl.wait(ev('wr', 'close', 'closed'), 'wr dropped by the server', from2);
    await ctl.wait(ev('wr', 'connect', 'established'), 'wr reconnected', from2);
    await roundTrip(t, 'wr', 'str:after reconnect', 'str:after reconnect');
    await ctl.cmd('close wr', 'closed wr');

    t.test('wss://', { skip: !cert && 'openssl is not installed' }, async (t) => {
      const https = createHttpsServer({ cert: readFileSync(cert!.cert), key: readFileSync(cert!.key) });
      const secure = new WebSocketServer({ server: https });
      secure.on('connection', (socket) => socket.on('message', (data, isBinary) => socket.send(data, { binary: isBinary })));
      await new Promise<void>((r) => https.listen(port.wssTest, '127.0.0.1', () => r()));
      t.teardown(() => new Promise((r) => { for (const c of secure.clients) c.terminate(); secure.close(); https.close(r); }));
      const from = ctl.lines.length;
      await open('ws2', `wss://localhost:${port.wssTest}/secure`, { tls: { caFile: cert!.cert } });
      await ctl.wait(ev('ws2', 'connect', 'established'), 'ws2 connected', from);
      await roundTrip(t, 'ws2', 'str:over wss', 'str:over wss');
      await roundTrip(t, 'ws2', 'buf:binary wss', 'buf:binary wss');
      await ctl.cmd('close ws2', 'closed ws2');
    });
  });

  t.test('tls:// to a node:tls server', { skip: !cert && 'openssl is not installed' }, async (t) => {
    const server = createTlsServer({ cert: readFileSync(cert!.cert), key: readFileSync(cert!.key) }, (s: TLSSocket) => {
      s.on('data', (d) => s.write(`tls-echo:${d}`));
      s.on('error', () => undefined);
    });
    server.on('tlsClientError', () => undefined);
    await new Promise<void>((r) => server.listen(port.tlsTest, '127.0.0.1', () => r()));
    t.teardown(() => new Promise((r) => server.close(r)));

    let from = ctl.lines.length;
    await open('tl', `tls://127.0.0.1:${port.tlsTest}`, { tls: { caFile: cert!.cert } });
    await ctl.wait(ev('tl', 'connect', 'established'), 'tl connected', from);
    await roundTrip(t, 'tl', 'str:raw over tls', 'buf:tls-echo:raw over tls');
    await ctl.cmd('close tl', 'closed tl');

    // The self-signed certificate without its CA: the handshake fails, reported once.
    from = ctl.lines.length;
    await open('tlbad', `tls://127.0.0.1:${port.tlsTest}`);
    const err = await ctl.wait(ev('tlbad', 'error'), 'tlbad failed', from);
    t.match(err.line, /LOOM_ERR_CONNECT_FAILED connect tls:\/\/127\.0\.0\.1:\d+ failed: .*(self[- ]signed|certificate)/i, 'an untrusted certificate fails the connect');
    await ctl.wait(ev('tlbad', 'close', 'closed'), 'then onClose', from);
    t.equal(await ctl.cmd('state tlbad', 'state tlbad'), 'state tlbad closed');
  });

  t.test('refused connects and bad URLs', async (t) => {
    const from = ctl.lines.length;
    await open('nobody', `text://127.0.0.1:${port.refused}`);
    const err = await ctl.wait(ev('nobody', 'error'), 'the refused connect reported', from);
    t.match(err.line, /LOOM_ERR_CONNECT_FAILED .*ECONNREFUSED/);
    await ctl.wait(ev('nobody', 'close', 'closed'), 'then onClose', from);
    t.equal(ctl.count(ev('nobody', 'connect'), from), 0, 'never onConnect');

    // A protocol module that lacks encode(): onError once, onClose, no retry.
    const before = ctl.lines.length;
    t.equal(await open('broken', `broken://127.0.0.1:${port.text}`, { reconnectInterval: 0.2 }), 'opened broken connecting ');
    t.match((await ctl.wait(ev('broken', 'error'), 'the broken module reported', before)).line, /LOOM_ERR_PROTOCOL .*broken\.js: exports no encode\(\) function/);
    await ctl.wait(ev('broken', 'close', 'closed'), 'then onClose', before);
    t.equal(ctl.count(ev('broken', 'error'), before), 1, 'one onError');
    t.equal(await ctl.cmd('send broken str:x', 'sent broken'), 'sent broken false', 'no retry is due: send() is refused');

    t.match(await open('bad1', 'nosuch://127.0.0.1:1'), /^threw bad1 LOOM_ERR_CONNECT_URL .*no protocol module nosuch/);
    t.match(await open('bad2', 'http://127.0.0.1:1'), /^threw bad2 LOOM_ERR_CONNECT_URL /);
    t.match(await open('bad3', 'text://127.0.0.1'), /^threw bad3 LOOM_ERR_CONNECT_URL .*port/);
    t.match(await open('bad4', 'text://127.0.0.1:1', { reconnectInterval: -1 }), /^threw bad4 TypeError .*reconnectInterval/);
  });

  t.test('reconnect after reconnectInterval when the server goes away and comes back', async (t) => {
    const server = new LineServer(port.bounce);
    await server.start();
    t.teardown(() => server.stop());
    const interval = 0.4;
    let from = ctl.lines.length;
    await open('rc', `text://127.0.0.1:${port.bounce}`, { reconnectInterval: interval });
    await ctl.wait(ev('rc', 'connect', 'established'), 'rc connected', from);
    await roundTrip(t, 'rc', 'str:one', 'str:one');

    // The server goes away: a passive close, then failed attempts every `interval` seconds.
    from = ctl.lines.length;
    await server.stop();
    await ctl.wait(ev('rc', 'close', 'closed'), 'rc saw the server go', from);
    t.equal(await ctl.cmd('send rc str:queued while down', 'sent rc'), 'sent rc null', 'send() while a reconnect is due is queued');
    await waitFor(() => ctl.count(ev('rc', 'error', 'LOOM_ERR_CONNECT_FAILED'), from) >= 3, 'three failed attempts', 10000);
    const fails = ctl.times(ev('rc', 'error'), from);
    for (let i = 1; i < fails.length; i++) {
      t.ok(fails[i] - fails[i - 1] >= interval * 1000 * 0.8, `attempt ${i + 1} came ${fails[i] - fails[i - 1]} ms after the previous one (interval ${interval} s)`);
    }
    t.ok(ctl.count(ev('rc', 'close'), from) >= 3, 'each failed attempt ends with onClose');
    t.match(ctl.lines.find((l) => ev('rc', 'error').test(l)) ?? '', /ECONNREFUSED/);

    // It comes back on the same port: reconnected within an interval (plus slack).
    from = ctl.lines.length;
    await server.start();
    const back = Date.now();
    const re = await ctl.wait(ev('rc', 'connect', 'established'), 'rc reconnected', from);
    const delay = Number(re.line.split(' ')[3]) - back;
    t.ok(delay <= interval * 1000 + 2000, `reconnected ${delay} ms after the server came back`);
    await waitFor(() => server.received.includes('queued while down'), 'the queued line delivered');
    await roundTrip(t, 'rc', 'str:two', 'str:two');
    t.same(server.received, ['one', 'queued while down', 'two'], 'the queued send went first, in order');

    // reconnect() on demand: the live connection is dropped and made again after 0.2 s.
    from = ctl.lines.length;
    const connections = server.connections;
    await ctl.cmd('reconnect rc 0.2', 'reconnecting rc');
    await ctl.wait(ev('rc', 'close'), 'reconnect() closed the connection', from);
    await ctl.wait(ev('rc', 'connect', 'established'), 'and connected again', from);
    t.equal(server.connections, connections + 1, 'one new connection');

    // An active close never reconnects, even with reconnectInterval.
    from = ctl.lines.length;
    await ctl.cmd('close rc', 'closed rc');
    await ctl.wait(ev('rc', 'close', 'closed'), 'rc closed', from);
    // send() is refused only when no attempt is due: close() left none.
    t.equal(await ctl.cmd('send rc str:x', 'sent rc'), 'sent rc false', 'send() after close() is false: no reconnect is due');

    // close() while a reconnect is due cancels it.
    from = ctl.lines.length;
    await open('rc2', `text://127.0.0.1:${port.bounce}`, { reconnectInterval: interval });
    await ctl.wait(ev('rc2', 'connect', 'established'), 'rc2 connected', from);
    await server.stop();
    await ctl.wait(ev('rc2', 'close'), 'rc2 saw the server go', from);
    t.equal(await ctl.cmd('send rc2 str:queued', 'sent rc2'), 'sent rc2 null', 'a reconnect is due: send() is queued');
    await ctl.cmd('close rc2', 'closed rc2');
    t.equal(await ctl.cmd('send rc2 str:x', 'sent rc2'), 'sent rc2 false', 'close() cancelled the reconnect: send() is refused');
    await server.start();
  });

  t.test('connect timeout against a blackhole', async (t) => {
    const hole = await blackhole(t);
    const from = ctl.lines.length;
    const opened = Date.now();
    await open('bh', `tcp://127.0.0.1:${hole}`, { timeout: 0.5, reconnectInterval: 0.3 });
    await waitFor(() => ctl.count(ev('bh', 'error'), from) >= 2, 'two timed-out attempts', 10000);
    const errors = ctl.lines.slice(from).filter((l) => ev('bh', 'error').test(l));
    t.match(errors[0], /LOOM_ERR_CONNECT_TIMEOUT connect tcp:\/\/127\.0\.0\.1:\d+ timed out after 0\.5 s/);
    const times = ctl.times(ev('bh', 'error'), from);
    t.ok(times[0] - opened >= 450, `the first attempt timed out after ${times[0] - opened} ms (timeout 0.5 s)`);
    t.ok(times[1] - times[0] >= 700, `the second one ${times[1] - times[0]} ms later (interval 0.3 s + timeout 0.5 s)`);
    t.equal(ctl.count(ev('bh', 'connect'), from), 0, 'never connected');
    t.ok(ctl.count(ev('bh', 'close'), from) >= 1, 'onClose after a timed-out attempt');
    await ctl.cmd('close bh', 'closed bh');
    t.equal(await ctl.cmd('send bh str:x', 'sent bh'), 'sent bh false', 'close() ended the retries: send() is refused');
  });

  t.test('TCP proxy: handlers/tcp-proxy.js pipes both ways', async (t) => {
    const roundTripProxy = (payload: Buffer) => new Promise<Buffer>((resolve, reject) => {
      const s = connect(port.proxy, '127.0.0.1');
      const got: Buffer[] = [];
      let n = 0;
      const timer = setTimeout(() => { s.destroy(); reject(new Error(`proxy: ${n} of ${payload.length} bytes back within 20 s`)); }, 20000);
      s.on('data', (d: Buffer) => {
        got.push(d);
        n += d.length;
        if (n >= payload.length) { clearTimeout(timer); s.end(); resolve(Buffer.concat(got)); }
      });
      s.on('error', reject);
      s.write(payload);
    });
    t.equal((await roundTripProxy(Buffer.from('hello through the proxy\n'))).toString(), 'hello through the proxy\n', 'a round trip through the proxy');
    // 8 MB: more than the send buffers on both sides, so back-pressure is passed through pipe().
    const big = Buffer.alloc(8 * 1024 * 1024);
    for (let i = 0; i < big.length; i++) big[i] = i % 251;
    const back = await roundTripProxy(big).catch(async (err: Error) => {
      const st = await statusJson(sb);
      throw new Error(`${err.message}; sendFailures: ${st.processes.map((p) => `${p.group}=${p.sendFailures}`).join(' ')}`);
    });
    t.ok(back.equals(big), '8 MB through the proxy and back, intact');

    // The client closes: the proxy closes its upstream connection too.
    const upstreams = async () => (await statusJson(sb)).processes.find((p) => p.group === 'tcp')?.connections;
    await waitFor(async () => (await upstreams()) === 0, 'no upstream connection left from the round trips');
    const s = connect(port.proxy, '127.0.0.1');
    await new Promise((r) => s.once('connect', r));
    await waitFor(async () => (await upstreams()) === 1, 'the upstream connection made');
    s.destroy();
    await waitFor(async () => (await upstreams()) === 0, 'the upstream connection closed with the client');
  });

  t.test('no handler errors, no bad packets', async (t) => {
    const st = await statusJson(sb);
    for (const p of st.processes) {
      t.equal(p.handlerErrors, p.group === 'ctl' ? 1 : 0, `${p.group}: no handler errors but the one thrown on purpose`);
      t.equal(p.badPackets, 0, `${p.group}: no bad packets`);
      if (p.group !== 'ctl') t.equal(p.sendFailures, 0, `${p.group}: no send failures`);
    }
    t.equal(sb.log().split('\n').filter((l) => l.includes('LOOM_ERR_HANDLER')).length, 1, 'one handler error in the log, the one thrown on purpose');
  });
});

function escape(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
