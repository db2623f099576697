// SPDX-License-Identifier: Apache-2.0
/* bench_pingpong ITERS: the floor of any notification round trip. Two processes pinned to
 * the same CPU (sched_setaffinity) bounce one byte over two pipes; ns/op is per round trip. */
#define _GNU_SOURCE
#include <sched.h>
#include <sys/wait.h>

#include "bench.h"

static void pin(int cpu) {
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  if (sched_setaffinity(0, sizeof set, &set) != 0) bench_die("sched_setaffinity");
}

int main(int argc, char **argv) {
  const long iters = bench_iters(argc, argv, "ITERS");
  int ping[2], pong[2];
  if (pipe(ping) != 0 || pipe(pong) != 0) bench_die("pipe");
  const int cpu = sched_getcpu() < 0 ? 0 : sched_getcpu();
  pin(cpu);
  const pid_t child = fork();
  if (child < 0) bench_die("fork");
  char c = 0;
  if (child == 0) {
    close(ping[1]);
    close(pong[0]);
    for (;;) {
      if (read(ping[0], &c, 1) != 1) _exit(0);
      if (write(pong[1], &c, 1) != 1) _exit(1);
    }
  }
  close(ping[0]);
  close(pong[1]);
  const long long t0 = bench_now_ns();
  for (long i = 0; i < iters; ++i) {
    if (write(ping[1], &c, 1) != 1 || read(pong[0], &c, 1) != 1) bench_die("pipe round trip");
  }
  const long long t1 = bench_now_ns();
  close(ping[1]);
  waitpid(child, NULL, 0);
  bench_report(t1 - t0, iters);
  return 0;
}
