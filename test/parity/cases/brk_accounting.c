// SPDX-License-Identifier: Apache-2.0
/* brk: growth of the page-aligned break counts, shrinking and failures do not. */
#include "tl.h"

static unsigned long brk_to(unsigned long addr) {
  return (unsigned long)syscall(SYS_brk, addr);
}

int main(void) {
  pid_t self = getpid();
  unsigned long base, before, r;

  base = (brk_to(0) + TL_PAGE - 1) & ~(TL_PAGE - 1);
  brk_to(base); /* start on a page boundary, before registering */
  SHOWL("register(self)", tl_register(self));
  before = tl_heap(self);

  r = brk_to(base + 1);
  printf("brk(+1) moved %s, heap +%lu\n", r == base + 1 ? "yes" : "no", tl_heap(self) - before);
  before = tl_heap(self);
  r = brk_to(base + 100);
  printf("brk(+100) same page moved %s, heap +%lu\n", r == base + 100 ? "yes" : "no", tl_heap(self) - before);
  before = tl_heap(self);
  r = brk_to(base + 10 * TL_PAGE + 5);
  printf("brk(+10 pages +5) heap +%lu\n", tl_heap(self) - before);
  before = tl_heap(self);
  r = brk_to(base + 2 * TL_PAGE);
  printf("brk shrink to +2 pages moved %s, heap +%lu\n", r == base + 2 * TL_PAGE ? "yes" : "no",
         tl_heap(self) - before);
  before = tl_heap(self);
  r = brk_to(base + 5 * TL_PAGE);
  printf("brk regrow to +5 pages heap +%lu\n", tl_heap(self) - before);
  before = tl_heap(self);
  r = brk_to(0);
  printf("brk(0) query heap +%lu\n", tl_heap(self) - before);
  before = tl_heap(self);
  r = brk_to(1);
  printf("brk(1) below start refused %s, heap +%lu\n", r == base + 5 * TL_PAGE ? "yes" : "no",
         tl_heap(self) - before);
  before = tl_heap(self);
  r = brk_to(base + (1UL << 46));
  printf("brk(+64 TiB) refused %s, heap +%lu\n", r == base + 5 * TL_PAGE ? "yes" : "no",
         tl_heap(self) - before);
  tl_show_fetch("self", self);
  return 0;
}
