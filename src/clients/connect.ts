// worker.connect(url, opts): async clients with Workerman's AsyncTcpConnection / beyod
// StreamClient semantics. This file parses the URL and picks the client kind: stream-client.ts
// (tcp, text, frame, custom NAME:// protocols, each optionally over TLS; tls:// is tcp over
// TLS), ws-client.ts (ws://, wss://), udp-client.ts (udp://); their one life cycle is cycle.ts.
//
// Semantics, for all clients:
// - connect() returns at once; the first attempt starts on the next turn of the event loop,
//   so the caller sets onConnect/onMessage/onClose/onError/onBufferFull/onBufferDrain first.
// - state: 'connecting' -> 'established' -> 'closing' -> 'closed'.
// - A failed attempt (refused, unreachable, TLS or WebSocket handshake refused, or no
//   connection within `timeout` seconds) calls onError with a LoomError whose code is
//   LOOM_ERR_CONNECT_FAILED (the system error as its cause) or LOOM_ERR_CONNECT_TIMEOUT,
//   then onClose, as Workerman does (so a pipe() partner is closed too).
// - reconnectInterval > 0: after a failed attempt or a passive close (the peer closed, a
//   network error, a bad packet) the client tries again after that many seconds. close() and
//   destroy() never reconnect; reconnect(afterSeconds) does it on demand, also after close(),
//   and on a live connection drops it first (onClose fires, then the new attempt).
// - send() before the connection is up (or while a reconnect is due) queues the encoded data
//   and returns null, up to maxSendBufferSize bytes (onBufferFull when reached, then false
//   with onError LOOM_ERR_SEND_BUFFER_FULL); the queue goes out, in order, before onConnect
//   runs. It is dropped when the client is closed or gives up (no reconnect due).
// - close() while connecting abandons the attempt and the queued data.
import { isIP } from 'node:net';
import type { ConnectionOptions } from 'node:tls';
import { parseListen, type ListenSpec } from '../config/listen.js';
import { LoomError } from '../core/errors.js';
import { findProtocolFile, loadProtocolFile } from '../core/protocol-loader.js';
import { BUILTIN } from '../protocols/builtin.js';
import type { AsyncConnection, ConnectOptions, ProtocolModule } from '../types/handler.js';
import { seconds } from './cycle.js';
import type { ClientDeps, ClientSettings } from './options.js';
import { StreamClient } from './stream-client.js';
import { UdpClient } from './udp-client.js';
import { WsClient } from './ws-client.js';

export type { ClientDeps } from './options.js';

export function connect(url: string, opts: ConnectOptions, deps: ClientDeps): AsyncConnection {
  if (typeof url !== 'string') throw new LoomError('LOOM_ERR_CONNECT_URL', `worker.connect(): the URL must be a string, got ${typeof url}`);
  const base: ClientSettings = {
    id: deps.nextConnectionId(),
    url,
    reconnectInterval: seconds(opts.reconnectInterval, 'reconnectInterval'),
    timeout: seconds(opts.timeout, 'timeout'),
    deps,
  };
  const scheme = /^([A-Za-z][A-Za-z0-9_+-]*):\/\//.exec(url.trim())?.[1].toLowerCase();
  if (scheme === 'ws' || scheme === 'wss') {
    let parsed: URL;
    try {
      parsed = new URL(url.trim());
    } catch {
      throw new LoomError('LOOM_ERR_CONNECT_URL', `worker.connect("${url}"): not a valid ws:// or wss:// URL`);
    }
    return new WsClient(base, parsed, tlsOptions(opts.tls, parsed.hostname.replace(/^\[(.*)\]$/, '$1')));
  }
  let spec: ListenSpec;
  try {
    spec = parseListen(url);
  } catch (err) {
    throw new LoomError('LOOM_ERR_CONNECT_URL', `worker.connect("${url}"): ${(err as Error).message}`);
  }
  if (spec.transport === 'udp') return new UdpClient(base, spec);
  let name = spec.protocol;
  let tls = opts.tls !== undefined && opts.tls !== false;
  if (name === 'tls') { name = 'tcp'; tls = true; }
  if (name === 'http' || name === 'https' || name === 'websocket' || name === 'wss') {
    throw new LoomError('LOOM_ERR_CONNECT_URL', `worker.connect("${url}"): ${name} is not a client protocol of Loom; use ws:// or wss:// for WebSocket, fetch() for HTTP`);
  }
  if (tls && spec.transport === 'unix') {
    throw new LoomError('LOOM_ERR_CONNECT_URL', `worker.connect("${url}"): TLS over a unix socket is not supported`);
  }
  let protocol: ProtocolModule | Promise<ProtocolModule> | undefined = BUILTIN[name];
  if (!protocol) {
    const file = findProtocolFile(deps.handlersDir, name);
    if (!file) throw new LoomError('LOOM_ERR_CONNECT_URL', `worker.connect("${url}"): no protocol module ${name} in ${deps.handlersDir}/protocols (.js, .cjs, .mjs or .ts)`);
    protocol = loadProtocol(file);
  }
  return new StreamClient(base, spec, name, protocol, tls ? tlsOptions(opts.tls === undefined ? true : opts.tls, spec.host) : null);
}

/** Custom protocol modules, loaded once per worker process. */
const protocols = new Map<string, Promise<ProtocolModule>>();

function loadProtocol(file: string): Promise<ProtocolModule> {
  let p = protocols.get(file);
  if (!p) {
    p = loadProtocolFile(file);
    // A module that failed to load is tried again by the next connect(), once fixed.
    p.catch(() => protocols.delete(file));
    protocols.set(file, p);
  }
  return p;
}

/** tls.connect options from ConnectOptions.tls; SNI names the host unless it is an IP. */
function tlsOptions(tls: ConnectOptions['tls'], host: string): ConnectionOptions | null {
  if (tls === undefined || tls === false) return null;
  const opts: ConnectionOptions = tls === true ? {} : { ...(tls as ConnectionOptions) };
  if (opts.servername === undefined && host && isIP(host) === 0) opts.servername = host;
  return opts;
}
