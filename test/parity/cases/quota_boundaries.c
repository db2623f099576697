// SPDX-License-Identifier: Apache-2.0
/* Quota arithmetic: equal is not over, huge heap quotas never overflow, 0 means nothing. */
#include "tl.h"

int main(void) {
  pid_t child = tl_fork();

  if (child == 0) {
    pid_t self = getpid();

    tl_register(self);
    tl_anon(TL_PAGE);
    SHOWL("cap(self, 2^44 - 1, -1)", tl_cap(self, (1L << 44) - 1, -1));
    tl_anon(TL_PAGE);
    printf("alive after a page under 2^44-1 MiB\n");
    SHOWL("reset(self)", tl_reset(self));
    SHOWL("cap(self, 2^44, -1)", tl_cap(self, 1L << 44, -1));
    tl_anon(TL_PAGE);
    printf("alive under 2^44 MiB (2^64 bytes would wrap to 0)\n");
    SHOWL("reset(self)", tl_reset(self));
    SHOWL("cap(self, LONG_MAX, LONG_MAX)", tl_cap(self, 0x7fffffffffffffffL, 0x7fffffffffffffffL));
    tl_anon(TL_PAGE);
    open(".", O_RDONLY);
    printf("alive under LONG_MAX\n");
    SHOWL("reset(self)", tl_reset(self));
    SHOWL("cap(self, -1, 1) with 1 file open", tl_cap(self, -1, 1));
    printf("alive at exactly the file quota\n");
    SHOWL("reset(self)", tl_reset(self));
    tl_show_fetch("self", self);
    SHOWL("cap(self, 0, -1) with 4 pages", tl_cap(self, 0, -1));
    printf("must not be printed\n");
    _exit(0);
  }
  tl_reap("child", child);
  return 0;
}
