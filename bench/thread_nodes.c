// SPDX-License-Identifier: Apache-2.0
/* bench_thread_nodes THREADS: starts THREADS threads (THREADS - 1 besides the main one), each
 * registering itself with the ABI's register(gettid()) (451 by default), prints "ready THREADS
 * PPID" and waits until stdin is closed. The harness reads the supervisor's VmRSS/VmHWM meanwhile:
 * the supervisor's memory per tracked thread. */
#define _GNU_SOURCE
#include <pthread.h>
#include <sys/syscall.h>

#include "bench.h"
#include "tracker_limiter.h"

static pthread_barrier_t registered, done;

static void *worker(void *arg) {
  (void)arg;
  if (tl_register((pid_t)syscall(SYS_gettid)) != 0) bench_die("register");
  pthread_barrier_wait(&registered);
  pthread_barrier_wait(&done);
  return NULL;
}

int main(int argc, char **argv) {
  const long n = bench_iters(argc, argv, "THREADS");
  pthread_barrier_init(&registered, NULL, (unsigned)n);
  pthread_barrier_init(&done, NULL, (unsigned)n);
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  pthread_attr_setstacksize(&attr, 64 * 1024);
  pthread_t *th = calloc((size_t)n, sizeof *th);
  if (!th) bench_die("calloc");
  if (tl_register(getpid()) != 0) bench_die("register");
  for (long i = 1; i < n; ++i)
    if (pthread_create(&th[i], &attr, worker, NULL) != 0) bench_die("pthread_create");
  pthread_barrier_wait(&registered);
  printf("ready %ld %d\n", n, (int)getppid()); /* the parent is the supervisor */
  fflush(stdout);
  char buf[16];
  while (read(0, buf, sizeof buf) > 0) {
  }
  pthread_barrier_wait(&done);
  for (long i = 1; i < n; ++i) pthread_join(th[i], NULL);
  printf("ns/op 0\n");
  return 0;
}
