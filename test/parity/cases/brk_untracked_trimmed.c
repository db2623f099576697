// SPDX-License-Identifier: Apache-2.0
/*
 * A brk growth made untracked, the heap's top pages unmapped, then a tracked growth (issue
 * 22, 4's related case). The kernel charges the tracked growth from mm->brk, which the
 * untracked growth moved and munmap did not; so does the sandbox when it can prove the
 * untracked growth succeeded: the process is single-threaded then, so nothing can change
 * what the call finds between the supervisor's check and the call (docs/semantics.md).
 *  a. sbrk(4 pages) untracked, the top 2 pages unmapped, registered, sbrk(1 page).
 *  b. deregistered; two untracked growths (the second leaves the break unaligned), the top
 *     3 pages unmapped, registered, sbrk(1 page); then a brk that RLIMIT_DATA refuses
 *     returns the break to the byte.
 */
#include <sys/resource.h>

#include "tl.h"

static uintptr_t page_up(uintptr_t v) {
  return (v + TL_PAGE - 1) & ~(TL_PAGE - 1);
}

/* Unmaps the top `pages` pages of the heap (below the page-aligned break). */
static void trim(int pages) {
  uintptr_t end = page_up((uintptr_t)sbrk(0));

  printf("munmap top %d pages: %s\n", pages,
         munmap((void *)(end - pages * TL_PAGE), pages * TL_PAGE) == 0 ? "ok" : tl_errname(errno));
}

static void grow(const char *label, pid_t me, long bytes) {
  unsigned long h0 = tl_heap(me);

  printf("%s: sbrk(%ld) %s\n", label, bytes, sbrk(bytes) != (void *)-1 ? "ok" : "failed");
  printf("%s: charged %lu\n", label, tl_heap(me) - h0);
}

int main(void) {
  const pid_t me = getpid();
  struct rlimit rl;
  uintptr_t cur;
  long r;

  /* a. */
  printf("a: untracked sbrk(4 pages) %s\n", sbrk(4 * TL_PAGE) != (void *)-1 ? "ok" : "failed");
  trim(2);
  SHOWL("register(self)", tl_register(me));
  grow("a", me, TL_PAGE);
  grow("a again", me, 2 * TL_PAGE);

  /* b. */
  SHOWL("deregister(self)", tl_deregister(me));
  printf("b: untracked sbrk(1 page) %s\n", sbrk(TL_PAGE) != (void *)-1 ? "ok" : "failed");
  printf("b: untracked sbrk(3 pages + 100) %s\n", sbrk(3 * TL_PAGE + 100) != (void *)-1 ? "ok" : "failed");
  trim(3);
  SHOWL("register(self)", tl_register(me));
  grow("b", me, TL_PAGE);
  cur = (uintptr_t)sbrk(0);
  rl.rlim_cur = rl.rlim_max = 8 * TL_MIB;
  SHOW(setrlimit(RLIMIT_DATA, &rl));
  r = syscall(SYS_brk, cur + 64 * TL_MIB);
  printf("b: refused brk returned %s\n", (uintptr_t)r == cur            ? "the break"
                                         : (uintptr_t)r == page_up(cur) ? "the page boundary"
                                                                        : "other");
  printf("b: break unaligned: %s\n", cur % TL_PAGE ? "yes" : "no");
  return 0;
}
