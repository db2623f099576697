// SPDX-License-Identifier: Apache-2.0
/* 8 threads allocating, opening and closing at once: every change lands, exactly once. */
#include "tl.h"

#define NT 8
#define MAPS 16
#define MAPLEN (64 * 1024)

static pthread_barrier_t bar;
static pid_t tids[NT];
static long reg_rc[NT];
static struct per_proc_resource own[NT];

static void *worker(void *arg) {
  long i = (long)arg;
  int fds[6];

  tids[i] = tl_gettid();
  pthread_barrier_wait(&bar); /* the leader is registered */
  reg_rc[i] = tl_register(tids[i]);
  pthread_barrier_wait(&bar); /* everyone registered: go */
  for (int k = 0; k < MAPS; k++) {
    tl_anon(MAPLEN);
    if (k < 6) fds[k] = open("f", O_RDONLY);
    if (k == 10 || k == 12) close(fds[k - 10]);
    sched_yield();
  }
  tl_fetch(&own[i], tids[i]);
  pthread_barrier_wait(&bar); /* done */
  pthread_barrier_wait(&bar); /* leader has looked */
  return NULL;
}

int main(void) {
  pid_t self = getpid();
  pthread_t t[NT];
  char who[32];

  tl_make_file("f", 0644);
  pthread_barrier_init(&bar, NULL, NT + 1);
  for (long i = 0; i < NT; i++) t[i] = tl_thread(worker, (void *)i);
  SHOWL("register(self)", tl_register(self));
  pthread_barrier_wait(&bar);
  pthread_barrier_wait(&bar);
  pthread_barrier_wait(&bar);
  for (int i = 0; i < NT; i++)
    printf("thread%d: register = %ld, own node heap=%lu files=%lu\n", i, reg_rc[i], own[i].heapsize,
           own[i].openfile_count);
  tl_show_fetch("leader (8 x 1 MiB, 8 x 4 files)", self);
  for (int i = 0; i < NT; i++) {
    snprintf(who, sizeof(who), "thread%d", i);
    tl_show_fetch(who, tids[i]);
  }
  pthread_barrier_wait(&bar);
  for (int i = 0; i < NT; i++) pthread_join(t[i], NULL);
  for (int i = 0; i < NT; i++) {
    snprintf(who, sizeof(who), "thread%d after exit", i);
    tl_show_fetch(who, tids[i]);
  }
  tl_show_fetch("leader", self);
  return 0;
}
