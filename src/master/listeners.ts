// The master binds every listening socket itself, then hands the handle to each worker of
// the group: workers accept on the shared socket directly (no master in the data path), and
// a bind failure is found before any worker starts.
import * as dgram from 'node:dgram';
import * as net from 'node:net';
import { getSystemErrorName } from 'node:util';
import { unlinkSync, lstatSync } from 'node:fs';
import { LoomError } from '../core/errors.js';
import { formatAddress, type ListenSpec } from '../config/listen.js';

/** A bound (not yet listening) libuv handle: TCP, Pipe or UDP. */
export interface BoundHandle {
  close(): void;
  fd: number;
}

// node:cluster's own helpers: bind without listening, so the master never accepts.
const createServerHandle = (net as unknown as {
  _createServerHandle(address: string | null, port: number, addressType: number, fd?: number, flags?: number): BoundHandle | number;
})._createServerHandle;

export async function bindListener(spec: ListenSpec): Promise<BoundHandle> {
  if (spec.transport === 'udp') return bindUdp(spec);
  let result: BoundHandle | number;
  if (spec.transport === 'unix') {
    removeStaleSocket(spec.path);
    result = createServerHandle(spec.path, -1, -1);
  } else {
    const family = net.isIP(spec.host) || 4;
    result = createServerHandle(spec.host, spec.port, family, undefined, 0);
  }
  if (typeof result !== 'number' && spec.transport === 'tcp') {
    // libuv holds a TCP bind's EADDRINUSE back until listen(), which only workers call;
    // getsockname() reports the held-back error now, before any worker starts.
    const held = (result as unknown as { getsockname(out: object): number }).getsockname({});
    if (held) {
      result.close();
      result = held;
    }
  }
  if (typeof result === 'number') throw bindError(spec, getSystemErrorName(result));
  return result;
}

function bindError(spec: ListenSpec, code: string): LoomError {
  return new LoomError('LOOM_ERR_BIND', `cannot bind ${spec.url} (${formatAddress(spec)}): ${explain(code)}`);
}

/**
 * A udp socket bound with the public API (dgram's handle helper is deprecated, DEP0112), whose
 * reading is then stopped: a datagram read by the master would be lost, the workers read them
 * all. dgram has no public way to stop receiving, hence its state object.
 */
function bindUdp(spec: ListenSpec): Promise<BoundHandle> {
  const v6 = net.isIPv6(spec.host);
  const socket = dgram.createSocket({ type: v6 ? 'udp6' : 'udp4', ipv6Only: v6 && spec.host !== '::' });
  return new Promise((resolve, reject) => {
    const onBindError = (err: NodeJS.ErrnoException) => {
      socket.close();
      reject(bindError(spec, err.code ?? err.message));
    };
    socket.once('error', onBindError);
    socket.bind({ address: spec.host, port: spec.port, exclusive: true }, () => {
      const state = Object.getOwnPropertySymbols(socket).map((k) => (socket as unknown as Record<symbol, unknown>)[k])
        .find((v): v is { handle: BoundHandle & { recvStop(): number }; receiving: boolean } =>
          typeof v === 'object' && v !== null && 'handle' in v && 'receiving' in v);
      if (!state) {
        socket.close();
        reject(new LoomError('LOOM_ERR_BIND', `cannot bind ${spec.url}: this Node.js keeps no dgram state Loom knows`));
        return;
      }
      state.handle.recvStop();
      state.receiving = false;
      socket.off('error', onBindError);
      socket.on('error', () => undefined); // the master's copy reads nothing: nothing to report
      // The raw handle travels to the workers; closing it is the master's copy gone.
      resolve(state.handle);
    });
  });
}

function explain(code: string): string {
  switch (code) {
    case 'EADDRINUSE': return 'EADDRINUSE, address already in use';
    case 'EACCES': return 'EACCES, permission denied (ports below 1024 need root)';
    case 'EADDRNOTAVAIL': return 'EADDRNOTAVAIL, no such local address';
    case 'ENOENT': return 'ENOENT, the socket directory does not exist';
    default: return code;
  }
}

/**
 * A socket file left by a crashed run makes bind fail with EADDRINUSE. Like nginx, Loom
 * replaces a socket file at its own listen path; a regular file there is never touched.
 */
function removeStaleSocket(path: string): void {
  try {
    if (lstatSync(path).isSocket()) unlinkSync(path);
  } catch {
    /* absent, or bind reports the real problem */
  }
}
