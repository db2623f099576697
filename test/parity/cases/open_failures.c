// SPDX-License-Identifier: Apache-2.0
/* Opens that fail count nothing: ENOENT, EEXIST, ENOTDIR, EISDIR, EINVAL, EFAULT, ENAMETOOLONG. */
#include <linux/openat2.h>

#include "tl.h"

int main(void) {
  struct open_how bad = {.flags = O_RDONLY, .resolve = 0x80000000ULL};
  char longname[5000];
  pid_t self = getpid();

  tl_make_file("f", 0644);
  mkdir("d", 0755);
  memset(longname, 'x', sizeof(longname) - 1);
  longname[sizeof(longname) - 1] = '\0';
  SHOWL("register(self)", tl_register(self));
  SHOW(open("missing", O_RDONLY));
  SHOW(openat(AT_FDCWD, "missing/deeper", O_RDONLY));
  SHOW(creat("no-dir/x", 0644));
  SHOW(open("f", O_CREAT | O_EXCL | O_WRONLY, 0644));
  SHOW(open("f/sub", O_RDONLY));
  SHOW(open("d", O_WRONLY));
  SHOW(open("f", O_RDONLY | O_DIRECTORY));
  SHOW(openat(12345, "f", O_RDONLY));
  SHOWL("open(NULL)", syscall(SYS_open, NULL, O_RDONLY));
  SHOW(open(longname, O_RDONLY));
  SHOW(syscall(SYS_openat2, AT_FDCWD, "f", &bad, sizeof(bad)));
  SHOW(syscall(SYS_openat2, AT_FDCWD, "f", &bad, 3));
  tl_show_fetch("self", self);
  return 0;
}
