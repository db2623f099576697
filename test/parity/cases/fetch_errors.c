// SPDX-License-Identifier: Apache-2.0
/* fetch(): every error, including unwritable and partly writable buffers. */
#include "tl.h"

int main(void) {
  struct per_proc_resource r;
  pid_t self = getpid();
  char *ro, *two;

  /* mappings made before registering: not counted */
  ro = mmap(NULL, TL_PAGE, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  two = mmap(NULL, 2 * TL_PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  munmap(two + TL_PAGE, TL_PAGE); /* [two, two+PAGE) writable, then a hole */

  SHOWL("fetch(&r, 0)", tl_fetch(&r, 0));
  SHOWL("fetch(&r, -7)", tl_fetch(&r, -7));
  SHOWL("fetch(&r, self) unregistered", tl_fetch(&r, self));
  SHOWL("fetch(&r, no such pid)", tl_fetch(&r, TL_NO_SUCH_PID));
  SHOWL("register(self)", tl_register(self));
  SHOWL("fetch(NULL, self)", tl_fetch(NULL, self));
  SHOWL("fetch((void *)1, self)", tl_fetch((void *)1, self));
  SHOWL("fetch(read-only page, self)", tl_fetch(ro, self));
  SHOWL("fetch(last 8 bytes before a hole, self)", tl_fetch(two + TL_PAGE - 8, self));
  SHOWL("fetch(&r, 0) registered", tl_fetch(&r, 0));
  SHOWL("fetch(&r, self)", tl_fetch(&r, self));
  tl_show_fetch("self", self);
  return 0;
}
