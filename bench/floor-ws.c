// The floor of bench/web.mjs's WebSocket echo: the least any server can do for
// bench/ws-client.mjs on this machine (see bench/floor.c for the HTTP and text floors). N
// processes, each with its own SO_REUSEPORT listener and epoll loop: the handshake answered
// (the accept key from OpenSSL's SHA-1), then each whole client frame read is unmasked and
// written back as an unmasked frame, the replies to one read in one write. No extensions,
// fragments, control frames or validation: not a WebSocket server, a measuring stick. Built
// by bench/web.mjs when the C compiler and libcrypto are there.
//   cc -O2 -o floor-ws bench/floor-ws.c -lcrypto && ./floor-ws PORT PROCESSES
#include "floor.h"
#include <openssl/evp.h>
#include <openssl/sha.h>

#define BUF 16384

struct conn {
  int open;   /* handshake done */
  size_t len; /* bytes waiting in buf */
  unsigned char buf[BUF];
};
static struct conn *conns[MAX_FD];

static void drop(int fd) {
  free(conns[fd]);
  conns[fd] = NULL;
  close(fd);
}

/* The 101 answer to a request holding Sec-WebSocket-Key; 0 when the request is not whole yet. */
static int handshake(int fd, struct conn *c) {
  c->buf[c->len] = 0;
  char *end = strstr((char *)c->buf, "\r\n\r\n");
  if (end == NULL) return 0;
  char *key = strcasestr((char *)c->buf, "\r\nSec-WebSocket-Key:");
  if (key == NULL || key > end) return -1;
  key += 20;
  while (*key == ' ') key++;
  char *eol = strstr(key, "\r\n");
  char material[128];
  int n = snprintf(material, sizeof material, "%.*s258EAFA5-E914-47DA-95CA-C5AB0DC85B11", (int)(eol - key), key);
  unsigned char digest[SHA_DIGEST_LENGTH];
  SHA1((unsigned char *)material, n, digest);
  unsigned char accept[64];
  EVP_EncodeBlock(accept, digest, SHA_DIGEST_LENGTH);
  char answer[256];
  int m = snprintf(answer, sizeof answer,
                   "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                   "Sec-WebSocket-Accept: %s\r\n\r\n", accept);
  if (write(fd, answer, m) < 0) return -1;
  size_t used = (size_t)(end + 4 - (char *)c->buf);
  memmove(c->buf, c->buf + used, c->len - used);
  c->len -= used;
  c->open = 1;
  return 1;
}

/* Every whole frame in buf echoed unmasked, in one write; -1 on a close frame or a write error. */
static int echo(int fd, struct conn *c) {
  static unsigned char out[BUF + 1024];
  size_t at = 0, o = 0;
  while (c->len - at >= 2) {
    unsigned char *f = c->buf + at;
    int opcode = f[0] & 0x0f;
    size_t len = f[1] & 0x7f, head = 2;
    if (len == 126) {
      if (c->len - at < 4) break;
      len = (size_t)f[2] << 8 | f[3];
      head = 4;
    } else if (len == 127) {
      return -1; /* not in this benchmark */
    }
    if (c->len - at < head + 4 + len) break;
    if (opcode == 8) return -1;
    unsigned char *mask = f + head, *payload = f + head + 4;
    out[o++] = f[0];
    if (len < 126) {
      out[o++] = (unsigned char)len;
    } else {
      out[o++] = 126;
      out[o++] = (unsigned char)(len >> 8);
      out[o++] = (unsigned char)len;
    }
    for (size_t i = 0; i < len; i++) out[o++] = payload[i] ^ mask[i & 3];
    at += head + 4 + len;
  }
  memmove(c->buf, c->buf + at, c->len - at);
  c->len -= at;
  if (o > 0 && write(fd, out, o) < 0) return -1;
  return 0;
}

static int accepted(int fd) {
  conns[fd] = calloc(1, sizeof(struct conn));
  return conns[fd] == NULL ? -1 : 0;
}

static void readable(int fd) {
  struct conn *c = conns[fd];
  if (c == NULL) return;
  ssize_t r = read(fd, c->buf + c->len, BUF - 1 - c->len);
  // (EAGAIN: an event for an fd closed earlier in this batch, its number since reused)
  if (r < 0 && errno == EAGAIN) return;
  if (r <= 0) {
    drop(fd);
    return;
  }
  c->len += (size_t)r;
  if (!c->open) {
    int h = handshake(fd, c);
    if (h < 0) drop(fd);
    if (h <= 0) return;
  }
  if (echo(fd, c) < 0 || c->len >= BUF - 1) drop(fd);
}

int main(int argc, char **argv) {
  if (argc < 3) {
    fprintf(stderr, "usage: floor-ws PORT PROCESSES\n");
    return 2;
  }
  struct floor_handlers h = {accepted, readable};
  return floor_run(atoi(argv[1]), atoi(argv[2]), &h);
}
