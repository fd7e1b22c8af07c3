// Entry of a worker process: receives its group's settings and the listening socket from the
// master, loads the handler, serves, answers the master's questions, and stops gracefully
// when told.
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { Socket as UdpSocket } from 'node:dgram';
import { Socket, type Server, type SocketConstructorOpts } from 'node:net';
import { ListenerContext } from '../core/context.js';
import { LoomError, errorMessage } from '../core/errors.js';
import { Guard } from '../core/guard.js';
import { describeLoadError, loadModule } from '../core/load-module.js';
import { loadProtocol } from '../core/protocol-loader.js';
import { newStats } from '../core/stats.js';
import { StreamConnection } from '../core/stream-connection.js';
import { acceptHandles, type StreamHandle } from '../core/bare-handle.js';
import { WorkerTimers } from '../core/timers.js';
import type { ConnectionInfo, ToMaster, ToWorker, WorkerInit } from '../ipc/messages.js';
import { Logger } from '../log/logger.js';
import { restoreNodeOptions } from '../ipc/node-options.js';
import type { Connection, Handler, Worker } from '../types/handler.js';
import { Balancer } from './balance.js';
import { WorkerClients } from './clients.js';
import { listenStream, listenUdp, type RawHandle } from './listen.js';
import { leanHandleAcceptor } from '../http/server.js';
import { fileLimit, openFiles, watchFileDescriptors } from './fd-watch.js';
import { gracefulStop } from './stop.js';
import { LocalBus } from '../bus/local.js';
import { BUILTIN_PROTOCOLS } from '../config/listen.js';
import { Business } from '../gateway/business.js';
import { Gateway } from '../gateway/gateway.js';
import { listenPush } from './push-listener.js';
import { attachUdp } from './udp.js';

type Send = (m: ToMaster) => void;

export function runWorker(): void {
  restoreNodeOptions();
  const send: Send = (m) => { if (process.connected) process.send!(m); };
  process.once('message', (msg: ToWorker, handle?: unknown) => {
    if (msg.t !== 'init') return;
    start(msg, handle as RawHandle | undefined, send).catch((err: unknown) => {
      const code = err instanceof LoomError ? err.code : 'LOOM_ERR_WORKER_START';
      send({ t: 'fatal', code, message: errorMessage(err) });
      setImmediate(() => process.exit(1));
    });
  });
  // The master is gone (even by SIGKILL): never linger holding its ports.
  process.on('disconnect', () => process.exit(0));
  // Ctrl+C and `timeout` signal the whole process group: the master coordinates the stop.
  process.on('SIGINT', () => undefined);
}

