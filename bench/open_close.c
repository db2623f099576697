// SPDX-License-Identifier: Apache-2.0
/* bench_open_close ITERS [threads T | procs P]: open("/dev/null") + close, ITERS times per
 * worker. With T threads or P processes, every worker does ITERS pairs after a common start;
 * ns/op is wall time divided by the total number of pairs (the inverse of throughput). */
#define _GNU_SOURCE
#include <fcntl.h>
#include <pthread.h>
#include <sys/wait.h>

#include "bench.h"

static long iters;
static pthread_barrier_t start;

static void churn(void) {
  for (long i = 0; i < iters; ++i) {
    int fd = open("/dev/null", O_RDONLY);
    if (fd < 0) bench_die("open");
    close(fd);
  }
}

static void *worker(void *arg) {
  (void)arg;
  pthread_barrier_wait(&start);
  churn();
  return NULL;
}

int main(int argc, char **argv) {
  iters = bench_iters(argc, argv, "ITERS [threads T | procs P]");
  const char *mode = argc > 3 ? argv[2] : "threads";
  const long n = argc > 3 ? strtol(argv[3], NULL, 10) : 1;
  if (n < 1 || n > 1024) bench_die("worker count");
  long long t0, t1;
  if (strcmp(mode, "procs") == 0) {
    int go[2];
    if (pipe(go) != 0) bench_die("pipe");
    for (long i = 0; i < n; ++i) {
      pid_t pid = fork();
      if (pid < 0) bench_die("fork");
      if (pid == 0) {
        char c;
        close(go[1]);
        if (read(go[0], &c, 1) < 0) _exit(1); /* EOF: everybody starts */
        churn();
        _exit(0);
      }
    }
    close(go[0]);
    t0 = bench_now_ns();
    close(go[1]);
    for (long i = 0; i < n; ++i) wait(NULL);
    t1 = bench_now_ns();
  } else {
    pthread_t th[1024];
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, 64 * 1024);
    pthread_barrier_init(&start, NULL, (unsigned)n + 1);
    for (long i = 0; i < n; ++i)
      if (pthread_create(&th[i], &attr, worker, NULL) != 0) bench_die("pthread_create");
    pthread_barrier_wait(&start);
    t0 = bench_now_ns();
    for (long i = 0; i < n; ++i) pthread_join(th[i], NULL);
    t1 = bench_now_ns();
  }
  bench_report(t1 - t0, iters * n);
  return 0;
}
