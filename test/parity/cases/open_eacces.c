// SPDX-License-Identifier: Apache-2.0
/* EACCES on open counts nothing: a mode 000 file opened by uid 1000. */
#include "tl.h"

int main(void) {
  pid_t child;

  tl_make_file("secret", 0000);
  child = tl_fork();
  if (child == 0) {
    pid_t self = getpid();

    if (geteuid() == 0 && setuid(1000) != 0) {
      printf("setuid failed\n");
      _exit(1);
    }
    SHOWL("child register(self)", tl_register(self));
    SHOW(open("secret", O_RDONLY));
    SHOW(open("secret", O_WRONLY | O_TRUNC));
    SHOW(openat(AT_FDCWD, "secret", O_RDWR));
    SHOW(creat("secret", 0644));
    tl_show_fetch("child self", self);
    _exit(0);
  }
  tl_reap("child", child);
  return 0;
}
