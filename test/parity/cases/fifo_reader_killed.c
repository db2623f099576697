// SPDX-License-Identifier: Apache-2.0
/*
 * A killed target's blocked FIFO open ends with it (issue 22, 5). A registered child
 * blocks opening a FIFO for reading and is SIGKILLed; once waitpid() has returned, the
 * reader is gone: a non-blocking writer's open fails with ENXIO. Twice: the parent
 * untracked, then registered (its open is then made by the supervisor too).
 */
#include "tl.h"

/* Waits until `pid` is blocked in openat (nr 257): a condition, not a delay. */
static void wait_in_openat(pid_t pid) {
  char path[64], buf[128];
  int f;

  snprintf(path, sizeof(path), "/proc/%d/syscall", pid);
  f = open(path, O_RDONLY | O_CLOEXEC);
  if (f < 0) exit(1);
  for (;;) {
    ssize_t n = pread(f, buf, sizeof(buf) - 1, 0);

    if (n > 0) {
      buf[n] = 0;
      if (strncmp(buf, "257 ", 4) == 0) break;
    }
    sched_yield();
  }
  close(f);
}

static void round_(const char *name) {
  pid_t child = tl_fork();
  int w;

  if (child == 0) {
    if (tl_register(getpid()) != 0) _exit(2);
    open("fifo", O_RDONLY);
    _exit(3);
  }
  wait_in_openat(child);
  kill(child, SIGKILL);
  tl_reap(name, child);
  w = open("fifo", O_WRONLY | O_NONBLOCK);
  printf("%s: writer open after the reader's death: %s\n", name, w >= 0 ? "ok" : tl_errname(errno));
  if (w >= 0) close(w);
}

int main(void) {
  if (mkfifo("fifo", 0600) != 0) return 1;
  round_("untracked parent");
  SHOWL("register(self)", tl_register(getpid()));
  round_("registered parent");
  tl_show_fetch("self", getpid());
  return 0;
}
