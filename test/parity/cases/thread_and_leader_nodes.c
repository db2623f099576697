// SPDX-License-Identifier: Apache-2.0
/* A thread's change counts for the leader's node and for the thread's own node. */
#include "tl.h"

static pthread_barrier_t bar;
static struct per_proc_resource own, lead, own2;
static long reg_rc, own_rc, lead_rc, own2_rc;
static pid_t tid;

static void *worker(void *arg) {
  int fd;

  (void)arg;
  tid = tl_gettid();
  pthread_barrier_wait(&bar); /* leader registered */
  reg_rc = tl_register(tid);
  tl_anon(3 * TL_PAGE);
  fd = open("f", O_RDONLY);
  own_rc = tl_fetch(&own, tid);
  lead_rc = tl_fetch(&lead, getpid());
  pthread_barrier_wait(&bar); /* leader looks */
  pthread_barrier_wait(&bar); /* leader allocated */
  close(fd);
  own2_rc = tl_fetch(&own2, tid);
  return NULL;
}

int main(void) {
  pid_t self = getpid();
  pthread_t t;

  tl_make_file("f", 0644);
  pthread_barrier_init(&bar, NULL, 2);
  t = tl_thread(worker, NULL); /* its stack is mapped before anything is registered */
  SHOWL("register(self)", tl_register(self));
  pthread_barrier_wait(&bar);
  pthread_barrier_wait(&bar);
  printf("thread: register(thread) = %ld\n", reg_rc);
  printf("thread: fetch(thread) = %ld heap=%lu files=%lu\n", own_rc, own.heapsize, own.openfile_count);
  printf("thread: fetch(leader) = %ld heap=%lu files=%lu\n", lead_rc, lead.heapsize, lead.openfile_count);
  tl_anon(TL_PAGE);
  tl_show_fetch("leader after its own 1-page mmap", self);
  tl_show_fetch("thread (leader's mmap not counted there)", tid);
  pthread_barrier_wait(&bar);
  pthread_join(t, NULL);
  printf("thread after close: fetch(thread) = %ld heap=%lu files=%lu\n", own2_rc, own2.heapsize,
         own2.openfile_count);
  tl_show_fetch("thread after it exited", tid);
  SHOWL("deregister(thread) after it exited", tl_deregister(tid));
  SHOWL("register(thread) after it exited", tl_register(tid));
  tl_show_fetch("leader", self);
  return 0;
}
