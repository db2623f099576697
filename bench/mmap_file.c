// SPDX-License-Identifier: Apache-2.0
/* bench_mmap_file ITERS: mmap(4 KiB of a file, PROT_READ, MAP_PRIVATE) + munmap. The filter
 * only notifies mmap with MAP_ANONYMOUS|MAP_PRIVATE, so this must run at native speed. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <sys/mman.h>

#include "bench.h"

int main(int argc, char **argv) {
  const long iters = bench_iters(argc, argv, "ITERS");
  const int fd = open("/proc/self/exe", O_RDONLY | O_CLOEXEC);
  if (fd < 0) bench_die("open");
  const long long t0 = bench_now_ns();
  for (long i = 0; i < iters; ++i) {
    void *p = mmap(NULL, 4096, PROT_READ, MAP_PRIVATE, fd, 0);
    if (p == MAP_FAILED) bench_die("mmap");
    munmap(p, 4096);
  }
  bench_report(bench_now_ns() - t0, iters);
  return 0;
}
