// What the benchmarks' floors share (bench/floor.c, bench/floor-ws.c): PROCESSES processes,
// each with its own SO_REUSEPORT listener on 127.0.0.1:PORT and an epoll loop that accepts
// (TCP_NODELAY, as the servers measured beside them) and hands each readable connection to the
// floor's own function. A connection's fd indexes the floor's per-connection state.
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#define MAX_FD 65536

struct floor_handlers {
  /* A new connection: 0 to keep it, -1 to close it. */
  int (*accepted)(int fd);
  /* The connection is readable: read once, answer, close it if done. */
  void (*readable)(int fd);
};

static void floor_serve(int port, const struct floor_handlers *h) {
  int one = 1;
  int listener = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
  setsockopt(listener, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
  struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons(port), .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  if (bind(listener, (struct sockaddr *)&addr, sizeof addr) != 0 || listen(listener, 511) != 0) {
    perror("floor: bind/listen");
    exit(1);
  }
  int ep = epoll_create1(0);
  struct epoll_event ev = {.events = EPOLLIN, .data.fd = listener}, events[256];
  epoll_ctl(ep, EPOLL_CTL_ADD, listener, &ev);
  for (;;) {
    int n = epoll_wait(ep, events, 256, -1);
    for (int i = 0; i < n; i++) {
      int fd = events[i].data.fd;
      if (fd != listener) {
        h->readable(fd);
        continue;
      }
      int c;
      while ((c = accept4(listener, NULL, NULL, SOCK_NONBLOCK)) >= 0) {
        if (c >= MAX_FD || h->accepted(c) != 0) {
          close(c);
          continue;
        }
        setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        struct epoll_event ce = {.events = EPOLLIN, .data.fd = c};
        epoll_ctl(ep, EPOLL_CTL_ADD, c, &ce);
      }
    }
  }
}

/* Forks the processes and waits for them (they end when killed: the benchmark kills the group). */
static int floor_run(int port, int processes, const struct floor_handlers *h) {
  for (int p = 0; p < processes; p++) {
    if (fork() == 0) {
      floor_serve(port, h);
      return 0;
    }
  }
  while (wait(NULL) > 0) {}
  return 0;
}
