// SPDX-License-Identifier: Apache-2.0
/* resource_cap(): every error, in the contract's order, and "quotas already set". */
#include "tl.h"

int main(void) {
  pid_t self = getpid();

  SHOWL("cap(0, 1, 1)", tl_cap(0, 1, 1));
  SHOWL("cap(-1, 1, 1)", tl_cap(-1, 1, 1));
  SHOWL("cap(no such pid, 1, 1)", tl_cap(TL_NO_SUCH_PID, 1, 1));
  SHOWL("cap(no such pid, -5, -5)", tl_cap(TL_NO_SUCH_PID, -5, -5));
  SHOWL("cap(self, 1, 1) unregistered", tl_cap(self, 1, 1));
  SHOWL("cap(self, -5, 1) unregistered", tl_cap(self, -5, 1));
  SHOWL("register(self)", tl_register(self));
  SHOWL("cap(self, -2, 10)", tl_cap(self, -2, 10));
  SHOWL("cap(self, 10, -2)", tl_cap(self, 10, -2));
  SHOWL("cap(self, LONG_MIN, -1)", tl_cap(self, -9223372036854775807L - 1, -1));
  SHOWL("cap(self, -1, -1)", tl_cap(self, -1, -1));
  SHOWL("cap(self, -1, -1) again (nothing was set)", tl_cap(self, -1, -1));
  SHOWL("cap(self, 100, -1)", tl_cap(self, 100, -1));
  SHOWL("cap(self, 100, -1) again", tl_cap(self, 100, -1));
  SHOWL("cap(self, -1, -1) after a quota", tl_cap(self, -1, -1));
  SHOWL("cap(self, -2, -1) after a quota", tl_cap(self, -2, -1));
  SHOWL("reset(self)", tl_reset(self));
  SHOWL("cap(self, -1, 50)", tl_cap(self, -1, 50));
  SHOWL("cap(self, 100, 50)", tl_cap(self, 100, 50));
  SHOWL("reset(self)", tl_reset(self));
  SHOWL("cap(self, 0, 0) with nothing used", tl_cap(self, 0, 0));
  printf("still alive\n");
  tl_show_fetch("self", self);
  return 0;
}
