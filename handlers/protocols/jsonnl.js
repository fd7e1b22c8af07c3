// Workerman manual's first custom protocol: one JSON document per line.
module.exports = {
  input(buffer) {
    const i = buffer.indexOf(0x0a);
    return i < 0 ? 0 : i + 1;
  },
  decode(buffer) {
    return JSON.parse(buffer.toString('utf8', 0, buffer.length - 1));
  },
  encode(data) {
    return JSON.stringify(data) + '\n';
  },
};
