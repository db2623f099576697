// SPDX-License-Identifier: Apache-2.0
/*
 * heap_attacks: issue 10 item 4's escapes through the prediction of results, run for real
 * under `sandbox run` by memory_escape_test.cpp. Each mode drops to uid 65534 first (the
 * attacks need no privilege) and prints key=value lines.
 *
 *   prset-mm        prctl(PR_SET_MM, PR_SET_MM_MAP) moves start_brk/brk down, then brk grows 1 GiB
 *   prlimit-idle    RLIMIT_AS (soft 1 GiB from the start) lowered and raised again through an
 *                   idle thread's id, then 2 GiB mapped and 300 MiB touched
 *   noreplace-race  MAP_FIXED_NOREPLACE of 1 GiB against a MAP_SHARED page another thread
 *                   maps and unmaps: every mapping that succeeds must be counted
 */
#define _GNU_SOURCE
#include <errno.h>
#include <grp.h>
#include <linux/prctl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#define PAGE 4096UL
#define MIB (1024UL * 1024UL)
#define GIB (1024UL * MIB)

struct node_stats {
  int pid;
  unsigned long heapsize, openfile_count;
};

static unsigned long heap(void) {
  struct node_stats s;
  return syscall(452, &s, (long)getpid()) == 0 ? s.heapsize : (unsigned long)-1;
}

static void say(const char *key, long value) {
  printf("%s=%ld\n", key, value);
  fflush(stdout);
}

static void drop_to_nobody(void) {
  if (setgroups(0, NULL) != 0 || setresgid(65534, 65534, 65534) != 0 || setresuid(65534, 65534, 65534) != 0) {
    printf("setresuid_failed=%s\n", strerror(errno));
    exit(3);
  }
}

/* Fields of /proc/self/stat, 1-based, after the command name. */
static int stat_fields(unsigned long *out, int first, int last) {
  char buf[2048];
  FILE *f = fopen("/proc/self/stat", "r");
  size_t n = f ? fread(buf, 1, sizeof(buf) - 1, f) : 0;
  char *p;
  int field = 3;

  if (f) fclose(f);
  buf[n] = 0;
  p = strrchr(buf, ')');
  if (!p) return -1;
  p += 2;
  while (*p && field <= last) {
    if (field >= first) out[field - first] = strtoul(p, NULL, 10);
    p = strchr(p, ' ');
    if (!p) break;
    ++p;
    ++field;
  }
  return field > last ? 0 : -1;
}

static int attack_prset_mm(void) {
  unsigned long f[51 - 25 + 1];
  struct prctl_mm_map map;
  unsigned long start, cur, grown = 0;

  drop_to_nobody();
  if (stat_fields(f, 25, 51) != 0) return 4;
  memset(&map, 0, sizeof(map));
  map.start_code = f[26 - 25];
  map.end_code = f[27 - 25];
  map.start_stack = f[28 - 25];
  map.start_data = f[45 - 25];
  map.end_data = f[46 - 25];
  map.arg_start = f[48 - 25];
  map.arg_end = f[49 - 25];
  map.env_start = f[50 - 25];
  map.env_end = f[51 - 25];
  /* The heap moved to just above the data: below the layout the supervisor saw at exec. */
  map.start_brk = map.brk = (map.end_data + 2 * PAGE) & ~(PAGE - 1);
  map.exe_fd = (__u32)-1;
  errno = 0;
  say("prctl_rc", prctl(PR_SET_MM, PR_SET_MM_MAP, (unsigned long)&map, sizeof(map), 0));
  printf("prctl_errno=%s\n", strerrorname_np(errno) ? strerrorname_np(errno) : "0");
  fflush(stdout);
  start = cur = (unsigned long)syscall(SYS_brk, 0);
  while (grown < GIB) {
    unsigned long want = cur + 16 * MIB;
    if ((unsigned long)syscall(SYS_brk, want) != want) break;
    cur = want;
    grown = cur - start;
  }
  say("brk_grown_mib", (long)(grown / MIB));
  return 0;
}

static atomic_int idle_tid;
static int park[2];

static void *idle(void *arg) {
  char c;
  (void)arg;
  atomic_store(&idle_tid, (int)syscall(SYS_gettid));
  if (read(park[0], &c, 1) < 0) return NULL;
  return NULL;
}

static int attack_prlimit_idle(void) {
  struct rlimit low = {GIB, RLIM_INFINITY}, high = {RLIM_INFINITY, RLIM_INFINITY};
  pthread_t t;
  char *p;

  drop_to_nobody();
  if (pipe(park) != 0 || pthread_create(&t, NULL, idle, NULL) != 0) return 4;
  while (!atomic_load(&idle_tid)) sched_yield(); /* polls a value the thread sets */
  say("lower_rc", prlimit(atomic_load(&idle_tid), RLIMIT_AS, &low, NULL));
  p = mmap(NULL, 4 * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  say("small_mapped", p != MAP_FAILED);
  say("raise_rc", prlimit(atomic_load(&idle_tid), RLIMIT_AS, &high, NULL));
  p = mmap(NULL, 2 * GIB, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  say("mapped_2g", p != MAP_FAILED);
  if (p != MAP_FAILED) {
    for (unsigned long off = 0; off < 300 * MIB; off += PAGE) p[off] = 1;
    say("touched_mib", 300);
  }
  return 0;
}

static char *_Atomic race_ptr;
static char *race_addr;
static atomic_int race_stop;

static void *toggler(void *arg) {
  (void)arg;
  while (!atomic_load(&race_ptr)) sched_yield();
  race_addr = atomic_load(&race_ptr);
  while (!atomic_load(&race_stop)) {
    void *s = mmap(race_addr, PAGE, PROT_READ, MAP_SHARED | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
    if (s != MAP_FAILED) munmap(s, PAGE);
  }
  return NULL;
}

static int attack_noreplace_race(int rounds) {
  long ok = 0, eexist = 0, other = 0, escaped = 0;
  pthread_t t;

  drop_to_nobody();
  /* A free 1 GiB range (reserved, then released: counted once, before the race); the
   * toggler starts on it (spinning until race_addr is set) only once its stack is mapped. */
  atomic_store(&race_stop, 0);
  if (pthread_create(&t, NULL, toggler, NULL) != 0) return 4;
  {
    char *r = mmap(NULL, GIB, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (r == MAP_FAILED) return 4;
    munmap(r, GIB);
    atomic_store(&race_ptr, r);
  }
  race_addr = atomic_load(&race_ptr);
  for (int i = 0; i < rounds; ++i) {
    unsigned long before = heap();
    char *p = mmap(race_addr, GIB, PROT_NONE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_FIXED_NOREPLACE, -1, 0);
    if (p == MAP_FAILED) {
      if (errno == EEXIST)
        ++eexist;
      else
        ++other;
      continue;
    }
    ++ok;
    if (heap() - before < GIB) ++escaped; /* mapped, not counted */
    munmap(p, GIB);
  }
  atomic_store(&race_stop, 1);
  pthread_join(t, NULL);
  say("rounds", rounds);
  say("mapped", ok);
  say("eexist", eexist);
  say("other_errors", other);
  say("escaped", escaped);
  return 0;
}

int main(int argc, char **argv) {
  if (argc < 2) return 2;
  if (!strcmp(argv[1], "prset-mm")) return attack_prset_mm();
  if (!strcmp(argv[1], "prlimit-idle")) return attack_prlimit_idle();
  if (!strcmp(argv[1], "noreplace-race")) return attack_noreplace_race(argc > 2 ? atoi(argv[2]) : 2000);
  printf("unknown_mode=%s\n", argv[1]);
  return 2;
}
