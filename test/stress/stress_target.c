// SPDX-License-Identifier: Apache-2.0
/* stress_target: the programs the stress driver (stress.py) runs under the sandbox.
 * Built without sanitizers: it runs inside the filter under test. Every mode logs its own
 * successful calls (per thread, in memory, no allocation while it works) and reports them
 * on stdout as "key=value" lines; the driver compares them with the supervisor's node.
 *
 *   threads N SECONDS  N threads mmap (anonymous, private) and open/close /dev/null at once
 *                      for SECONDS; checks its own node (fetch, 452) grew by exactly the sum.
 *   forkstorm N        N children, each registers itself (451), opens a file, checks its node
 *                      and exits; after each wait() fetch on the child must be EINVAL.
 *   worker N           N threads allocate and open/close until a line arrives on stdin; then
 *                      reports its sums and waits for a second line before it exits.
 *
 * Handshakes with the driver are lines on stdin/stdout (read and write are not notified).
 * The five calls use the default ABI numbers (examples/tracker_limiter.h). */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "tracker_limiter.h"

#define PAGE 4096UL
#define MAX_THREADS 256
#define KEEP_OPEN 4 /* files each thread leaves open at the end */

struct counts {
  uint64_t mmaps, mmap_bytes, mmap_failed;
  uint64_t opens, closes, open_failed;
  int kept[KEEP_OPEN];
  int nkept;
  char pad[64];
};

static struct counts per_thread[MAX_THREADS];
static pthread_barrier_t start_line;
static atomic_int stop_flag;
static double deadline;

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts); /* vDSO: no system call, not notified */
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void die(const char *what) {
  fprintf(stderr, "stress_target: %s: %s\n", what, strerror(errno));
  exit(2);
}

static int fetch_self(struct per_proc_resource *r) {
  return (int)syscall(TL_NR_FETCH, r, getpid());
}

/* One round of work: an anonymous mapping of a random length (counted page-aligned, as the
 * supervisor counts it), then an open, and a close of every other file opened. */
static void work_once(struct counts *c, unsigned *seed, uint64_t round) {
  const size_t len = 1 + (size_t)(rand_r(seed) % (3 * PAGE));
  void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) {
    c->mmap_failed++;
  } else {
    c->mmaps++;
    c->mmap_bytes += (len + PAGE - 1) & ~(PAGE - 1);
    munmap(p, len); /* not seen by the supervisor: the heap never decreases */
  }
  const int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    c->open_failed++;
    return;
  }
  c->opens++;
  if (round % 2 == 1 && c->nkept < KEEP_OPEN) {
    c->kept[c->nkept++] = fd; /* left open: the node's count must show it */
  } else if (close(fd) == 0) {
    c->closes++;
  }
}

static void *timed_worker(void *arg) {
  struct counts *c = arg;
  unsigned seed = (unsigned)(c - per_thread) * 7919u + 1;
  pthread_barrier_wait(&start_line);
  for (uint64_t round = 0; now() < deadline; ++round) work_once(c, &seed, round);
  pthread_barrier_wait(&start_line);
  return NULL;
}

static void *stoppable_worker(void *arg) {
  struct counts *c = arg;
  unsigned seed = (unsigned)(c - per_thread) * 104729u + 3;
  pthread_barrier_wait(&start_line);
  for (uint64_t round = 0; !atomic_load(&stop_flag); ++round) work_once(c, &seed, round);
  return NULL;
}

static void sum_counts(int n, struct counts *total) {
  memset(total, 0, sizeof *total);
  for (int i = 0; i < n; ++i) {
    total->mmaps += per_thread[i].mmaps;
    total->mmap_bytes += per_thread[i].mmap_bytes;
    total->mmap_failed += per_thread[i].mmap_failed;
    total->opens += per_thread[i].opens;
    total->closes += per_thread[i].closes;
    total->open_failed += per_thread[i].open_failed;
  }
}

static void wait_line(void) {
  char buf[64];
  if (fgets(buf, sizeof buf, stdin) == NULL) exit(3); /* the driver went away */
}

static int threads_mode(int n, double seconds) {
  pthread_t tids[MAX_THREADS];
  struct per_proc_resource before, after;
  pthread_barrier_init(&start_line, NULL, (unsigned)n + 1);
  for (int i = 0; i < n; ++i) {
    if (pthread_create(&tids[i], NULL, timed_worker, &per_thread[i]) != 0) die("pthread_create");
  }
  /* Every thread exists and waits at the barrier: from here until the second barrier, the
   * only counted calls are the workers' own. */
  if (fetch_self(&before) != 0) die("fetch before");
  printf("ready\n");
  fflush(stdout);
  wait_line();
  const double start = now();
  deadline = start + seconds;
  pthread_barrier_wait(&start_line);
  pthread_barrier_wait(&start_line);
  const double elapsed = now() - start;
  if (fetch_self(&after) != 0) die("fetch after");
  for (int i = 0; i < n; ++i) pthread_join(tids[i], NULL);
  struct counts t;
  sum_counts(n, &t);
  printf("threads=%d\nseconds=%.2f\nmmaps=%lu\nmmap_failed=%lu\nopens=%lu\ncloses=%lu\nopen_failed=%lu\n", n,
         elapsed, t.mmaps, t.mmap_failed, t.opens, t.closes, t.open_failed);
  printf("heap_delta=%lu\nheap_sum=%lu\nfiles_delta=%ld\nfiles_sum=%ld\n", after.heapsize - before.heapsize,
         t.mmap_bytes, (long)after.openfile_count - (long)before.openfile_count, (long)(t.opens - t.closes));
  printf("done\n");
  fflush(stdout);
  wait_line();
  return after.heapsize - before.heapsize == t.mmap_bytes &&
                 (long)after.openfile_count - (long)before.openfile_count == (long)(t.opens - t.closes)
             ? 0
             : 1;
}

