// SPDX-License-Identifier: Apache-2.0
/*
 * A non-leader thread calls execve: the other threads die, the exec'ing thread takes
 * over the process id. The leader's node survives the exec and keeps counting; the
 * exec'ing thread's old thread id no longer names a task, so its node is gone.
 */
#include "tl.h"

static pid_t leader;

static void *worker(void *arg) {
  char tidbuf[32];

  (void)arg;
  snprintf(tidbuf, sizeof(tidbuf), "%d", tl_gettid());
  printf("thread: register(thread) = %ld\n", tl_register(tl_gettid()));
  tl_anon(2 * TL_PAGE);
  tl_show_fetch("thread before exec", tl_gettid());
  fflush(stdout);
  execl("/proc/self/exe", "exec_from_thread", "after-exec", tidbuf, (char *)NULL);
  printf("execl failed %s\n", tl_errname(errno));
  exit(1);
}

int main(int argc, char **argv) {
  if (argc > 2 && strcmp(argv[1], "after-exec") == 0) {
    pid_t old_tid = (pid_t)atoi(argv[2]);

    printf("after exec: same process id: %s\n", getpid() == tl_gettid() ? "yes" : "no");
    tl_show_fetch("old thread id", old_tid);
    SHOWL("deregister(old thread id)", tl_deregister(old_tid));
    tl_anon(TL_PAGE);
    /* thread stack + 2 pages + the new image's startup brk + 1 page */
    tl_show_fetch("leader after exec", getpid());
    return 0;
  }
  leader = getpid();
  SHOWL("register(self)", tl_register(leader));
  fflush(stdout);
  tl_thread(worker, NULL);
  for (;;) pause();
}
