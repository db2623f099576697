// SPDX-License-Identifier: Apache-2.0
/*
 * MAP_FIXED_NOREPLACE fails with EEXIST over any mapping, with or without MAP_FIXED
 * beside it (6.1's do_mmap adds MAP_FIXED to it, then looks), and counts nothing;
 * plain MAP_FIXED replaces and counts (issue 12 row 9).
 */
#include "tl.h"

static void *worker(void *arg) {
  struct tl_gate *g = arg;

  tl_gate_wait(g); /* alive and idle while the main thread maps */
  return NULL;
}

static void try_map(const char *what, void *addr, size_t len, int flags) {
  pid_t self = getpid();
  unsigned long before = tl_heap(self);
  void *p = mmap(addr, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | flags, -1, 0);

  printf("%s: %s, heap +%lu\n", what,
         p == MAP_FAILED ? tl_errname(errno)
         : p == addr     ? "ok"
                         : "moved",
         tl_heap(self) - before);
}

int main(void) {
  pid_t self = getpid();
  /*
   * Static, not on main's stack: the worker may first touch it after main has returned
   * (exit() reuses that stack), and a garbage fd there made the worker exit(1) first.
   */
  static struct tl_gate g;
  char *area, *shared;

  SHOWL("register(self)", tl_register(self));
  area = tl_anon(8 * TL_PAGE);
  SHOWL("munmap(pages 4..7)", munmap(area + 4 * TL_PAGE, 4 * TL_PAGE));
  try_map("FIXED|NOREPLACE over page 0", area, TL_PAGE, MAP_FIXED | MAP_FIXED_NOREPLACE);
  try_map("NOREPLACE over page 1", area + TL_PAGE, TL_PAGE, MAP_FIXED_NOREPLACE);
  try_map("NOREPLACE over pages 3..4 (half mapped)", area + 3 * TL_PAGE, 2 * TL_PAGE, MAP_FIXED_NOREPLACE);
  try_map("FIXED|NOREPLACE into the hole, pages 4..5", area + 4 * TL_PAGE, 2 * TL_PAGE,
          MAP_FIXED | MAP_FIXED_NOREPLACE);
  try_map("FIXED over pages 5..6 (half mapped)", area + 5 * TL_PAGE, 2 * TL_PAGE, MAP_FIXED);

  /* A MAP_SHARED page (never counted, never notified) is in the way all the same. */
  shared = mmap(area + 7 * TL_PAGE, TL_PAGE, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS | MAP_FIXED,
                -1, 0);
  printf("shared page %s\n", shared == area + 7 * TL_PAGE ? "mapped" : "failed");
  try_map("FIXED|NOREPLACE over the shared page", area + 7 * TL_PAGE, TL_PAGE,
          MAP_FIXED | MAP_FIXED_NOREPLACE);

  /* With a second thread alive: the same answers. */
  tl_gate_init(&g);
  tl_thread(worker, &g);
  try_map("with a thread: FIXED|NOREPLACE over page 2", area + 2 * TL_PAGE, TL_PAGE,
          MAP_FIXED | MAP_FIXED_NOREPLACE);
  try_map("with a thread: NOREPLACE over the shared page", area + 7 * TL_PAGE, TL_PAGE, MAP_FIXED_NOREPLACE);
  SHOWL("munmap(page 2)", munmap(area + 2 * TL_PAGE, TL_PAGE));
  try_map("with a thread: NOREPLACE into page 2", area + 2 * TL_PAGE, TL_PAGE, MAP_FIXED_NOREPLACE);
  tl_gate_open(&g);
  tl_show_fetch("self", self);
  return 0;
}
