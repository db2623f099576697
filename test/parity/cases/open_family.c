// SPDX-License-Identifier: Apache-2.0
/* open, openat, openat2, creat (also O_PATH and O_CLOEXEC) each add 1; close subtracts 1. */
#include <linux/openat2.h>

#include "tl.h"

int main(void) {
  struct open_how how = {.flags = O_RDONLY};
  pid_t self = getpid();
  int fds[8], n = 0, dirfd;

  tl_make_file("a", 0644);
  dirfd = open(".", O_RDONLY | O_DIRECTORY);
  SHOWL("register(self)", tl_register(self));
  fds[n++] = open("a", O_RDONLY);
  printf("open %s\n", fds[n - 1] >= 0 ? "ok" : tl_errname(errno));
  tl_show_fetch("self after open", self);
  fds[n++] = openat(dirfd, "a", O_RDWR);
  printf("openat %s\n", fds[n - 1] >= 0 ? "ok" : tl_errname(errno));
  fds[n++] = openat(AT_FDCWD, "b", O_CREAT | O_WRONLY, 0644);
  printf("openat(O_CREAT) %s\n", fds[n - 1] >= 0 ? "ok" : tl_errname(errno));
  fds[n++] = (int)syscall(SYS_openat2, dirfd, "a", &how, sizeof(how));
  printf("openat2 %s\n", fds[n - 1] >= 0 ? "ok" : tl_errname(errno));
  fds[n++] = creat("c", 0600);
  printf("creat %s\n", fds[n - 1] >= 0 ? "ok" : tl_errname(errno));
  fds[n++] = open(".", O_PATH);
  printf("open(O_PATH) %s\n", fds[n - 1] >= 0 ? "ok" : tl_errname(errno));
  fds[n++] = (int)syscall(SYS_open, "a", O_RDONLY | O_CLOEXEC);
  printf("raw SYS_open(O_CLOEXEC) %s\n", fds[n - 1] >= 0 ? "ok" : tl_errname(errno));
  tl_show_fetch("self", self);
  while (n > 0) {
    char label[32];

    snprintf(label, sizeof(label), "close(fd%d)", n);
    SHOWL(label, close(fds[--n]));
  }
  tl_show_fetch("self after closes", self);
  return 0;
}
