// SPDX-License-Identifier: Apache-2.0
/* bench_getpid ITERS: the raw getpid system call (glibc does not cache it): never notified. */
#define _GNU_SOURCE
#include <sys/syscall.h>

#include "bench.h"

int main(int argc, char **argv) {
  const long iters = bench_iters(argc, argv, "ITERS");
  long sum = 0;
  const long long t0 = bench_now_ns();
  for (long i = 0; i < iters; ++i) sum += syscall(SYS_getpid);
  bench_report(bench_now_ns() - t0, iters);
  return sum == 0;
}
