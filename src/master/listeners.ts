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
const createSocketHandle = (dgram as unknown as {
  _createSocketHandle(address: string, port: number, type: string, fd?: number, flags?: number): BoundHandle | number;
})._createSocketHandle;

const IPV6_ONLY = 1; // UV_TCP_IPV6ONLY / UV_UDP_IPV6ONLY

export function bindListener(spec: ListenSpec): BoundHandle {
  let result: BoundHandle | number;
  if (spec.transport === 'unix') {
    removeStaleSocket(spec.path);
    result = createServerHandle(spec.path, -1, -1);
  } else if (spec.transport === 'udp') {
    const v6 = net.isIPv6(spec.host);
    result = createSocketHandle(spec.host, spec.port, v6 ? 'udp6' : 'udp4', undefined, v6 && spec.host !== '::' ? IPV6_ONLY : 0);
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
  if (typeof result === 'number') {
    const name = getSystemErrorName(result);
    throw new LoomError('LOOM_ERR_BIND', `cannot bind ${spec.url} (${formatAddress(spec)}): ${explain(name)}`);
  }
  return result;
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
