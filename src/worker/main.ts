// Entry of a worker process: receives its group's settings and the listening socket from the
// master, loads the handler, serves, and stops gracefully when told.
import { createServer, Socket, type Server, type SocketConstructorOpts } from 'node:net';
import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import type { GroupConfig } from '../config/types.js';
import { Logger } from '../log/logger.js';
import type { ConnectionInfo, ToMaster, ToWorker, WorkerInit } from '../ipc/messages.js';
import type { AsyncConnection, Connection, Handler, Worker } from '../types/handler.js';
import { StreamConnection } from '../core/stream.js';
import type { ListenerContext } from '../core/context.js';
import { Guard } from '../core/guard.js';
import { newStats } from '../core/stats.js';
import { WorkerTimers } from '../core/timers.js';
import { attachUdp } from './udp.js';
import { Balancer } from './balance.js';
import { connect } from '../clients/connect.js';
import { createServer as createTlsServer } from 'node:tls';
import { attachHttp, createWebServer, tlsOptions } from '../http/server.js';
import { attachWebSocket } from '../http/websocket.js';
import { waitForQuiet } from './lifecycle.js';
import { describeLoadError, loadModule } from '../core/load-module.js';
import { loadProtocol } from '../core/protocol-loader.js';

/** Handles the kernel gives the master; received here as raw libuv handles. */
interface RawHandle { fd: number; close(): void }

export function runWorker(): void {
  const send = (m: ToMaster) => { if (process.connected) process.send!(m); };
  process.once('message', (msg: ToWorker, handle?: unknown) => {
    if (msg.t !== 'init') return;
    start(msg, handle as RawHandle | undefined, send).catch((err: unknown) => {
      send({ t: 'fatal', message: err instanceof Error ? err.message : String(err) });
      setImmediate(() => process.exit(1));
    });
  });
  // The master is gone (even by SIGKILL): never linger holding its ports.
  process.on('disconnect', () => process.exit(0));
  // Ctrl+C and `timeout` signal the whole process group: the master coordinates the stop.
  process.on('SIGINT', () => undefined);
}

