// SPDX-License-Identifier: Apache-2.0
/* bench_fetch ITERS: the ABI's fetch(&stats, getpid()) (x86-64 number 452 by default),
 * answered entirely by the supervisor. Run it on a registered self (`sandbox run --track`).
 * Natively on Linux >= 6.5, 452 is fchmodat2, which fails at once on these arguments:
 * that is the native baseline (one plain system call). */
#define _GNU_SOURCE
#include "bench.h"
#include "tracker_limiter.h"

int main(int argc, char **argv) {
  const long iters = bench_iters(argc, argv, "ITERS");
  struct per_proc_resource st;
  const pid_t self = getpid();
  const long long t0 = bench_now_ns();
  for (long i = 0; i < iters; ++i) tl_fetch(&st, self);
  bench_report(bench_now_ns() - t0, iters);
  return 0;
}
