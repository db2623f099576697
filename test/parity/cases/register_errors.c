// SPDX-License-Identifier: Apache-2.0
/* register(): every error, and the pid argument truncated to a 32-bit int. */
#include "tl.h"

int main(void) {
  pid_t self = getpid();

  SHOWL("register(0)", tl_register(0));
  SHOWL("register(-1)", tl_register(-1));
  SHOWL("register(INT_MIN)", tl_register(-2147483647L - 1));
  SHOWL("register(no such pid)", tl_register(TL_NO_SUCH_PID));
  SHOWL("register(2^32) (truncates to 0)", tl_register(1L << 32));
  SHOWL("register(2^32 + self) (truncates to self)", tl_register((1L << 32) + self));
  SHOWL("register(self)", tl_register(self));
  tl_show_fetch("self", self);
  SHOWL("deregister(2^32 + self)", tl_deregister((1L << 32) + self));
  tl_show_fetch("self", self);
  return 0;
}
