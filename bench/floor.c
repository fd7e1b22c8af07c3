// The floor of the benchmarks: the least any server can do for their load generators on this
// machine, so that Loom's and the Node baselines' rates can be read against what the kernel
// and the load generator leave. N processes, each with its own SO_REUSEPORT listener and
// epoll loop, one read and at most one write per readiness:
//   http  (bench/web.mjs) one canned response per request in the read (a request ends at its
//         blank line); a request that says "Connection: close" is answered so and the
//         connection closed. It parses nothing else and is not an HTTP server.
//   echo  (bench/run.mjs) the bytes read, written back: text echo for whole lines.
// A measuring stick, built by the benchmarks with the system's C compiler when there is one.
//   cc -O2 -o floor bench/floor.c && ./floor PORT PROCESSES http|echo
#include "floor.h"

static const char RESPONSE[] =
    "HTTP/1.1 200 OK\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: 5\r\n\r\nhello";
static const char RESPONSE_CLOSE[] =
    "HTTP/1.1 200 OK\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\nContent-Length: 5\r\n\r\nhello";
#define MAX_BATCH 64

/* Per connection: how much of "\r\n\r\n" the last read ended with. */
static unsigned char matched[MAX_FD];
static char in[65536], out[sizeof RESPONSE * MAX_BATCH];

static int accepted(int fd) {
  matched[fd] = 0;
  return 0;
}

/* A read, or -1 when the connection is gone (closed here) or had nothing after all. */
static ssize_t take(int fd) {
  ssize_t r = read(fd, in, sizeof in - 1);
  // (EAGAIN: an event for an fd closed earlier in this batch, its number since reused)
  if (r < 0 && errno == EAGAIN) return -1;
  if (r <= 0) {
    close(fd);
    return -1;
  }
  return r;
}

static void echo(int fd) {
  ssize_t r = take(fd);
  if (r > 0 && write(fd, in, r) < 0) close(fd);
}

static void http(int fd) {
  ssize_t r = take(fd);
  if (r < 0) return;
  int requests = 0;
  for (ssize_t j = 0; j < r; j++) {
    char want = (matched[fd] % 2 == 0) ? '\r' : '\n';
    if (in[j] == want) {
      if (++matched[fd] == 4) { requests++; matched[fd] = 0; }
    } else {
      matched[fd] = in[j] == '\r' ? 1 : 0;
    }
  }
  if (requests > MAX_BATCH) requests = MAX_BATCH;
  if (requests == 0) return;
  in[r] = 0;
  if (strcasestr(in, "\r\nConnection: close\r\n") != NULL) {
    // The answer says so, and the connection ends with it (wrk reconnects).
    if (write(fd, RESPONSE_CLOSE, sizeof RESPONSE_CLOSE - 1) < 0) {}
    close(fd);
    return;
  }
  size_t len = 0;
  for (int k = 0; k < requests; k++) {
    memcpy(out + len, RESPONSE, sizeof RESPONSE - 1);
    len += sizeof RESPONSE - 1;
  }
  if (write(fd, out, len) < 0) close(fd);
}

int main(int argc, char **argv) {
  if (argc < 4 || (strcmp(argv[3], "http") != 0 && strcmp(argv[3], "echo") != 0)) {
    fprintf(stderr, "usage: floor PORT PROCESSES http|echo\n");
    return 2;
  }
  struct floor_handlers h = {accepted, strcmp(argv[3], "echo") == 0 ? echo : http};
  return floor_run(atoi(argv[1]), atoi(argv[2]), &h);
}
