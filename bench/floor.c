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
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

static const char RESPONSE[] =
    "HTTP/1.1 200 OK\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: 5\r\n\r\nhello";
static const char RESPONSE_CLOSE[] =
    "HTTP/1.1 200 OK\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\nContent-Length: 5\r\n\r\nhello";
#define MAX_FD 65536
#define MAX_BATCH 64

/* Per connection: how much of "\r\n\r\n" the last read ended with. */
static unsigned char matched[MAX_FD];

static int echo_mode = 0;

static void serve(int port) {
  int one = 1;
  int listener = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
  setsockopt(listener, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
  struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons(port), .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  if (bind(listener, (struct sockaddr *)&addr, sizeof addr) != 0 || listen(listener, 511) != 0) {
    perror("floor-hello: bind/listen");
    exit(1);
  }
  int ep = epoll_create1(0);
  struct epoll_event ev = {.events = EPOLLIN, .data.fd = listener}, events[256];
  epoll_ctl(ep, EPOLL_CTL_ADD, listener, &ev);
  static char in[65536], out[sizeof RESPONSE * MAX_BATCH];
  for (;;) {
    int n = epoll_wait(ep, events, 256, -1);
    for (int i = 0; i < n; i++) {
      int fd = events[i].data.fd;
      if (fd == listener) {
        int c;
        while ((c = accept4(listener, NULL, NULL, SOCK_NONBLOCK)) >= 0) {
          if (c >= MAX_FD) { close(c); continue; }
          setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
          matched[c] = 0;
          struct epoll_event ce = {.events = EPOLLIN, .data.fd = c};
          epoll_ctl(ep, EPOLL_CTL_ADD, c, &ce);
        }
        continue;
      }
      ssize_t r = read(fd, in, sizeof in - 1);
      // (EAGAIN: an event for an fd closed earlier in this batch, its number since reused)
      if (r < 0 && errno == EAGAIN) continue;
      if (r <= 0) { close(fd); continue; }
      if (echo_mode) {
        if (write(fd, in, r) < 0) close(fd);
        continue;
      }
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
      if (requests == 0) continue;
      in[r] = 0;
      if (strcasestr(in, "\r\nConnection: close\r\n") != NULL) {
        // The answer says so, and the connection ends with it (wrk reconnects).
        if (write(fd, RESPONSE_CLOSE, sizeof RESPONSE_CLOSE - 1) < 0) {}
        close(fd);
        continue;
      }
      size_t len = 0;
      for (int k = 0; k < requests; k++) {
        memcpy(out + len, RESPONSE, sizeof RESPONSE - 1);
        len += sizeof RESPONSE - 1;
      }
      if (write(fd, out, len) < 0) close(fd);
    }
  }
}

int main(int argc, char **argv) {
  if (argc < 4 || (strcmp(argv[3], "http") != 0 && strcmp(argv[3], "echo") != 0)) {
    fprintf(stderr, "usage: floor PORT PROCESSES http|echo\n");
    return 2;
  }
  int port = atoi(argv[1]);
  int processes = atoi(argv[2]);
  echo_mode = strcmp(argv[3], "echo") == 0;
  for (int p = 0; p < processes; p++) {
    if (fork() == 0) {
      serve(port);
      return 0;
    }
  }
  while (wait(NULL) > 0) {}
  return 0;
}
