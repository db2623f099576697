// SPDX-License-Identifier: Apache-2.0
/*
 * A soft RLIMIT_DATA of 0 with a larger hard limit: may_expand_vm()'s "Valgrind
 * workaround" lets data mappings through up to the hard limit, and they count; brk's
 * own check_data_rlimit() has no such exception (issue 12 row 12).
 */
#include <sys/resource.h>

#include "tl.h"

static unsigned long brk_to(unsigned long addr) {
  return (unsigned long)syscall(SYS_brk, addr);
}

static void try_map(const char *what, size_t len, int prot) {
  pid_t self = getpid();
  unsigned long before = tl_heap(self);
  void *p = mmap(NULL, len, prot, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);

  printf("%s: %s, heap +%lu\n", what, p == MAP_FAILED ? tl_errname(errno) : "ok", tl_heap(self) - before);
  if (p != MAP_FAILED) munmap(p, len); /* VmData back where it was */
}

int main(void) {
  struct rlimit unlimited = {0, RLIM_INFINITY}, capped = {0, 64 * TL_MIB};
  pid_t self = getpid(), child;
  unsigned long base, before, r;

  base = (brk_to(0) + TL_PAGE - 1) & ~(TL_PAGE - 1);
  brk_to(base);
  SHOWL("setrlimit(RLIMIT_DATA, soft 0, hard unlimited)", setrlimit(RLIMIT_DATA, &unlimited));
  SHOWL("register(self)", tl_register(self));
  try_map("mmap(4 pages rw)", 4 * TL_PAGE, PROT_READ | PROT_WRITE);
  try_map("mmap(4 pages read-only)", 4 * TL_PAGE, PROT_READ);
  try_map("mmap(256 MiB rw)", 256 * TL_MIB, PROT_READ | PROT_WRITE);
  before = tl_heap(self);
  r = brk_to(base + TL_PAGE);
  printf("brk(+1 page): %s, heap +%lu\n", r == base + TL_PAGE ? "moved" : "refused", tl_heap(self) - before);

  /* Soft 0, hard 64 MiB: data mappings up to the hard limit. */
  child = tl_fork();
  if (child == 0) {
    SHOWL("child setrlimit(RLIMIT_DATA, soft 0, hard 64 MiB)", setrlimit(RLIMIT_DATA, &capped));
    SHOWL("child register(self)", tl_register(getpid()));
    try_map("child mmap(4 MiB rw)", 4 * TL_MIB, PROT_READ | PROT_WRITE);
    try_map("child mmap(128 MiB rw)", 128 * TL_MIB, PROT_READ | PROT_WRITE);
    try_map("child mmap(128 MiB read-only)", 128 * TL_MIB, PROT_READ);
    exit(0);
  }
  tl_reap("child", child);

  /* Under a 1 MiB quota, the 4 MiB mapping the exception lets through kills. */
  child = tl_fork();
  if (child == 0) {
    SHOWL("child register(self)", tl_register(getpid()));
    SHOWL("child resource_cap(1 MiB)", tl_cap(getpid(), 1, -1));
    fflush(stdout);
    try_map("child mmap(4 MiB rw)", 4 * TL_MIB, PROT_READ | PROT_WRITE);
    exit(0);
  }
  tl_reap("quota child", child);
  tl_show_fetch("self", self);
  return 0;
}
