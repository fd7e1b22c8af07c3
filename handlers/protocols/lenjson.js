// Workerman manual's second custom protocol: a 4-byte big-endian length of the whole
// packet (header included), then a JSON body.
module.exports = {
  input(buffer) {
    if (buffer.length < 4) return 0;
    const total = buffer.readUInt32BE(0);
    return total < 4 ? -1 : total;
  },
  decode(buffer) {
    return JSON.parse(buffer.toString('utf8', 4));
  },
  encode(data) {
    const body = Buffer.from(JSON.stringify(data));
    const head = Buffer.alloc(4);
    head.writeUInt32BE(body.length + 4);
    return Buffer.concat([head, body]);
  },
};
