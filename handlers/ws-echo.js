// WebSocket echo: text comes back as text, binary as binary.
module.exports = {
  onWebSocketConnect(conn, request) {
    // Return false (or throw) here to refuse a client, e.g. on a bad request.query.token.
    conn.data.path = request.path;
  },
  onMessage(conn, data) {
    conn.send(data);
  },
};
