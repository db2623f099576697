// SPDX-License-Identifier: Apache-2.0
/* Only the thread is registered: its changes count there; the leader is never tracked. */
#include "tl.h"

static pthread_barrier_t bar;
static struct per_proc_resource own;
static long reg_rc, own_rc, lead_rc;
static pid_t tid;

static void *worker(void *arg) {
  struct per_proc_resource r;

  (void)arg;
  tid = tl_gettid();
  reg_rc = tl_register(tid);
  tl_anon(2 * TL_PAGE);
  open("f", O_RDONLY);
  open("f", O_RDONLY);
  own_rc = tl_fetch(&own, tid);
  lead_rc = tl_fetch(&r, getpid()) == 0 ? 0 : errno;
  pthread_barrier_wait(&bar);
  pthread_barrier_wait(&bar);
  return NULL;
}

int main(void) {
  pid_t self = getpid();
  pthread_t t;

  tl_make_file("f", 0644);
  pthread_barrier_init(&bar, NULL, 2);
  t = tl_thread(worker, NULL);
  pthread_barrier_wait(&bar);
  printf("thread: register(thread) = %ld\n", reg_rc);
  printf("thread: fetch(thread) = %ld heap=%lu files=%lu\n", own_rc, own.heapsize, own.openfile_count);
  printf("thread: fetch(leader) %s\n", lead_rc ? tl_errname((int)lead_rc) : "ok");
  tl_anon(TL_PAGE);
  open("f", O_RDONLY);
  tl_show_fetch("thread after the leader's mmap and open", tid);
  tl_show_fetch("leader", self);
  pthread_barrier_wait(&bar);
  pthread_join(t, NULL);
  tl_show_fetch("thread after exit", tid);
  return 0;
}
