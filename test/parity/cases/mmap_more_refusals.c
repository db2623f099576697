// SPDX-License-Identifier: Apache-2.0
/*
 * More anonymous mmap refusals of 6.1 that must count nothing, and near-limit mappings
 * that must count: huge offsets (ignored for anonymous memory); MAP_FIXED over
 * existing pages near RLIMIT_AS (only the new pages are checked); MAP_LOCKED against
 * RLIMIT_MEMLOCK (EPERM at 0, EAGAIN above it); a refused brk returns the break to the
 * byte.
 */
#include <sys/resource.h>

#include "tl.h"

static unsigned long brk_to(unsigned long addr) {
  return (unsigned long)syscall(SYS_brk, addr);
}

static void *try_map(const char *what, void *addr, size_t len, int flags, unsigned long off) {
  pid_t self = getpid();
  unsigned long before = tl_heap(self);
  void *p = mmap(addr, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | flags, -1, (off_t)off);
  const char *result = p == MAP_FAILED ? tl_errname(errno) : "ok";

  printf("%s: %s, heap +%lu\n", what, result, tl_heap(self) - before);
  return p;
}

/* VmSize of this process in bytes, from /proc/self/status (no stdio: no malloc). */
static unsigned long vm_size(void) {
  static char buf[4096];
  int fd = open("/proc/self/status", O_RDONLY);
  ssize_t n = fd < 0 ? -1 : read(fd, buf, sizeof(buf) - 1);
  char *p;

  if (fd >= 0) close(fd);
  if (n <= 0) return 0;
  buf[n] = 0;
  p = strstr(buf, "VmSize:");
  return p ? strtoul(p + 7, NULL, 10) * 1024 : 0;
}

int main(void) {
  pid_t self = getpid(), child;
  unsigned long base, r;

  SHOWL("register(self)", tl_register(self));
  try_map("offset -1 page", NULL, 2 * TL_PAGE, 0, ~0UL - TL_PAGE + 1);
  try_map("offset 2^63", NULL, TL_PAGE, 0, 1UL << 63);
  try_map("offset 1 page (ignored for anonymous)", NULL, TL_PAGE, 0, TL_PAGE);

  /* RLIMIT_AS 4 MiB above what is mapped: MAP_FIXED over a mapped 16 MiB needs no room. */
  child = tl_fork();
  if (child == 0) {
    char *area;

    SHOWL("child register(self)", tl_register(getpid()));
    area = try_map("child mmap(32 MiB)", NULL, 32 * TL_MIB, MAP_NORESERVE, 0);
    struct rlimit rl;

    munmap(area + 16 * TL_MIB, 16 * TL_MIB);
    rl.rlim_cur = rl.rlim_max = vm_size() + 4 * TL_MIB;
    SHOWL("child setrlimit(RLIMIT_AS, mapped + 4 MiB)", setrlimit(RLIMIT_AS, &rl));
    try_map("child mmap(8 MiB)", NULL, 8 * TL_MIB, MAP_NORESERVE, 0);
    try_map("child FIXED over the mapped 16 MiB", area, 16 * TL_MIB, MAP_FIXED | MAP_NORESERVE, 0);
    try_map("child FIXED 24 MiB (8 MiB new)", area, 24 * TL_MIB, MAP_FIXED | MAP_NORESERVE, 0);
    try_map("child FIXED 20 MiB (4 MiB new)", area, 20 * TL_MIB, MAP_FIXED | MAP_NORESERVE, 0);
    try_map("child mmap(1 page)", NULL, TL_PAGE, 0, 0);
    try_map("child NOREPLACE 1 page above", area + 20 * TL_MIB, TL_PAGE, MAP_FIXED_NOREPLACE, 0);
    exit(0);
  }
  tl_reap("child", child);

  /* MAP_LOCKED as uid 1000 (no CAP_IPC_LOCK). */
  child = tl_fork();
  if (child == 0) {
    struct rlimit memlock = {64 * 1024, 64 * 1024}, none = {0, 0};

    SHOWL("child setrlimit(RLIMIT_MEMLOCK, 64 KiB)", setrlimit(RLIMIT_MEMLOCK, &memlock));
    if (setresgid(1000, 1000, 1000) != 0 || setresuid(1000, 1000, 1000) != 0) exit(1);
    SHOWL("child register(self)", tl_register(getpid()));
    try_map("child MAP_LOCKED 8 pages", NULL, 8 * TL_PAGE, MAP_LOCKED, 0);
    try_map("child MAP_LOCKED 16 pages (over 64 KiB with the 8)", NULL, 16 * TL_PAGE, MAP_LOCKED, 0);
    try_map("child MAP_LOCKED 8 more pages (64 KiB exactly)", NULL, 8 * TL_PAGE, MAP_LOCKED, 0);
    SHOWL("child setrlimit(RLIMIT_MEMLOCK, 0)", setrlimit(RLIMIT_MEMLOCK, &none));
    try_map("child MAP_LOCKED 1 page at RLIMIT_MEMLOCK 0", NULL, TL_PAGE, MAP_LOCKED, 0);
    try_map("child 1 page, not locked", NULL, TL_PAGE, 0, 0);
    exit(0);
  }
  tl_reap("child", child);

  /* A brk refused by RLIMIT_DATA (soft below hard) returns the break, unaligned. */
  child = tl_fork();
  if (child == 0) {
    struct rlimit data = {0, 0};
    unsigned long before;

    base = (brk_to(0) + TL_PAGE - 1) & ~(TL_PAGE - 1);
    SHOWL("child register(self)", tl_register(getpid()));
    brk_to(base + 3 * TL_PAGE + 123);
    getrlimit(RLIMIT_DATA, &data);
    data.rlim_cur = 1 * TL_MIB;
    SHOWL("child setrlimit(RLIMIT_DATA, soft 1 MiB)", setrlimit(RLIMIT_DATA, &data));
    before = tl_heap(getpid());
    r = brk_to(base + 64 * TL_MIB);
    printf("child brk(+64 MiB): %s, heap +%lu\n",
           r == base + 3 * TL_PAGE + 123 ? "refused, break unchanged"
           : r == base + 64 * TL_MIB     ? "moved"
                                         : "other",
           tl_heap(getpid()) - before);
    exit(0);
  }
  tl_reap("child", child);
  tl_show_fetch("self", self);
  return 0;
}