async function start(init: WorkerInit, handle: RawHandle | undefined, send: Send): Promise<void> {
  const group = init.group;
  process.title = `${init.name}: worker ${group.name} #${init.workerId}`;
  const log = new Logger(init.logFile, `${group.name}#${init.workerId}[${process.pid}]`, init.foreground);
  const stats = newStats();
  const guard = new Guard(log, stats, init.handlersDir);
  process.on('uncaughtException', (err) => guard.report('uncaught exception', err));
  process.on('unhandledRejection', (err) => guard.report('unhandled rejection', err));

  if (init.user && (init.user.uid !== process.getuid?.() || init.user.gid !== process.getgid?.())) {
    // After the master bound the sockets, before any user code runs.
    process.setgroups?.([init.user.gid]);
    process.setgid?.(init.user.gid);
    process.setuid?.(init.user.uid);
  }
  const protocol = await loadProtocol(init.handlersDir, group.listen?.protocol ?? 'tcp');
  let handler: Handler = {};
  let handlerVersion: string | null = null;
  if (group.handler) {
    try {
      handlerVersion = versionOf(group.handler);
      handler = (await loadModule(group.handler)) as Handler;
    } catch (err) {
      throw new LoomError('LOOM_ERR_HANDLER_LOAD', describeLoadError(group.handler, err), { cause: err });
    }
  }

  // A gateway runs Loom's own handler; a business process reaches its gateways over the bus.
  let gateway: Gateway | null = null;
  let business: Business | null = null;
  if (init.gateway) {
    const part = init.gateway;
    const bus = new LocalBus(part.busDir);
    if (part.role === 'gateway') {
      gateway = new Gateway({
        group: part.section, index: init.workerId, businessCount: part.businesses,
        pingInterval: group.pingInterval, pingNotResponseLimit: group.pingNotResponseLimit, pingData: group.pingData,
        verdictTimeout: group.headerTimeout, protocol,
        wire: group.listen?.protocol === 'websocket' ? 'websocket' : (BUILTIN_PROTOCOLS as readonly string[]).includes(group.listen?.protocol ?? 'tcp') ? 'builtin' : 'custom',
        endpoint: bus.gateway(part.section, init.workerId), stats, log,
      });
      handler = gateway.handler();
      await gateway.start();
    } else {
      business = new Business({ group: part.section, slot: init.workerId, gatewayCount: part.gateways, endpoint: bus.business(part.section), handler, guard, stats, log });
      await business.start();
    }
  }

  let nextId = 1;
  const nextConnectionId = () => nextId++;
  const connections = new Map<number, Connection>();
  const timers = new WorkerTimers(guard);
  const worker: Worker = {
    id: init.workerId, name: init.gateway?.section ?? group.name, count: group.count, pid: process.pid, connections, timers,
    connect: (url, opts) => clients.connect(url, opts),
    ...(business ? { gateway: business.api } : {}),
  };
  const clients = new WorkerClients({ guard, stats, log, handlersDir: init.handlersDir, worker, nextConnectionId });
  const ctx = new ListenerContext({
    url: group.listen?.url ?? '',
    protocolName: group.listen?.protocol ?? '',
    protocol, handler, guard, stats, log, worker,
    maxPackageSize: group.maxPackageSize,
    maxSendBufferSize: group.maxSendBufferSize,
    connections, nextConnectionId,
  });

  if (handler.onWorkerStart) {
    try {
      await handler.onWorkerStart(worker);
    } catch (err) {
      throw new LoomError('LOOM_ERR_WORKER_START', `onWorkerStart threw at ${guard.locate(err)}: ${errorMessage(err)}`, { cause: err });
    }
  }

  // Before the listener accepts its first connection: status estimates what each connection
  // costs from the growth over this.
  const baseRss = process.memoryUsage.rss();
  let server: Server | null = null;
  let balancer: Balancer | null = null;
  let udp: UdpSocket | null = null;
  /**
   * On plain TCP, connections are taken as bare handles (core/bare-handle.ts), handed-over ones
   * too; this makes a stream connection or a lean HTTP session of one.
   */
  let takeHandle: ((h: StreamHandle) => void) | null = null;
  if (business && group.listen && handle) {
    server = await listenPush(handle, group, business.api, log);
  } else if (group.listen && handle) {
    if (group.listen.transport === 'udp') {
      udp = await listenUdp(handle, group);
      attachUdp(udp, ctx);
    } else {
      const b = new Balancer(stats, (m, h, done) => {
        if (process.connected) process.send!(m, h as never, undefined, () => done?.());
      });
      balancer = b;
      server = await listenStream(handle, group, init.tls, ctx, (socket) => {
        if (b.handOff(socket)) return;
        socket.resume();
        new StreamConnection(socket, ctx);
      });
      if (!init.tls && group.listen.transport === 'tcp') {
        // Stream listeners make a StreamConnection of a handle, lean http:// and ws:// ones an
        // HTTP session (none for http.Server, the parser binding's fallback).
        const web = group.listen.protocol === 'http' || group.listen.protocol === 'websocket';
        const take = web ? leanHandleAcceptor(server) : (h: StreamHandle) => { new StreamConnection(h, ctx); };
        if (take !== null) {
          const taken = acceptHandles(server, (h) => {
            // The balancer reads a fresh socket's handle and destroys the socket once it is sent.
            if (b.handOff({ _handle: h, destroy: () => h.close() } as unknown as Socket)) return;
            take(h);
          });
          if (taken) takeHandle = take;
        }
      }
      watchFileDescriptors(group.listen.url, stats, log);
    }
  }
  business?.serve();
  send({ t: 'ready' });
  let lastTotal = 0;
  setInterval(() => {
    stats.qps = stats.totalRequests - lastTotal;
    lastTotal = stats.totalRequests;
  }, 1000).unref();

  let stopping = false;
  const beginStop = (reason: 'stop' | 'reload', drainMs: number): void => {
    if (stopping) return;
    stopping = true;
    void gracefulStop({
      reason, drainMs, handler, worker, guard, timers, connections, clients, log,
      closeListeners: () => { server?.close(); udp?.close(); },
      leave: business ? () => business!.leave() : undefined,
      finish: () => { business?.close(); gateway?.stop(); },
    }).then(() => {
      ctx.badPackets.flush();
      process.exit(0);
    });
  };

  process.on('message', (msg: ToWorker, handle?: unknown) => {
    switch (msg.t) {
      case 'ping':
        return send({ t: 'pong', seq: msg.seq });
      case 'adopt': {
        if (!handle) return;
        if (takeHandle !== null && !stopping) {
          const h = handle as StreamHandle;
          h.setNoDelay?.(true);
          takeHandle(h);
          return;
        }
        const socket = new Socket({ handle, readable: true, writable: true } as SocketConstructorOpts);
        socket.setNoDelay(true);
        if (stopping) socket.destroy();
        else new StreamConnection(socket, ctx);
        return;
      }
      case 'report':
        return send({ t: 'report', req: msg.req, report: {
          stats: { ...stats },
          handlerVersion,
          ...(gateway ? { gateway: gateway.report() } : {}),
          files: openFiles(),
          fileLimit: fileLimit(),
          timers: timers.count,
          state: stopping ? 'stopping' : 'running',
          baseRss,
          connections: msg.connections ? describeConnections(connections, clients, gateway) : undefined,
        } });
      case 'scale':
        gateway?.setBusinessCount(msg.businesses);
        business?.gatewaysChanged(msg.gateways);
        return;
      case 'balance':
        return balancer?.update(msg.minSibling, msg.siblings);
      case 'reopen-logs':
        try { log.reopen(); } catch (err) { guard.report('log reopen', err); }
        return;
      case 'stop':
        return beginStop(msg.reason, msg.drainMs);
    }
  });
  process.on('SIGTERM', () => beginStop('stop', 0));
}

/** A short hash of the handler file's bytes: `status` shows which code each process runs. */
function versionOf(file: string): string {
  return createHash('sha256').update(readFileSync(file)).digest('hex').slice(0, 8);
}

function describeConnections(connections: Map<number, Connection>, clients: WorkerClients, gateway: Gateway | null): ConnectionInfo[] {
  const now = Date.now();
  const out: ConnectionInfo[] = [];
  for (const c of connections.values()) {
    const row = (c as Partial<{ describe(now: number): ConnectionInfo | null }>).describe?.(now);
    if (row) out.push(gateway ? gateway.describe(c, row) : row);
  }
  return out.concat(clients.describe(now));
}
