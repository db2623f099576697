// SPDX-License-Identifier: Apache-2.0
/* A node survives execve; close-on-exec closes do not count; the new image's brk counts. */
#include "tl.h"

int main(int argc, char **argv) {
  pid_t self = getpid();

  if (argc > 1 && strcmp(argv[1], "after-exec") == 0) {
    printf("after exec: pid unchanged: %s\n", strcmp(argv[2], "same") == 0 ? "yes" : "?");
    tl_show_fetch("self after exec (startup brk of the new image included)", self);
    SHOWL("register(self) after exec", tl_register(self));
    return 0;
  }
  tl_make_file("f", 0644);
  SHOWL("register(self)", tl_register(self));
  tl_anon(TL_PAGE);
  open("f", O_RDONLY);
  open("f", O_RDONLY | O_CLOEXEC);
  tl_show_fetch("self before exec", self);
  fflush(stdout);
  execl("/proc/self/exe", argv[0], "after-exec", "same", (char *)NULL);
  printf("execl failed %s\n", tl_errname(errno));
  return 1;
}