static int forkstorm_mode(int n) {
  int ok = 0, bad = 0, stale = 0;
  pid_t *pids = calloc((size_t)n, sizeof *pids);
  if (pids == NULL) die("calloc");
  printf("ready\n");
  fflush(stdout);
  wait_line();
  const double start = now();
  /* Forked in waves of 50 at once, every child reaped before the check on its pid. */
  for (int base = 0; base < n; base += 50) {
    const int end = base + 50 < n ? base + 50 : n;
    for (int i = base; i < end; ++i) {
      const pid_t pid = fork();
      if (pid < 0) die("fork");
      if (pid == 0) {
        struct per_proc_resource r;
        if (syscall(TL_NR_REGISTER, getpid()) != 0) _exit(10);
        const int fd = open("/dev/null", O_RDONLY);
        if (fd < 0) _exit(11);
        if (syscall(TL_NR_FETCH, &r, getpid()) != 0) _exit(12);
        _exit(r.openfile_count == 1 && r.pid == getpid() ? 0 : 13);
      }
      pids[i] = pid;
    }
    for (int i = base; i < end; ++i) {
      int status = 0;
      if (waitpid(pids[i], &status, 0) != pids[i]) die("waitpid");
      if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
        ++ok;
      } else {
        ++bad;
        fprintf(stderr, "stress_target: child %d: status 0x%x\n", pids[i], status);
      }
      struct per_proc_resource r;
      errno = 0;
      if (syscall(TL_NR_FETCH, &r, pids[i]) != -1 || errno != EINVAL) {
        ++stale;
        fprintf(stderr, "stress_target: child %d: fetch after wait: %s\n", pids[i], strerror(errno));
      }
    }
  }
  printf("children=%d\nchildren_ok=%d\nchildren_bad=%d\nstale_after_wait=%d\nseconds=%.2f\n", n, ok, bad,
         stale, now() - start);
  printf("done\n");
  fflush(stdout);
  wait_line();
  free(pids);
  return ok == n && stale == 0 ? 0 : 1;
}

static int worker_mode(int n) {
  pthread_t tids[MAX_THREADS];
  struct per_proc_resource before;
  pthread_barrier_init(&start_line, NULL, (unsigned)n + 1);
  for (int i = 0; i < n; ++i) {
    if (pthread_create(&tids[i], NULL, stoppable_worker, &per_thread[i]) != 0) die("pthread_create");
  }
  if (fetch_self(&before) != 0) die("fetch");
  printf("pid=%d\nheap_before=%lu\nfiles_before=%lu\nready\n", getpid(), before.heapsize,
         before.openfile_count);
  fflush(stdout);
  wait_line(); /* go */
  pthread_barrier_wait(&start_line);
  wait_line(); /* stop */
  atomic_store(&stop_flag, 1);
  for (int i = 0; i < n; ++i) pthread_join(tids[i], NULL);
  struct counts t;
  sum_counts(n, &t);
  printf(
      "mmaps=%lu\nheap_sum=%lu\nopens=%lu\ncloses=%lu\nfiles_sum=%ld\nmmap_failed=%lu\nopen_failed=%"
      "lu\ndone\n",
      t.mmaps, t.mmap_bytes, t.opens, t.closes, (long)(t.opens - t.closes), t.mmap_failed, t.open_failed);
  fflush(stdout);
  wait_line(); /* exit */
  return 0;
}

int main(int argc, char **argv) {
  /* stdio buffers set up front: a lazy malloc of stdout's buffer inside a measured window
   * would be counted on the node. */
  static char outbuf[8192];
  setvbuf(stdout, outbuf, _IOFBF, sizeof outbuf);
  setvbuf(stdin, NULL, _IONBF, 0);
  printf("start\n");
  fflush(stdout);
  wait_line(); /* the driver has counted the supervisor's descriptors */
  if (argc == 4 && strcmp(argv[1], "threads") == 0) {
    const int n = atoi(argv[2]);
    if (n < 1 || n > MAX_THREADS) return 2;
    return threads_mode(n, atof(argv[3]));
  }
  if (argc == 3 && strcmp(argv[1], "forkstorm") == 0) return forkstorm_mode(atoi(argv[2]));
  if (argc == 3 && strcmp(argv[1], "worker") == 0) {
    const int n = atoi(argv[2]);
    if (n < 1 || n > MAX_THREADS) return 2;
    return worker_mode(n);
  }
  fprintf(stderr, "usage: stress_target threads N SECONDS | forkstorm N | worker N\n");
  return 2;
}
