// SPDX-License-Identifier: Apache-2.0
/*
 * The leader thread exits (pthread_exit) while another thread runs: the leader's node
 * stays until the whole process is gone and still counts the other thread's changes,
 * but the leader itself is exiting, so register/cap/reset on its pid are ESRCH.
 */
#include "tl.h"

static pthread_t main_thread;
static pid_t leader;

static void *worker(void *arg) {
  (void)arg;
  pthread_join(main_thread, NULL); /* returns once the leader has cleared its tid */
  printf("leader has exited\n");
  tl_show_fetch("leader", leader);
  tl_anon(TL_PAGE);
  tl_show_fetch("leader after the thread's 1-page mmap", leader);
  SHOWL("register(leader)", tl_register(leader));
  SHOWL("cap(leader, 1, 1)", tl_cap(leader, 1, 1));
  SHOWL("reset(leader)", tl_reset(leader));
  SHOWL("register(thread)", tl_register(tl_gettid()));
  tl_show_fetch("thread", tl_gettid());
  fflush(stdout);
  exit(0);
}

int main(void) {
  leader = getpid();
  main_thread = pthread_self();
  tl_thread(worker, NULL);
  SHOWL("register(self)", tl_register(leader));
  fflush(stdout);
  pthread_exit(NULL);
}
