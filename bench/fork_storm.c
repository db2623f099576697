// SPDX-License-Identifier: Apache-2.0
/* bench_fork_storm ITERS [CHILDREN]: ITERS times, fork CHILDREN (default 200) children that
 * exit at once, then reap them all; ns/op is per storm. */
#define _GNU_SOURCE
#include <sys/wait.h>

#include "bench.h"

int main(int argc, char **argv) {
  const long iters = bench_iters(argc, argv, "ITERS [CHILDREN]");
  const long children = argc > 2 ? strtol(argv[2], NULL, 10) : 200;
  const long long t0 = bench_now_ns();
  for (long i = 0; i < iters; ++i) {
    for (long k = 0; k < children; ++k) {
      const pid_t pid = fork();
      if (pid < 0) bench_die("fork");
      if (pid == 0) _exit(0);
    }
    for (long k = 0; k < children; ++k)
      if (wait(NULL) < 0) bench_die("wait");
  }
  bench_report(bench_now_ns() - t0, iters);
  return 0;
}
