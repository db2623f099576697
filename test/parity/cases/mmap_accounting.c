// SPDX-License-Identifier: Apache-2.0
/* Anonymous private mmap counts its page-aligned length; munmap/mremap/mprotect never subtract. */
#include "tl.h"

int main(void) {
  pid_t self = getpid();
  unsigned long before;
  char *p, *q;

  SHOWL("register(self)", tl_register(self));
  before = tl_heap(self);
  p = tl_anon(1);
  printf("mmap(1) %s heap +%lu\n", p ? "ok" : "failed", tl_heap(self) - before);
  before = tl_heap(self);
  q = tl_anon(5000);
  printf("mmap(5000) %s heap +%lu\n", q ? "ok" : "failed", tl_heap(self) - before);
  before = tl_heap(self);
  p = tl_anon(TL_MIB);
  printf("mmap(1 MiB) %s heap +%lu\n", p ? "ok" : "failed", tl_heap(self) - before);
  before = tl_heap(self);
  SHOWL("munmap(1 MiB)", munmap(p, TL_MIB));
  printf("after munmap heap +%lu\n", tl_heap(self) - before);
  before = tl_heap(self);
  p = mmap(q, 2 * TL_PAGE, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
  printf("mmap(MAP_FIXED over 2 pages) %s heap +%lu\n", p == q ? "ok" : "failed", tl_heap(self) - before);
  before = tl_heap(self);
  p = mmap(NULL, 3 * TL_PAGE, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  printf("mmap(3 pages PROT_NONE NORESERVE) %s heap +%lu\n", p != MAP_FAILED ? "ok" : "failed",
         tl_heap(self) - before);
  before = tl_heap(self);
  SHOWL("mprotect", mprotect(p, 3 * TL_PAGE, PROT_READ | PROT_WRITE));
  q = mremap(p, 3 * TL_PAGE, 30 * TL_PAGE, MREMAP_MAYMOVE);
  printf("mremap grow %s heap +%lu\n", q != MAP_FAILED ? "ok" : "failed", tl_heap(self) - before);
  before = tl_heap(self);
  p = mmap(NULL, 0, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  printf("mmap(0 bytes) %s heap +%lu\n", p == MAP_FAILED ? tl_errname(errno) : "ok", tl_heap(self) - before);
  before = tl_heap(self);
  p = mmap(q, TL_PAGE, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
  printf("mmap(MAP_FIXED_NOREPLACE over a mapping) %s heap +%lu\n",
         p == MAP_FAILED ? tl_errname(errno) : "ok", tl_heap(self) - before);
  before = tl_heap(self);
  p = mmap(NULL, 2 * TL_PAGE, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, 0, 0);
  printf("mmap(MAP_PRIVATE | MAP_ANONYMOUS, fd 0) %s heap +%lu\n", p != MAP_FAILED ? "ok" : "failed",
         tl_heap(self) - before);
  tl_show_fetch("self", self);
  return 0;
}