async function start(init: WorkerInit, handle: RawHandle | undefined, send: (m: ToMaster) => void): Promise<void> {
  const group = init.group;
  process.title = `${init.name}: worker ${group.name} #${init.workerId}`;
  const log = new Logger(init.logFile, `${group.name}#${init.workerId}[${process.pid}]`, init.foreground);
  const stats = newStats();
  const guard = new Guard(log, stats, init.handlersDir);
  process.on('uncaughtException', (err) => guard.report('uncaught exception', err));
  process.on('unhandledRejection', (err) => guard.report('unhandled rejection', err));

  if (init.user && init.user.uid !== process.getuid?.()) {
    // After the master bound the sockets, before any user code runs.
    process.setgroups?.([init.user.gid]);
    process.setgid?.(init.user.gid);
    process.setuid?.(init.user.uid);
  }
  const protocol = await loadProtocol(init.handlersDir, group.listen?.protocol ?? 'tcp');
  let handler: Handler = {};
  if (group.handler) {
    try {
      handler = (await loadModule(group.handler)) as Handler;
    } catch (err) {
      throw new Error(`LOOM_ERR_HANDLER_LOAD ${describeLoadError(group.handler, err)}`);
    }
  }

  const connections = new Map<number, Connection>();
  const timers = new WorkerTimers(guard);
  const worker: Worker = {
    id: init.workerId, name: group.name, count: group.count, pid: process.pid, connections, timers,
    connect: (url, opts) => {
      const client = connect(url, opts ?? {}, { guard, stats, log, handlersDir: init.handlersDir, worker, nextConnectionId: () => nextId++ });
      // Remembered so a stop can close them; closed ones are dropped as the set grows.
      if (clients.size >= clientsPruneAt) {
        for (const c of clients) if (c.state === 'closed') clients.delete(c);
        clientsPruneAt = Math.max(64, clients.size * 2);
      }
      clients.add(client);
      return client;
    },
  };
  const clients = new Set<AsyncConnection>();
  let clientsPruneAt = 64;
  let nextId = 1;
  const ctx: ListenerContext = {
    url: group.listen?.url ?? '',
    protocolName: group.listen?.protocol ?? '',
    protocol,
    handler,
    guard,
    stats,
    log,
    worker,
    maxPackageSize: group.maxPackageSize,
    maxSendBufferSize: group.maxSendBufferSize,
    connections,
    nextConnectionId: () => nextId++,
  };

  if (handler.onWorkerStart) {
    try {
      await handler.onWorkerStart(worker);
    } catch (err) {
      throw new Error(`LOOM_ERR_WORKER_START onWorkerStart threw at ${guard.locate(err)}: ${(err as Error)?.message ?? String(err)}`);
    }
  }

  let server: Server | null = null;
  let balancer_: Balancer | null = null;
  let udp: UdpSocket | null = null;
  if (group.listen && handle) {
    if (group.listen.transport === 'udp') {
      udp = await listenUdp(handle, group);
      attachUdp(udp, ctx);
    } else {
      const balancer = new Balancer(stats, (m, h, done) => {
        if (process.connected) process.send!(m, h as never, undefined, () => done?.());
      });
      balancer_ = balancer;
      server = await listenStream(handle, group, ctx, (socket) => {
        if (balancer.handOff(socket)) return;
        socket.resume();
        new StreamConnection(socket, ctx);
      });
    }
  }
  send({ t: 'ready' });
  let lastTotal = 0;
  setInterval(() => {
    stats.qps = stats.totalRequests - lastTotal;
    lastTotal = stats.totalRequests;
  }, 1000).unref();

  let stopping = false;
  process.on('message', (msg: ToWorker, handle?: unknown) => {
    if (msg.t === 'adopt' && handle) {
      const socket = new Socket({ handle, readable: true, writable: true } as SocketConstructorOpts);
      socket.setNoDelay(true);
      if (stopping) socket.destroy();
      else new StreamConnection(socket, ctx);
    } else if (msg.t === 'report') {
      send({ t: 'report', req: msg.req, report: {
        stats: { ...stats },
        timers: timers.count,
        state: stopping ? 'stopping' : 'running',
        connections: msg.connections ? describeConnections(connections) : undefined,
      } });
    } else if (msg.t === 'balance') {
      balancer_?.update(msg.minSibling, msg.siblings);
    } else if (msg.t === 'reopen-logs') {
      try { log.reopen(); } catch (err) { guard.report('log reopen', err); }
    } else if (msg.t === 'stop') {
      beginStop(msg.reason, msg.drainMs);
    }
  });
  process.on('SIGTERM', () => beginStop('stop', 0));

  function beginStop(reason: 'stop' | 'reload', drainMs: number): void {
    if (stopping) return;
    stopping = true;
    void stop(reason, drainMs);
  }

  async function stop(reason: 'stop' | 'reload', drainMs: number): Promise<void> {
    server?.close();
    udp?.close();
    if (reason === 'reload') {
      const r = guard.call('onWorkerReload', handler.onWorkerReload, handler, worker);
      if (r instanceof Promise) await r.catch(() => undefined);
      // Like Workerman's graceful reload: keep serving the connections already accepted until
      // their clients close them, or the drain time is up; a new process takes the new ones.
      const deadline = Date.now() + drainMs;
      while (connections.size > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    }
    for (const c of connections.values()) c.pauseRecv();
    timers.delPersistent();
    await guard.idle();
    await waitForQuiet();
    const r = guard.call('onWorkerStop', handler.onWorkerStop, handler, worker);
    if (r instanceof Promise) await r.catch(() => undefined);
    for (const c of connections.values()) c.close();
    // Async clients too (their onClose runs); a reconnect that is due is cancelled by close().
    for (const c of clients) if (c.state !== 'closed') c.close();
    const open = () => connections.size > 0 || [...clients].some((c) => c.state !== 'closed');
    while (open()) await new Promise((r) => setTimeout(r, 10));
    log.info(reason === 'reload' ? 'drained after reload' : 'stopped');
    process.exit(0);
  }
}

function listenStream(handle: RawHandle, group: GroupConfig, ctx: ListenerContext, onConnection: (s: Socket) => void): Promise<Server> {
  const listen = group.listen!;
  let server: Server;
  if (listen.protocol === 'http' || listen.protocol === 'websocket') {
    const web = createWebServer(group);
    if (listen.protocol === 'http') attachHttp(web, ctx, group);
    else attachWebSocket(web, ctx, group);
    server = web;
  } else if (group.tls) {
    // TLS text/frame/tcp/custom: connections are handed over only after the handshake, so
    // they are not balanced by hand-off (worker/balance.ts); the handshake cost spreads them.
    server = createTlsServer(tlsOptions(group)!, (socket) => {
      socket.setNoDelay(true);
      new StreamConnection(socket, ctx);
    });
    server.on('tlsClientError', () => { ctx.stats.badPackets++; });
  } else {
    // Paused: a connection handed to a sibling must not have a byte read here.
    server = createServer({ noDelay: true, pauseOnConnect: true }, onConnection);
  }
  return new Promise((resolve, reject) => {
    server.once('error', (err) => reject(new Error(`LOOM_ERR_BIND ${listen.url}: ${err.message}`)));
    const onListening = () => resolve(server);
    // A TCP handle is adopted as is; a unix socket handle through its fd (as node:cluster does).
    if (listen.transport === 'unix') server.listen({ fd: handle.fd }, onListening);
    else server.listen(handle as never, onListening);
  });
}

function listenUdp(handle: RawHandle, group: GroupConfig): Promise<UdpSocket> {
  return new Promise((resolve, reject) => {
    const socket = createSocket(group.listen!.host.includes(':') ? 'udp6' : 'udp4');
    socket.once('error', (err) => reject(new Error(`LOOM_ERR_BIND ${group.listen!.url}: ${err.message}`)));
    socket.bind({ fd: handle.fd }, () => resolve(socket));
  });
}

function describeConnections(connections: Map<number, Connection>): ConnectionInfo[] {
  const out: ConnectionInfo[] = [];
  const now = Date.now();
  for (const c of connections.values()) {
    // Stream, HTTP and WebSocket connections all keep their TCP socket; UDP ones have none.
    const { socket: s, createdAt } = c as Partial<{ socket: Socket; createdAt: number }>;
    if (!s || createdAt === undefined) continue;
    out.push({
      id: c.id,
      protocol: c.protocol,
      local: s.localPort ? `${s.localAddress}:${s.localPort}` : String(s.localAddress ?? ''),
      remote: c.remotePort ? `${c.remoteAddress}:${c.remotePort}` : 'unix',
      bytesIn: s.bytesRead,
      bytesOut: s.bytesWritten,
      sendQueue: s.writableLength,
      ageSeconds: Math.round((now - createdAt) / 1000),
    });
  }
  return out;
}
