// SPDX-License-Identifier: Apache-2.0
/*
 * "Full" is about free slots below RLIMIT_NOFILE, not about how many are open: a hole below
 * the limit is found (and taken), fds open above a lowered limit leave no room, and
 * O_TMPFILE in a full table fails with EMFILE too.
 */
#include <sys/resource.h>

#include "tl.h"

int main(void) {
  pid_t self = getpid();
  struct rlimit six = {6, 64}, three = {3, 64};
  int a, b, c, fd;

  tl_make_file("f", 0644);
  close_range(3, ~0U, 0);
  a = open("f", O_RDONLY); /* 3 */
  b = open("f", O_RDONLY); /* 4 */
  c = open("f", O_RDONLY); /* 5 */
  SHOWL("register(self)", tl_register(self));
  SHOWL("setrlimit(RLIMIT_NOFILE, 6)", setrlimit(RLIMIT_NOFILE, &six));
  SHOW(open("g", O_CREAT | O_WRONLY, 0644));
  SHOW(close(b));
  fd = open("g", O_CREAT | O_WRONLY, 0644);
  printf("open(g, O_CREAT) with a hole at 4: %s\n", fd == 4 ? "fd 4" : tl_errname(errno));
  tl_show_fetch("self", self);
  SHOW(open("h", O_CREAT | O_WRONLY, 0644));
  SHOWL("access(h)", access("h", F_OK));
  SHOW(open(".", O_TMPFILE | O_WRONLY, 0600));
  /* fds 3, 4, 5 are open, all at or above a limit of 3. */
  SHOWL("setrlimit(RLIMIT_NOFILE, 3)", setrlimit(RLIMIT_NOFILE, &three));
  SHOW(close(a));
  SHOW(open("i", O_CREAT | O_WRONLY, 0644));
  SHOWL("access(i)", access("i", F_OK));
  tl_show_fetch("self", self);
  SHOW(close(c));
  SHOW(close(0));
  fd = open("i", O_CREAT | O_WRONLY, 0644);
  printf("open(i, O_CREAT) with fd 0 free: %s\n", fd == 0 ? "fd 0" : tl_errname(errno));
  SHOWL("access(i)", access("i", F_OK));
  tl_show_fetch("self", self);
  return 0;
}
