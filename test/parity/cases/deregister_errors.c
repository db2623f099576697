// SPDX-License-Identifier: Apache-2.0
/* deregister(): every error. */
#include "tl.h"

int main(void) {
  pid_t self = getpid();

  SHOWL("deregister(0)", tl_deregister(0));
  SHOWL("deregister(-1)", tl_deregister(-1));
  SHOWL("deregister(no such pid)", tl_deregister(TL_NO_SUCH_PID));
  SHOWL("deregister(self) unregistered", tl_deregister(self));
  SHOWL("register(self)", tl_register(self));
  SHOWL("deregister(self)", tl_deregister(self));
  SHOWL("deregister(self) again", tl_deregister(self));
  return 0;
}
