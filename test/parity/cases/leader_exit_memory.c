// SPDX-License-Identifier: Apache-2.0
/*
 * The leader calls pthread_exit and stays a zombie (no mm, empty maps, zeros in its
 * status); the last thread's brk and mmap are predicted from its own /proc entries
 * (issue 12 row 7).
 */
#include <sys/resource.h>

#include "tl.h"

static pid_t leader;
static unsigned long base;

static unsigned long brk_to(unsigned long addr) {
  return (unsigned long)syscall(SYS_brk, addr);
}

static int leader_is_zombie(void) {
  char path[64], buf[512];
  char *close_paren;
  ssize_t n;
  int fd;

  snprintf(path, sizeof(path), "/proc/%d/stat", leader);
  fd = open(path, O_RDONLY);
  if (fd < 0) return 0;
  n = read(fd, buf, sizeof(buf) - 1);
  close(fd);
  if (n <= 0) return 0;
  buf[n] = 0;
  close_paren = strrchr(buf, ')');
  return close_paren && close_paren[1] == ' ' && close_paren[2] == 'Z';
}

static void *last_thread(void *arg) {
  unsigned long before, r;
  char *p, *q;

  (void)arg;
  while (!leader_is_zombie()) sched_yield(); /* polls a state; no timing assumed */
  printf("leader is a zombie\n");

  before = tl_heap(leader);
  r = brk_to(base + 2 * TL_PAGE);
  printf("brk +2 pages: moved %s, heap +%lu\n", r == base + 2 * TL_PAGE ? "yes" : "no",
         tl_heap(leader) - before);
  before = tl_heap(leader);
  r = brk_to(base + 2 * TL_PAGE - 100);
  printf("brk same page: moved %s, heap +%lu\n", r == base + 2 * TL_PAGE - 100 ? "yes" : "no",
         tl_heap(leader) - before);
  before = tl_heap(leader);
  r = brk_to(base + 3 * TL_PAGE);
  printf("brk +3 pages: moved %s, heap +%lu\n", r == base + 3 * TL_PAGE ? "yes" : "no",
         tl_heap(leader) - before);

  before = tl_heap(leader);
  p = tl_anon(4 * TL_PAGE);
  printf("mmap(4 pages) %s, heap +%lu\n", p ? "ok" : tl_errname(errno), tl_heap(leader) - before);
  before = tl_heap(leader);
  q = mmap(p + TL_PAGE, TL_PAGE, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
  printf("mmap(NOREPLACE over it) %s, heap +%lu\n", q == MAP_FAILED ? tl_errname(errno) : "ok",
         tl_heap(leader) - before);
  before = tl_heap(leader);
  q = mmap(NULL, 2048 * TL_MIB, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  printf("mmap(2 GiB) over RLIMIT_AS %s, heap +%lu\n", q == MAP_FAILED ? tl_errname(errno) : "ok",
         tl_heap(leader) - before);
  before = tl_heap(leader);
  q = mmap(NULL, 4 * TL_MIB, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  printf("mmap(4 MiB) within RLIMIT_AS %s, heap +%lu\n", q == MAP_FAILED ? tl_errname(errno) : "ok",
         tl_heap(leader) - before);
  tl_show_fetch("leader", leader);
  fflush(stdout);
  exit(0);
}

int main(void) {
  struct rlimit rl = {1024 * TL_MIB, 1024 * TL_MIB};

  leader = getpid();
  base = (brk_to(0) + TL_PAGE - 1) & ~(TL_PAGE - 1);
  brk_to(base);
  SHOWL("setrlimit(RLIMIT_AS, 1 GiB)", setrlimit(RLIMIT_AS, &rl));
  SHOWL("register(self)", tl_register(leader));
  tl_thread(last_thread, NULL);
  fflush(stdout);
  pthread_exit(NULL);
}
