// SPDX-License-Identifier: Apache-2.0
/*
 * A close that finished long ago is not one in flight (issue 22, 2). A thread closes
 * fd N and then computes in user space, making no further system call the tracker sees:
 * /proc/<tid>/syscall says "running" from then on. The main thread makes N again with
 * dup2 (not an open: not counted) and closes it. Both closes succeed; each subtracts 1.
 */
#include <time.h>

#include "tl.h"

static struct tl_gate go;
static int n_fd;
static volatile int computed, stop;

static long long thread_cpu_ns(void) {
  struct timespec ts;

  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void *closer(void *arg) {
  volatile unsigned long spin = 0;
  long long start;

  (void)arg;
  tl_gate_wait(&go);
  if (close(n_fd) != 0) printf("thread: close failed %s\n", tl_errname(errno));
  /* 50 ms of this thread's own CPU time, then on in user space until told to stop. */
  start = thread_cpu_ns();
  while (thread_cpu_ns() - start < 50000000LL)
    for (int i = 0; i < 10000; i++) spin++;
  __atomic_store_n(&computed, 1, __ATOMIC_SEQ_CST);
  while (!__atomic_load_n(&stop, __ATOMIC_SEQ_CST)) spin++;
  return NULL;
}

int main(void) {
  pid_t self = getpid();
  int src, other;
  pthread_t t;

  tl_make_file("f", 0644);
  tl_gate_init(&go);
  src = open("f", O_RDONLY);
  t = tl_thread(closer, NULL);
  SHOWL("register(self)", tl_register(self));
  other = open("f", O_RDONLY);
  n_fd = open("f", O_RDONLY);
  printf("opened: %s\n", other >= 0 && n_fd >= 0 ? "yes" : "no");
  tl_show_fetch("self after 2 opens", self);
  tl_gate_open(&go);
  while (!__atomic_load_n(&computed, __ATOMIC_SEQ_CST)) sched_yield();
  printf("thread closed N and computed\n");
  tl_show_fetch("self", self);
  printf("dup2 made N again: %s\n", dup2(src, n_fd) == n_fd ? "yes" : "no");
  tl_show_fetch("self", self);
  SHOWL("main: close(N)", close(n_fd));
  tl_show_fetch("self", self);
  __atomic_store_n(&stop, 1, __ATOMIC_SEQ_CST);
  pthread_join(t, NULL);
  SHOWL("close(other)", close(other));
  tl_show_fetch("self at the end", self);
  return 0;
}
