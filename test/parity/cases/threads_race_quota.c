// SPDX-License-Identifier: Apache-2.0
/* 8 threads allocate at once against the leader's 4 MiB quota: the whole process dies. */
#include "tl.h"

#define NT 8

static pthread_barrier_t bar;
static volatile long *progress;

static void *worker(void *arg) {
  (void)arg;
  pthread_barrier_wait(&bar);
  for (int k = 0; k < 64; k++) {
    tl_anon(64 * 1024);
    __atomic_add_fetch(&progress[0], 1, __ATOMIC_SEQ_CST);
  }
  return NULL;
}

int main(void) {
  pid_t child;

  progress = tl_shared_page();
  pthread_barrier_init(&bar, NULL, NT + 1);
  child = tl_fork();
  if (child == 0) {
    pthread_t t[NT];

    for (long i = 0; i < NT; i++) t[i] = tl_thread(worker, NULL);
    tl_register(getpid());
    tl_cap(getpid(), 4, -1);
    pthread_barrier_wait(&bar);
    for (int i = 0; i < NT; i++) pthread_join(t[i], NULL);
    progress[1] = 1; /* must never happen */
    _exit(0);
  }
  tl_reap("child", child);
  /* how many mappings completed is a race between the threads: not printed */
  printf("main thread finished: %s\n", progress[1] ? "yes" : "no");
  tl_show_fetch("child after it died", child);
  return 0;
}
