// SPDX-License-Identifier: Apache-2.0
/* A thread capped at 2 files opens a 3rd: the whole process is killed. */
#include "tl.h"

static volatile long *done;

static void *worker(void *arg) {
  pid_t tid = tl_gettid();

  (void)arg;
  done[2] = tl_register(tid) == 0 && tl_cap(tid, -1, 2) == 0;
  for (long i = 1; i <= 5; i++) {
    open("f", O_RDONLY);
    done[0] = i;
  }
  return NULL;
}

int main(void) {
  pid_t child;

  tl_make_file("f", 0644);
  done = tl_shared_page();
  child = tl_fork();
  if (child == 0) {
    pthread_t t;

    tl_register(getpid()); /* the leader's node is unlimited */
    t = tl_thread(worker, NULL);
    pthread_join(t, NULL);
    done[1] = 1;
    _exit(0);
  }
  tl_reap("child", child);
  printf("thread registered and capped: %s\n", done[2] ? "yes" : "no");
  printf("opens completed by the thread: %ld\n", done[0]);
  printf("main thread went on: %s\n", done[1] ? "yes" : "no");
  return 0;
}
