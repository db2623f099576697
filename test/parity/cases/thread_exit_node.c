// SPDX-License-Identifier: Apache-2.0
/* A thread's node goes when the thread exits; the leader's node stays. */
#include "tl.h"

static pid_t tid;
static long reg_rc;

static void *worker(void *arg) {
  (void)arg;
  tid = tl_gettid();
  reg_rc = tl_register(tid);
  tl_anon(TL_PAGE);
  return NULL;
}

int main(void) {
  pid_t self = getpid();
  pthread_t t;

  SHOWL("register(self)", tl_register(self));
  t = tl_thread(worker, NULL);
  pthread_join(t, NULL);
  printf("thread: register(thread) = %ld\n", reg_rc);
  printf("thread id differs from pid: %s\n", tid != self ? "yes" : "no");
  tl_show_fetch("thread after exit", tid);
  SHOWL("deregister(thread) after exit", tl_deregister(tid));
  SHOWL("register(thread) after exit", tl_register(tid));
  SHOWL("cap(thread) after exit", tl_cap(tid, 1, 1));
  tl_show_fetch("leader (thread stack + 1 page)", self);
  return 0;
}
