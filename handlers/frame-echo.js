// Frame echo: each 4-byte-length-prefixed frame is sent back as it came.
module.exports = {
  onMessage(conn, body) {
    conn.send(body);
  },
};
