// SPDX-License-Identifier: Apache-2.0
/* mmap and brk refused by RLIMIT_AS count nothing. */
#include <sys/resource.h>

#include "tl.h"

static unsigned long brk_to(unsigned long addr) {
  return (unsigned long)syscall(SYS_brk, addr);
}

int main(void) {
  struct rlimit rl = {256 * TL_MIB, 256 * TL_MIB};
  pid_t self = getpid();
  unsigned long base, before, r;
  void *p;

  base = (brk_to(0) + TL_PAGE - 1) & ~(TL_PAGE - 1);
  brk_to(base);
  SHOWL("setrlimit(RLIMIT_AS, 256 MiB)", setrlimit(RLIMIT_AS, &rl));
  SHOWL("register(self)", tl_register(self));
  before = tl_heap(self);
  p = tl_anon(512 * TL_MIB);
  printf("mmap(512 MiB) %s heap +%lu\n", p ? "ok" : tl_errname(errno), tl_heap(self) - before);
  before = tl_heap(self);
  p = mmap(NULL, 512 * TL_MIB, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  printf("mmap(512 MiB PROT_NONE NORESERVE) %s heap +%lu\n", p != MAP_FAILED ? "ok" : tl_errname(errno),
         tl_heap(self) - before);
  before = tl_heap(self);
  r = brk_to(base + 512 * TL_MIB);
  printf("brk(+512 MiB) %s heap +%lu\n", r == base ? "refused" : "moved", tl_heap(self) - before);
  before = tl_heap(self);
  p = tl_anon(4 * TL_PAGE);
  printf("mmap(4 pages) %s heap +%lu\n", p ? "ok" : tl_errname(errno), tl_heap(self) - before);
  tl_show_fetch("self", self);
  return 0;
}
