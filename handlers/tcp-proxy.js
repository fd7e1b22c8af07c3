// TCP proxy: every connection to this group is relayed to an upstream server through an async
// client, both ways. pipe() also passes back-pressure on (the sending side stops reading while
// the other side's send buffer is full) and closes each side when the other closes; an
// upstream that cannot be reached closes the client's connection.
// Upstream: the LOOM_PROXY_UPSTREAM environment variable, else the [echo] group of config.ini.
// Try: nc 127.0.0.1 19915
const UPSTREAM = process.env.LOOM_PROXY_UPSTREAM || 'tcp://127.0.0.1:19910';

module.exports = {
  onConnect(conn) {
    const upstream = conn.worker.connect(UPSTREAM, { timeout: 5 });
    conn.pipe(upstream);
    upstream.pipe(conn);
    upstream.onError = (_c, err) => console.error(`proxy ${conn.remoteAddress}:${conn.remotePort} -> ${UPSTREAM}: ${err.message}`);
  },
};
