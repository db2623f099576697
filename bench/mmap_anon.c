// SPDX-License-Identifier: Apache-2.0
/* bench_mmap_anon ITERS: mmap(4 KiB, PROT_READ|PROT_WRITE, MAP_PRIVATE|MAP_ANONYMOUS) +
 * munmap. The mmap is notified (and charged when tracked); munmap never is. */
#define _GNU_SOURCE
#include <sys/mman.h>

#include "bench.h"

int main(int argc, char **argv) {
  const long iters = bench_iters(argc, argv, "ITERS");
  const long long t0 = bench_now_ns();
  for (long i = 0; i < iters; ++i) {
    void *p = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) bench_die("mmap");
    munmap(p, 4096);
  }
  bench_report(bench_now_ns() - t0, iters);
  return 0;
}
