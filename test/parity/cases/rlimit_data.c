// SPDX-License-Identifier: Apache-2.0
/* brk and mmap refused by RLIMIT_DATA count nothing; the ones that fit count. */
#include <sys/resource.h>

#include "tl.h"

static unsigned long brk_to(unsigned long addr) {
  return (unsigned long)syscall(SYS_brk, addr);
}

int main(void) {
  struct rlimit rl = {64 * TL_MIB, 64 * TL_MIB};
  pid_t self = getpid();
  unsigned long base, before, r;
  void *p;

  base = (brk_to(0) + TL_PAGE - 1) & ~(TL_PAGE - 1);
  brk_to(base);
  SHOWL("setrlimit(RLIMIT_DATA, 64 MiB)", setrlimit(RLIMIT_DATA, &rl));
  SHOWL("register(self)", tl_register(self));
  before = tl_heap(self);
  r = brk_to(base + 128 * TL_MIB);
  printf("brk(+128 MiB) %s heap +%lu\n", r == base ? "refused" : "moved", tl_heap(self) - before);
  before = tl_heap(self);
  p = tl_anon(128 * TL_MIB);
  printf("mmap(128 MiB) %s heap +%lu\n", p ? "ok" : tl_errname(errno), tl_heap(self) - before);
  before = tl_heap(self);
  r = brk_to(base + TL_PAGE);
  printf("brk(+1 page) %s heap +%lu\n", r == base + TL_PAGE ? "moved" : "refused", tl_heap(self) - before);
  before = tl_heap(self);
  p = tl_anon(TL_MIB);
  printf("mmap(1 MiB) %s heap +%lu\n", p ? "ok" : tl_errname(errno), tl_heap(self) - before);
  tl_show_fetch("self", self);
  return 0;
}
