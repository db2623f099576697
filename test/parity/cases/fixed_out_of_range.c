// SPDX-License-Identifier: Apache-2.0
/*
 * MAP_FIXED where the kernel refuses the address itself: above TASK_SIZE - len (ENOMEM)
 * and below mmap_min_addr without CAP_SYS_RAWIO (EPERM). Nothing is mapped, nothing
 * counts (issue 12 rows 10 and 11). Addresses are above 2^56, so the answer is the same
 * with 4- or 5-level page tables.
 */
#include "tl.h"

#define HIGH (1UL << 56)

static void try_map(const char *what, unsigned long addr, size_t len, int flags) {
  pid_t self = getpid();
  unsigned long before = tl_heap(self);
  void *p = mmap((void *)addr, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | flags, -1, 0);

  printf("%s: %s, heap +%lu\n", what, p == MAP_FAILED ? tl_errname(errno) : "ok", tl_heap(self) - before);
}

/* Address 0 lies below any vm.mmap_min_addr; page 16 (64 KiB) above the usual ones. */
static void low_maps(const char *who) {
  char label[128];

  snprintf(label, sizeof(label), "%s FIXED at 0", who);
  try_map(label, 0, TL_PAGE, MAP_FIXED);
  snprintf(label, sizeof(label), "%s FIXED at 0, 2 pages", who);
  try_map(label, 0, 2 * TL_PAGE, MAP_FIXED);
  snprintf(label, sizeof(label), "%s FIXED|NOREPLACE at 0", who);
  try_map(label, 0, TL_PAGE, MAP_FIXED | MAP_FIXED_NOREPLACE);
  snprintf(label, sizeof(label), "%s NOREPLACE at page 16", who);
  try_map(label, 16 * TL_PAGE, TL_PAGE, MAP_FIXED_NOREPLACE);
}

int main(void) {
  pid_t self = getpid(), child;

  SHOWL("register(self)", tl_register(self));
  try_map("FIXED at 2^56", HIGH, TL_PAGE, MAP_FIXED);
  try_map("FIXED straddling 2^56 - 1 page", HIGH - TL_PAGE, 2 * TL_PAGE, MAP_FIXED);
  try_map("NOREPLACE at 2^57", 2 * HIGH, TL_PAGE, MAP_FIXED_NOREPLACE);
  try_map("FIXED at the last page of the 64-bit space", ~0UL - TL_PAGE + 1, TL_PAGE, MAP_FIXED);
  try_map("FIXED unaligned", 0x10000001UL, TL_PAGE, MAP_FIXED);
  try_map("hint at 2^56 (ignored)", HIGH, TL_PAGE, 0);
  try_map("length above 2^57", 0, 2 * HIGH, 0);

  /* Below mmap_min_addr: root (CAP_SYS_RAWIO) may map there; uid 1000 may not. The child
   * is forked first, so it never inherits root's page 0. */
  child = tl_fork();
  if (child == 0) {
    if (setresgid(1000, 1000, 1000) != 0 || setresuid(1000, 1000, 1000) != 0) {
      printf("cannot become uid 1000: %s\n", tl_errname(errno));
      exit(1);
    }
    SHOWL("uid 1000 register(self)", tl_register(getpid()));
    low_maps("uid 1000");
    exit(0);
  }
  tl_reap("child", child);
  low_maps("root");
  tl_show_fetch("self", self);
  return 0;
}
