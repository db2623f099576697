// SPDX-License-Identifier: Apache-2.0
/*
 * An untracked brk growth that fails for a reason the supervisor does not predict from the
 * call itself: a mapping in the way (brk_untracked_trimmed.c's counterpart). The process is
 * single-threaded, so the sandbox could believe the growth; it must see the mapping and not
 * (docs/semantics.md): else, once the mapping is gone, a tracked growth to the same break
 * would be charged nothing while the kernel charges all of it.
 */
#include "tl.h"

static uintptr_t page_up(uintptr_t v) {
  return (v + TL_PAGE - 1) & ~(TL_PAGE - 1);
}

int main(void) {
  const pid_t me = getpid();
  const uintptr_t top = page_up((uintptr_t)sbrk(0));
  void *blocker = mmap((void *)(top + 4 * TL_PAGE), TL_PAGE, PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
  unsigned long h0;

  printf("blocker mapped 4 pages above the break: %s\n",
         blocker == (void *)(top + 4 * TL_PAGE) ? "yes" : "no");
  printf("untracked sbrk(8 pages): %s\n", sbrk(8 * TL_PAGE) == (void *)-1 ? tl_errname(errno) : "ok");
  printf("break moved: %s\n", page_up((uintptr_t)sbrk(0)) != top ? "yes" : "no");
  SHOW(munmap(blocker, TL_PAGE));
  SHOWL("register(self)", tl_register(me));
  h0 = tl_heap(me);
  printf("sbrk(8 pages): %s\n", sbrk(8 * TL_PAGE) == (void *)-1 ? tl_errname(errno) : "ok");
  printf("charged %lu\n", tl_heap(me) - h0);
  return 0;
}
