/* SPDX-License-Identifier: Apache-2.0 */
/* bench.h: what every bench_* program shares. Each program takes an iteration count as
 * argv[1], runs the measured loop, and prints one line "ns/op <value>" on stdout (plus
 * optional "key <value>" lines before it). Built with -O2 and never sanitized: these
 * programs run inside the filter under test, and a sanitizer runtime makes its own calls. */
#ifndef SANDBOX_BENCH_H
#define SANDBOX_BENCH_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static inline long long bench_now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts); /* vDSO: no system call, never notified */
  return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static inline long bench_iters(int argc, char **argv, const char *usage) {
  long n = argc > 1 ? strtol(argv[1], NULL, 10) : 0;
  if (n <= 0) {
    fprintf(stderr, "usage: %s %s\n", argv[0], usage);
    exit(2);
  }
  return n;
}

static inline void bench_die(const char *what) {
  perror(what);
  exit(1);
}

static inline void bench_report(long long elapsed_ns, long ops) {
  printf("ns/op %.2f\n", (double)elapsed_ns / (double)ops);
  fflush(stdout);
}

#endif
