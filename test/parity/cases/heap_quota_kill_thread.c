// SPDX-License-Identifier: Apache-2.0
/* A thread capped on its own node goes over: the whole process is killed. */
#include "tl.h"

static volatile long *done;

static void *worker(void *arg) {
  pid_t tid = tl_gettid();

  (void)arg;
  done[2] = tl_register(tid) == 0 && tl_cap(tid, 1, -1) == 0;
  for (long i = 1; i <= 8; i++) {
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
    pthread_t t = tl_thread(worker, NULL);

    pthread_join(t, NULL);
    done[1] = 1;
    _exit(0);
  }
  tl_reap("child", child);
  printf("thread registered and capped: %s\n", done[2] ? "yes" : "no");
  printf("512 KiB mappings completed by the thread: %ld\n", done[0]);
  printf("main thread went on: %s\n", done[1] ? "yes" : "no");
  return 0;
}
