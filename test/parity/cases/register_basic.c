// SPDX-License-Identifier: Apache-2.0
/* register/fetch/deregister on the caller itself: the happy path and the repeats. */
#include "tl.h"

int main(void) {
  pid_t self = getpid();

  SHOWL("register(self)", tl_register(self));
  SHOWL("register(self) again", tl_register(self));
  tl_show_fetch("self", self);
  SHOWL("deregister(self)", tl_deregister(self));
  SHOWL("deregister(self) again", tl_deregister(self));
  tl_show_fetch("self after deregister", self);
  SHOWL("register(self) after deregister", tl_register(self));
  tl_show_fetch("self", self);
  return 0;
}
