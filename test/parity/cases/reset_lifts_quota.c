// SPDX-License-Identifier: Apache-2.0
/* resource_reset lifts the quotas; a new cap is then accepted and enforced from the counters. */
#include "tl.h"

int main(void) {
  pid_t child;

  tl_make_file("f", 0644);
  child = tl_fork();
  if (child == 0) {
    pid_t self = getpid();

    SHOWL("register(self)", tl_register(self));
    SHOWL("cap(self, -1, 2)", tl_cap(self, -1, 2));
    open("f", O_RDONLY);
    open("f", O_RDONLY);
    tl_show_fetch("self at the quota", self);
    SHOWL("reset(self)", tl_reset(self));
    for (int i = 0; i < 3; i++) open("f", O_RDONLY);
    tl_show_fetch("self over the old quota, alive", self);
    SHOWL("cap(self, 100, 10)", tl_cap(self, 100, 10));
    SHOWL("cap(self, 100, 10) again", tl_cap(self, 100, 10));
    SHOWL("reset(self)", tl_reset(self));
    SHOWL("cap(self, -1, 4)", tl_cap(self, -1, 4));
    printf("must not be printed\n");
    _exit(0);
  }
  tl_reap("child", child);
  return 0;
}
