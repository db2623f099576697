// SPDX-License-Identifier: Apache-2.0
/* The leader's node is capped; an unregistered thread's allocations push it over. */
#include "tl.h"

static volatile long *done;

static void *worker(void *arg) {
  (void)arg;
  for (long i = 1; i <= 6; i++) {
    tl_anon(512 * 1024);
    done[0] = i;
  }
  return NULL;
}

int main(void) {
  pid_t child;

  done = tl_shared_page();
  child = tl_fork();
  if (child == 0) {
    pthread_t t;

    tl_register(getpid());
    tl_cap(getpid(), 2, -1); /* 2 MiB, the thread's 256 KiB stack included */
    t = tl_thread(worker, NULL);
    pthread_join(t, NULL);
    done[1] = 1;
    _exit(0);
  }
  tl_reap("child", child);
  printf("512 KiB mappings completed by the thread: %ld\n", done[0]);
  printf("main thread went on: %s\n", done[1] ? "yes" : "no");
  return 0;
}
