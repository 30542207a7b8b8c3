// The floor: the least CPU an exact open-model sender can spend on this machine. A benchmark
// aid for `scripts/bench.sh` (TOOLS="... floor"), not part of zerodrop, and only good for the
// bench's target (nginx answering every request with one small segment).
//
//   floor PORT RATE CONNECTIONS SECONDS WINDOW_US
//
// One thread, no runtime, no parsing, no recording: it sleeps (clock_nanosleep, absolute) to
// each request's due instant, or to one send window after its last wake-up when that is later,
// so requests due within a window leave together, as zerodrop's dispatcher does. At each
// wake-up it reads whatever answers came in (one epoll_wait with no timeout over edge-triggered
// sockets, as zerodrop's deferred reads do) and writes each due request to the next free
// keep-alive connection; with none free, the request is dropped. So it makes the same
// syscalls per wake-up as zerodrop and nothing else: whatever zerodrop costs above it is
// zerodrop's own work; whatever it costs above another tool is the price of the send timing.
//
// Prints: requests=N dropped=N lateness_p99_us=X lateness_max_us=X (lateness: wake-up instant
// minus due instant, the same measure as zerodrop's send lateness).
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static const char REQUEST[] = "GET / HTTP/1.1\r\nHost: floor\r\n\r\n";

static long long now_ns(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec * 1000000000LL + t.tv_nsec;
}

static void sleep_until(long long at) {
  struct timespec t = {at / 1000000000LL, at % 1000000000LL};
  while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &t, NULL) == EINTR) {}
}

static int by_value(const void *a, const void *b) {
  long long x = *(const long long *)a, y = *(const long long *)b;
  return (x > y) - (x < y);
}

static int dial(int port) {
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
  inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
  int fd = socket(AF_INET, SOCK_STREAM, 0), one = 1;
  if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
    perror("floor: connect");
    exit(1);
  }
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  fcntl(fd, F_SETFL, O_NONBLOCK);
  return fd;
}

int main(int argc, char **argv) {
  if (argc != 6) {
    fprintf(stderr, "usage: floor PORT RATE CONNECTIONS SECONDS WINDOW_US\n");
    return 2;
  }
  int port = atoi(argv[1]), n = atoi(argv[3]);
  double rate = atof(argv[2]), seconds = atof(argv[4]);
  long long window = atoll(argv[5]) * 1000, total = (long long)(rate * seconds);
  if (port <= 0 || n <= 0 || rate <= 0 || total <= 0 || window < 0) {
    fprintf(stderr, "floor: PORT, RATE, CONNECTIONS and SECONDS must be positive\n");
    return 2;
  }
  prctl(PR_SET_TIMERSLACK, 1000UL, 0, 0, 0); // as zerodrop's dispatcher thread
  int ep = epoll_create1(0), *fd = calloc(n, sizeof *fd), *busy = calloc(n, sizeof *busy);
  long long *late = calloc(total, sizeof *late);
  for (int c = 0; c < n; c++) {
    fd[c] = dial(port);
    struct epoll_event e = {.events = EPOLLIN | EPOLLET, .data.u32 = c};
    epoll_ctl(ep, EPOLL_CTL_ADD, fd[c], &e);
  }
  struct epoll_event ready[256];
  char buf[4096];
  long long start = now_ns() + 1000000, last_wake = 0, dropped = 0;
  int next = 0;
  for (long long i = 0; i < total; i++) {
    long long due = start + (long long)(i * 1e9 / rate);
    if (now_ns() < due) {
      sleep_until(due > last_wake + window ? due : last_wake + window);
      last_wake = now_ns();
    }
    late[i] = now_ns() - due;
    int k = epoll_wait(ep, ready, 256, 0);
    for (int j = 0; j < k; j++) {
      int c = ready[j].data.u32;
      while (read(fd[c], buf, sizeof buf) > 0) {
        busy[c] = 0;
      }
    }
    int c = -1;
    for (int j = 0; j < n && c < 0; j++) {
      if (!busy[(next + j) % n]) c = (next + j) % n;
    }
    if (c < 0 || write(fd[c], REQUEST, sizeof REQUEST - 1) <= 0) {
      dropped++;
      continue;
    }
    busy[c] = 1;
    next = (c + 1) % n;
  }
  qsort(late, total, sizeof *late, by_value);
  printf("requests=%lld dropped=%lld lateness_p99_us=%.1f lateness_max_us=%.1f\n", total - dropped,
         dropped, late[(long long)(total * 0.99)] / 1e3, late[total - 1] / 1e3);
  return 0;
}
