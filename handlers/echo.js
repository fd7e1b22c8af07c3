// Text echo: every line a client sends comes back prefixed. Try: nc 127.0.0.1 19910
module.exports = {
  onWorkerStart(worker) {
    console.log(`echo worker ${worker.id} of ${worker.count} started, pid ${worker.pid}`);
  },
  onConnect(conn) {
    conn.data.lines = 0;
  },
  onMessage(conn, line) {
    conn.data.lines++;
    conn.send(line);
  },
};
