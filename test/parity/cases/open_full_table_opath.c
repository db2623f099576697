// SPDX-License-Identifier: Apache-2.0
/* O_PATH opens in a full table: EMFILE, nothing counted; with room, each counts. */
#include <linux/openat2.h>
#include <sys/resource.h>

#include "tl.h"

int main(void) {
  pid_t self = getpid();
  struct rlimit full = {4, 64}, roomy = {64, 64};
  struct open_how how = {.flags = O_PATH};
  int dir, fd;

  tl_make_file("f", 0644);
  close_range(3, ~0U, 0);
  dir = open(".", O_RDONLY | O_DIRECTORY); /* 3 */
  SHOWL("register(self)", tl_register(self));
  SHOWL("setrlimit(RLIMIT_NOFILE, 4)", setrlimit(RLIMIT_NOFILE, &full));
  SHOW(open("f", O_PATH));
  SHOW(openat(dir, "f", O_PATH | O_NOFOLLOW));
  SHOWL("openat2(dir, f, O_PATH)", syscall(SYS_openat2, dir, "f", &how, sizeof(how)));
  SHOW(open("missing", O_PATH));
  tl_show_fetch("self", self);
  SHOWL("setrlimit(RLIMIT_NOFILE, 64)", setrlimit(RLIMIT_NOFILE, &roomy));
  fd = open("f", O_PATH);
  printf("open(f, O_PATH) with room: %s\n", fd == 4 ? "fd 4" : tl_errname(errno));
  fd = openat(dir, "f", O_PATH);
  printf("openat(dir, f, O_PATH) with room: %s\n", fd == 5 ? "fd 5" : tl_errname(errno));
  SHOW(open("missing", O_PATH));
  tl_show_fetch("self", self);
  SHOW(close(4));
  SHOW(close(5));
  tl_show_fetch("self", self);
  return 0;
}
