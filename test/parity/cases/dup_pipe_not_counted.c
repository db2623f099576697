// SPDX-License-Identifier: Apache-2.0
/* dup, dup2, dup3, F_DUPFD, pipe, pipe2, memfd, close_range and close-on-exec never count. */
#include "tl.h"

int main(void) {
  pid_t self = getpid();
  int fd, p[2], d1, d2, d3, d4, m;

  tl_make_file("f", 0644);
  SHOWL("register(self)", tl_register(self));
  fd = open("f", O_RDONLY);
  tl_show_fetch("self after open", self);
  d1 = dup(fd);
  d2 = dup2(fd, 40);
  d3 = dup3(fd, 41, O_CLOEXEC);
  d4 = fcntl(fd, F_DUPFD_CLOEXEC, 50);
  printf("dups %s\n", d1 >= 0 && d2 == 40 && d3 == 41 && d4 >= 50 ? "ok" : "failed");
  SHOW(pipe(p));
  SHOW(pipe2(p, O_CLOEXEC));
  m = memfd_create("m", 0);
  printf("memfd_create %s\n", m >= 0 ? "ok" : tl_errname(errno));
  tl_show_fetch("self", self);
  SHOW(close_range(40, 60, 0));
  tl_show_fetch("self after close_range", self);
  SHOW(close_range(3, ~0U, CLOSE_RANGE_CLOEXEC));
  tl_show_fetch("self after close_range(CLOEXEC)", self);
  return 0;
}
