// SPDX-License-Identifier: Apache-2.0
/*
 * The leader calls pthread_exit; another thread then opens relative to a dirfd, to its
 * cwd, with openat2, and with O_PATH: each works and counts as the kernel counts it.
 */
#include <linux/openat2.h>

#include "tl.h"

static pthread_t main_thread;
static pid_t leader;
static int dirfd_;

static void *worker(void *arg) {
  struct open_how how = {.flags = O_RDONLY};
  int a, b, c, d;

  (void)arg;
  pthread_join(main_thread, NULL); /* returns once the leader has exited */
  printf("leader has exited\n");
  a = openat(dirfd_, "f", O_RDONLY);
  printf("openat(dirfd, f) %s\n", a >= 0 ? "ok" : tl_errname(errno));
  b = open("sub/g", O_RDONLY);
  printf("open(sub/g) %s\n", b >= 0 ? "ok" : tl_errname(errno));
  c = (int)syscall(SYS_openat2, dirfd_, "g", &how, sizeof(how));
  printf("openat2(dirfd, g) %s\n", c >= 0 ? "ok" : tl_errname(errno));
  d = openat(dirfd_, "f", O_PATH);
  printf("openat(dirfd, f, O_PATH) %s\n", d >= 0 ? "ok" : tl_errname(errno));
  SHOWL("openat(dirfd, missing)", openat(dirfd_, "missing", O_RDONLY));
  SHOWL("openat(99, f)", openat(99, "f", O_RDONLY));
  tl_show_fetch("leader", leader);
  SHOWL("close(a)", close(a));
  SHOWL("close(d)", close(d));
  tl_show_fetch("leader", leader);
  fflush(stdout);
  exit(0);
}

int main(void) {
  leader = getpid();
  main_thread = pthread_self();
  if (mkdir("sub", 0755) != 0) return 1;
  tl_make_file("sub/f", 0644);
  tl_make_file("sub/g", 0644);
  dirfd_ = open("sub", O_RDONLY | O_DIRECTORY);
  SHOWL("register(self)", tl_register(leader));
  tl_thread(worker, NULL);
  fflush(stdout);
  pthread_exit(NULL);
}
