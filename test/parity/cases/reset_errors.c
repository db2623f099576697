// SPDX-License-Identifier: Apache-2.0
/* resource_reset(): every error; reset without quotas is fine. */
#include "tl.h"

int main(void) {
  pid_t self = getpid();

  SHOWL("reset(0)", tl_reset(0));
  SHOWL("reset(-3)", tl_reset(-3));
  SHOWL("reset(no such pid)", tl_reset(TL_NO_SUCH_PID));
  SHOWL("reset(self) unregistered", tl_reset(self));
  SHOWL("register(self)", tl_register(self));
  SHOWL("reset(self) without quotas", tl_reset(self));
  SHOWL("reset(self) again", tl_reset(self));
  SHOWL("cap(self, 5, 5)", tl_cap(self, 5, 5));
  SHOWL("reset(self)", tl_reset(self));
  SHOWL("deregister(self)", tl_deregister(self));
  SHOWL("reset(self) after deregister", tl_reset(self));
  return 0;
}
