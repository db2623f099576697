// SPDX-License-Identifier: Apache-2.0
/*
 * The break is mm->brk, not the end of the [heap] mapping: munmap or mprotect part of the
 * heap, then grow it with brk -- only the growth of the break counts (issue 12 row 1).
 */
#include "tl.h"

static unsigned long brk_to(unsigned long addr) {
  return (unsigned long)syscall(SYS_brk, addr);
}

static void grow(const char *what, unsigned long to) {
  pid_t self = getpid();
  unsigned long before = tl_heap(self);
  unsigned long r = brk_to(to);

  printf("%s: moved %s, heap +%lu\n", what, r == to ? "yes" : "no", tl_heap(self) - before);
}

int main(void) {
  pid_t self = getpid();
  unsigned long base;

  base = (brk_to(0) + TL_PAGE - 1) & ~(TL_PAGE - 1);
  brk_to(base);
  SHOWL("register(self)", tl_register(self));
  grow("brk +8 pages", base + 8 * TL_PAGE);

  /* The top two pages of the heap unmapped: the break stays at +8. */
  SHOWL("munmap(top 2 heap pages)", munmap((void *)(base + 6 * TL_PAGE), 2 * TL_PAGE));
  grow("brk +9 pages after munmap", base + 9 * TL_PAGE);
  grow("brk +9 pages -100 same page", base + 9 * TL_PAGE - 100);

  /* A page in the middle made read-only: three [heap] mappings, the break at +9 pages -100. */
  SHOWL("mprotect(heap page 2, PROT_READ)", mprotect((void *)(base + 2 * TL_PAGE), TL_PAGE, PROT_READ));
  grow("brk +11 pages after mprotect", base + 11 * TL_PAGE);

  /* A hole in the middle of the heap. */
  SHOWL("munmap(heap page 4)", munmap((void *)(base + 4 * TL_PAGE), TL_PAGE));
  grow("brk +12 pages after a hole", base + 12 * TL_PAGE);

  /* The whole top of the heap unmapped, then regrown past it. */
  SHOWL("munmap(heap pages 5..12)", munmap((void *)(base + 5 * TL_PAGE), 7 * TL_PAGE));
  grow("brk +14 pages after unmapping the top", base + 14 * TL_PAGE);

  /* Shrinking within the heap's last mapping works; over a hole it fails (6.1 finds no brk
   * mapping there) and the break stays. */
  grow("brk shrink to +13 pages", base + 13 * TL_PAGE);
  grow("brk +14 pages", base + 14 * TL_PAGE);
  SHOWL("munmap(heap pages 12..13)", munmap((void *)(base + 12 * TL_PAGE), 2 * TL_PAGE));
  grow("brk shrink to +13 pages over the hole", base + 13 * TL_PAGE);
  grow("brk +15 pages", base + 15 * TL_PAGE);
  tl_show_fetch("self", self);
  return 0;
}
