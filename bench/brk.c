// SPDX-License-Identifier: Apache-2.0
/* bench_brk ITERS: raw brk() moving the break one page up, then back down; ns/op is per
 * brk call (each is one notification). The growth is charged every time when tracked (the
 * heap counter never decreases): ITERS/2 pages in all. */
#define _GNU_SOURCE
#include <sys/syscall.h>

#include "bench.h"

int main(int argc, char **argv) {
  const long iters = bench_iters(argc, argv, "ITERS");
  const unsigned long base = (unsigned long)syscall(SYS_brk, 0);
  /* Start on a page boundary so that every step moves the page-aligned break. */
  const unsigned long low = (base + 4095) & ~4095UL;
  if ((unsigned long)syscall(SYS_brk, low) != low) bench_die("brk");
  const long long t0 = bench_now_ns();
  for (long i = 0; i < iters; ++i) {
    const unsigned long want = (i & 1) ? low : low + 4096;
    if ((unsigned long)syscall(SYS_brk, want) != want) bench_die("brk");
  }
  bench_report(bench_now_ns() - t0, iters);
  return 0;
}
