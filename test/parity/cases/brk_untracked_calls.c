// SPDX-License-Identifier: Apache-2.0
/*
 * The break across untracked brk calls (issue 22, 3 and 4). Only a thread is registered
 * (its own node); the main thread is never tracked, and its brk calls share the mm.
 *  a. The heap grows untracked (to an unaligned break); the first tracked growth is
 *     charged from that break: the [heap] end confirms the untracked growth. (Had its top
 *     pages been unmapped first, the sandbox would charge from the [heap] end unless the
 *     growth was certain to succeed -- docs/semantics.md, brk_untracked_trimmed.c.)
 *  b. The break is known; an untracked query (brk(1): below start_brk, changes nothing)
 *     and the top pages unmapped again; the next growth is charged from the break.
 *  c. An untracked query and an untracked refused brk (above TASK_SIZE); then a tracked
 *     brk that RLIMIT_DATA refuses returns mm->brk itself, to the byte.
 */
#include <sys/resource.h>

#include "tl.h"

static volatile int step;
static pid_t tid;

static void wait_step(int s) {
  while (__atomic_load_n(&step, __ATOMIC_SEQ_CST) != s) sched_yield();
}
static void set_step(int s) {
  __atomic_store_n(&step, s, __ATOMIC_SEQ_CST);
}

static uintptr_t page_up(uintptr_t v) {
  return (v + TL_PAGE - 1) & ~(TL_PAGE - 1);
}

/* Unmaps the top `pages` pages of the heap (below the page-aligned break). */
static void trim(int pages) {
  uintptr_t end = page_up((uintptr_t)sbrk(0));

  printf("munmap top %d pages: %s\n", pages,
         munmap((void *)(end - pages * TL_PAGE), pages * TL_PAGE) == 0 ? "ok" : tl_errname(errno));
}

static void *worker(void *arg) {
  unsigned long h0, h1;
  uintptr_t cur;
  long r;

  (void)arg;
  tid = tl_gettid();
  printf("register(thread) = %ld\n", tl_register(tid));
  set_step(1);

  /* a. */
  wait_step(2);
  h0 = tl_heap(tid);
  printf("a: sbrk(1 page) %s\n", sbrk(TL_PAGE) != (void *)-1 ? "ok" : "failed");
  h1 = tl_heap(tid);
  printf("a: growth charged %lu\n", h1 - h0);

  /* b. */
  h0 = tl_heap(tid);
  printf("b: sbrk(6 pages) %s\n", sbrk(6 * TL_PAGE) != (void *)-1 ? "ok" : "failed");
  printf("b: charged %lu\n", tl_heap(tid) - h0);
  trim(3);
  set_step(3);
  wait_step(4);
  h0 = tl_heap(tid);
  printf("b: sbrk(2 pages) %s\n", sbrk(2 * TL_PAGE) != (void *)-1 ? "ok" : "failed");
  printf("b: growth after the query charged %lu\n", tl_heap(tid) - h0);

  /* c. */
  set_step(5);
  wait_step(6);
  cur = (uintptr_t)sbrk(0);
  r = syscall(SYS_brk, cur + 64 * TL_MIB);
  printf("c: refused brk returned %s\n", (uintptr_t)r == cur            ? "the break"
                                         : (uintptr_t)r == page_up(cur) ? "the page boundary"
                                                                        : "other");
  printf("c: break unaligned: %s\n", cur % TL_PAGE ? "yes" : "no");
  return NULL;
}

int main(void) {
  pthread_t t;
  struct rlimit rl;

  /* An unaligned break, untracked. */
  printf("untracked sbrk(5 pages + 100) %s\n", sbrk(5 * TL_PAGE + 100) != (void *)-1 ? "ok" : "failed");
  t = tl_thread(worker, NULL);
  wait_step(1);
  set_step(2);
  wait_step(3);
  printf("main: brk(1) %s\n", syscall(SYS_brk, 1) == (long)sbrk(0) ? "returned the break" : "other");
  set_step(4);
  wait_step(5);
  printf("main: brk(1) %s\n", syscall(SYS_brk, 1) == (long)sbrk(0) ? "returned the break" : "other");
  printf("main: brk(2^47 + break) %s\n",
         syscall(SYS_brk, (1UL << 47) + (uintptr_t)sbrk(0)) == (long)sbrk(0) ? "refused" : "other");
  rl.rlim_cur = rl.rlim_max = 8 * TL_MIB;
  SHOW(setrlimit(RLIMIT_DATA, &rl));
  set_step(6);
  pthread_join(t, NULL);
  return 0;
}
