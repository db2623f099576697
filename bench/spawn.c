// SPDX-License-Identifier: Apache-2.0
/* bench_spawn ITERS CMD [ARG...]: fork + execvp(CMD) + waitpid, ITERS times; ns/op is the
 * wall time of one complete run. Used for the end-to-end and launch benchmarks, so that the
 * harness's own start-up cost is outside the measurement. Fails if CMD fails. */
#define _GNU_SOURCE
#include <sys/wait.h>

#include "bench.h"

int main(int argc, char **argv) {
  const long iters = bench_iters(argc, argv, "ITERS CMD [ARG...]");
  if (argc < 3) bench_die("no command");
  const long long t0 = bench_now_ns();
  for (long i = 0; i < iters; ++i) {
    const pid_t pid = fork();
    if (pid < 0) bench_die("fork");
    if (pid == 0) {
      execvp(argv[2], argv + 2);
      _exit(127);
    }
    int st;
    if (waitpid(pid, &st, 0) != pid || !WIFEXITED(st) || WEXITSTATUS(st) != 0) {
      fprintf(stderr, "bench_spawn: %s failed (status 0x%x)\n", argv[2], st);
      return 1;
    }
  }
  bench_report(bench_now_ns() - t0, iters);
  return 0;
}
