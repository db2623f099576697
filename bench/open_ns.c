// SPDX-License-Identifier: Apache-2.0
/* bench_open_ns ITERS ns|fifo
 *   ns:   unshare(CLONE_NEWUSER | CLONE_NEWNS) first (as root), then open("/dev/null") + close,
 *         ITERS times: tracked, every open runs in an executor that joined those namespaces.
 *   fifo: a FIFO opened by a non-blocking reader and a writer, both closed, ITERS times. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <sched.h>
#include <sys/stat.h>

#include "bench.h"

int main(int argc, char **argv) {
  const long iters = bench_iters(argc, argv, "ITERS ns|fifo");
  const char *mode = argc > 2 ? argv[2] : "ns";
  char fifo[64] = "";
  if (strcmp(mode, "ns") == 0) {
    if (unshare(CLONE_NEWUSER | CLONE_NEWNS) != 0) bench_die("unshare");
  } else {
    snprintf(fifo, sizeof fifo, "/tmp/bench-fifo-%d", (int)getpid());
    if (mkfifo(fifo, 0600) != 0) bench_die("mkfifo");
  }
  const long long t0 = bench_now_ns();
  for (long i = 0; i < iters; ++i) {
    if (fifo[0]) {
      int r = open(fifo, O_RDONLY | O_NONBLOCK);
      int w = open(fifo, O_WRONLY);
      if (r < 0 || w < 0) bench_die("open fifo");
      close(w);
      close(r);
    } else {
      int fd = open("/dev/null", O_RDONLY);
      if (fd < 0) bench_die("open");
      close(fd);
    }
  }
  const long long t1 = bench_now_ns();
  if (fifo[0]) unlink(fifo);
  bench_report(t1 - t0, iters);
  return 0;
}
