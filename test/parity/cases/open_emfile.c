// SPDX-License-Identifier: Apache-2.0
/* Opens past RLIMIT_NOFILE (EMFILE) count nothing; the ones that fit count. */
#include <sys/resource.h>

#include "tl.h"

int main(void) {
  struct rlimit rl = {8, 8};
  pid_t self = getpid();
  int opened = 0, fd, last_errno = 0;

  tl_make_file("f", 0644);
  close_range(3, ~0U, 0); /* fds 0-2 only, so the count below is exact */
  SHOWL("setrlimit(RLIMIT_NOFILE, 8)", setrlimit(RLIMIT_NOFILE, &rl));
  SHOWL("register(self)", tl_register(self));
  for (int i = 0; i < 10; i++) {
    fd = open("f", O_RDONLY);
    if (fd >= 0)
      opened++;
    else
      last_errno = errno;
  }
  printf("opened %d of 10, last error %s\n", opened, tl_errname(last_errno));
  tl_show_fetch("self", self);
  SHOW(openat(AT_FDCWD, "f", O_RDONLY));
  SHOW(creat("g", 0644));
  SHOW(dup(3));
  tl_show_fetch("self", self);
  SHOW(close(3));
  SHOW(open("f", O_RDONLY));
  tl_show_fetch("self", self);
  return 0;
}
