// One datagram per message (udp listeners and udp:// clients).

/** The largest UDP payload over IPv4. */
export const MAX_DATAGRAM = 65507;

/** The datagram for a payload: strings as UTF-8, anything else as its String(); null when too big. */
export function toDatagram(payload: unknown): Buffer | null {
  const buf = Buffer.isBuffer(payload) ? payload
    : payload instanceof Uint8Array ? Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength)
    : Buffer.from(String(payload));
  return buf.length > MAX_DATAGRAM ? null : buf;
}
