// For the custom protocol groups: answers each JSON message with what it got.
module.exports = {
  onMessage(conn, message) {
    conn.send({ type: 'echo', got: message });
  },
};
