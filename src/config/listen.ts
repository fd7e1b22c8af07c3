import { isIP } from 'node:net';

export type Transport = 'tcp' | 'udp' | 'unix';

/** A parsed `listen =` (or `worker.connect()`) address. */
export interface ListenSpec {
  /** As written in config.ini, for messages and the listeners table. */
  url: string;
  /** Application protocol: tcp (raw), text, frame, udp, or a custom protocol name. */
  protocol: string;
  transport: Transport;
  /** Host for tcp/udp ('' for unix), without IPv6 brackets. */
  host: string;
  port: number;
  /** Socket path for unix transports. */
  path: string;
}

/** Protocols built into Loom; any other name is a custom protocol module. */
export const BUILTIN_PROTOCOLS = ['tcp', 'text', 'frame', 'udp', 'http', 'websocket'] as const;
const NAME = /^[a-z][a-z0-9_-]*$/;

/** Throws an Error whose message says what is wrong with the address. */
export function parseListen(url: string): ListenSpec {
  const m = /^([A-Za-z][A-Za-z0-9_+-]*):\/\/(.*)$/.exec(url.trim());
  if (!m) throw new Error(`"${url}" is not protocol://host:port (or unix:///path)`);
  const scheme = m[1].toLowerCase();
  const rest = m[2];
  const parts = scheme.split('+');
  if (parts.length === 2 && parts[1] === 'udp') {
    throw new Error(`"${scheme}": a protocol cannot run over udp; udp://host:port delivers each datagram as one message`);
  }
  if (parts.length > 2 || (parts.length === 2 && parts[1] !== 'unix')) {
    throw new Error(`scheme "${scheme}" is not NAME (NAME://host:port) or NAME+unix (NAME+unix:///path)`);
  }
  if (scheme === 'unix' || parts[1] === 'unix') {
    const protocol = scheme === 'unix' ? 'tcp' : parts[0];
    if (protocol === 'udp') throw new Error('udp cannot run over a unix socket');
    if (!NAME.test(protocol)) throw new Error(`"${protocol}" is not a valid protocol name`);
    if (!rest.startsWith('/')) throw new Error(`unix socket path must be absolute, as unix:///run/loom.sock; got "${rest}"`);
    if (Buffer.byteLength(rest) > 107) throw new Error(`unix socket path is longer than 107 bytes`);
    return { url, protocol, transport: 'unix', host: '', port: 0, path: rest };
  }
  const protocol = scheme === 'ws' ? 'websocket' : scheme;
  if (!NAME.test(protocol)) throw new Error(`"${scheme}" is not a valid protocol name`);
  const { host, port } = parseHostPort(rest);
  return { url, protocol, transport: protocol === 'udp' ? 'udp' : 'tcp', host, port, path: '' };
}

function parseHostPort(rest: string): { host: string; port: number } {
  let host: string;
  let portText: string;
  if (rest.startsWith('[')) {
    const end = rest.indexOf(']');
    if (end < 0) throw new Error(`IPv6 address "${rest}" lacks the closing "]"`);
    host = rest.slice(1, end);
    if (isIP(host) !== 6) throw new Error(`"${host}" is not an IPv6 address`);
    host = canonicalIPv6(host);
    if (rest[end + 1] !== ':') throw new Error(`missing ":port" after [${host}]`);
    portText = rest.slice(end + 2);
  } else {
    const colon = rest.lastIndexOf(':');
    if (colon < 0) throw new Error(`missing ":port" in "${rest}"`);
    host = rest.slice(0, colon);
    portText = rest.slice(colon + 1);
    if (host.includes(':')) throw new Error(`IPv6 address must be in brackets, as [::1]:8080`);
    if (!host) throw new Error(`missing host in "${rest}" (use 0.0.0.0 for every interface)`);
    if (isIP(host) === 0 && !/^[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?$/.test(host)) {
      throw new Error(`"${host}" is not an IP address or host name`);
    }
  }
  portText = portText.replace(/\/.*$/, '');
  if (!/^\d+$/.test(portText)) throw new Error(`port "${portText}" is not a number`);
  const port = Number(portText);
  if (port < 1 || port > 65535) throw new Error(`port ${port} is out of range 1-65535`);
  return { host, port };
}

/** One spelling per IPv6 address (`0::1` and `::1` alike), so clashes are seen. */
function canonicalIPv6(host: string): string {
  try {
    return new URL(`tcp://[${host}]/`).hostname.slice(1, -1);
  } catch {
    return host; // a zone id (fe80::1%eth0) is not URL syntax: keep it as written
  }
}

/** The address as shown to people: host:port, [v6]:port or the socket path. */
export function formatAddress(spec: ListenSpec): string {
  if (spec.transport === 'unix') return spec.path;
  return spec.host.includes(':') ? `[${spec.host}]:${spec.port}` : `${spec.host}:${spec.port}`;
}
