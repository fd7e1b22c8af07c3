// HTTP: static files from handlers/public come first (root in config.ini); this answers the rest.
module.exports = {
  onMessage(conn, request) {
    if (request.path === '/hello') return conn.send(`hello ${request.query.name ?? 'world'}\n`);
    if (request.path === '/api/echo' && request.method === 'POST') {
      return conn.send({ status: 200, body: { youSent: request.json() ?? request.body } });
    }
    conn.send({ status: 404, body: 'not found\n' });
  },
};
