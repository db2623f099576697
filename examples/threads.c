// SPDX-License-Identifier: Apache-2.0
/* threads: 8 threads that each allocate with anonymous mmap and open/close files N times.
 *
 * Shows leader/thread attribution and exact counting under concurrency. Every change made
 * by any thread is added to the process's node (the thread group leader), so with the
 * process tracked, fetch(getpid()) at the end reports all threads' work:
 *   heapsize      = the threads' own mmaps (8 x N x 64 KiB) + the thread stacks glibc mmaps
 *                   (8 x (256 KiB + a 4 KiB guard page)) + whatever libc itself allocates;
 *   openfile_count = 8: every thread closes what it opens, except one file it keeps open.
 *
 *   build/bin/sandbox run --track -- build/bin/threads [N]        (the sandbox registers it)
 *   build/bin/sandbox run -- build/bin/threads -r [N]             (it registers itself)
 *   build/bin/sandbox run --heap-quota 8M -- build/bin/threads 1000   (killed: over 8 MiB)
 *
 * N defaults to 100. -r makes the program call register(getpid()) itself, as it must on the
 * patched kernel. Without either, fetch fails with EINVAL (not registered); natively on a
 * kernel without the patch, syscall 451/452 are something else entirely (see tracker_limiter.h). */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "tracker_limiter.h"

#define NTHREADS 8
#define MAP_BYTES (64UL << 10)
#define STACK_BYTES (256UL << 10)

struct worker {
  pthread_t thread;
  unsigned long iterations;
  unsigned long mapped_bytes; /* results, written by the worker */
  unsigned long opens;
  unsigned long closes;
  int kept_fd;
  int error; /* errno of the first failure, 0 if none */
};

/* No malloc and no stdio in here: the counts stay exactly the program's own calls. */
static void *work(void *arg) {
  struct worker *w = arg;
  for (unsigned long i = 0; i < w->iterations; ++i) {
    char *p = mmap(NULL, MAP_BYTES, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) {
      w->error = errno;
      return NULL;
    }
    memset(p, 1, MAP_BYTES);
    w->mapped_bytes += MAP_BYTES;
    munmap(p, MAP_BYTES); /* the heap count never goes down: this does not subtract */

    int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
      w->error = errno;
      return NULL;
    }
    ++w->opens;
    if (i + 1 == w->iterations) {
      w->kept_fd = fd; /* the last one stays open: 1 file per thread at the end */
    } else {
      close(fd);
      ++w->closes;
    }
  }
  return NULL;
}

int main(int argc, char **argv) {
  unsigned long iterations = 100;
  int self_register = 0;
  for (int i = 1; i < argc; ++i) {
    if (strcmp(argv[i], "-r") == 0) {
      self_register = 1;
    } else {
      iterations = strtoul(argv[i], NULL, 10);
    }
  }
  if (iterations == 0) iterations = 1;
  setvbuf(stdout, NULL, _IOLBF, 0);

  if (self_register && tl_register(getpid()) != 0) {
    printf("threads: register(%d): %s\n", (int)getpid(), strerror(errno));
  }

  static struct worker workers[NTHREADS];
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  pthread_attr_setstacksize(&attr, STACK_BYTES);
  for (int t = 0; t < NTHREADS; ++t) {
    workers[t].iterations = iterations;
    workers[t].kept_fd = -1;
    int err = pthread_create(&workers[t].thread, &attr, work, &workers[t]);
    if (err != 0) {
      fprintf(stderr, "threads: pthread_create: %s\n", strerror(err));
      return 1;
    }
  }
  pthread_attr_destroy(&attr);

  unsigned long mapped = 0, opens = 0, closes = 0;
  for (int t = 0; t < NTHREADS; ++t) {
    pthread_join(workers[t].thread, NULL);
    if (workers[t].error != 0) {
      printf("threads: thread %d failed: %s\n", t, strerror(workers[t].error));
    }
    mapped += workers[t].mapped_bytes;
    opens += workers[t].opens;
    closes += workers[t].closes;
  }
  printf(
      "threads: %d threads x %lu iterations: mapped %lu KiB, %lu opens, %lu closes, %lu files still open\n",
      NTHREADS, iterations, mapped >> 10, opens, closes, opens - closes);
  printf("threads: expected heapsize >= %lu bytes (own mmaps %lu + stacks %d x %lu), openfile_count %lu\n",
         mapped + NTHREADS * (STACK_BYTES + 4096), mapped, NTHREADS, STACK_BYTES + 4096, opens - closes);

  struct per_proc_resource stats;
  memset(&stats, 0, sizeof stats);
  if (tl_fetch(&stats, getpid()) == 0) {
    printf("threads: fetch(%d): heapsize %lu bytes (%lu KiB), openfile_count %lu\n", (int)stats.pid,
           stats.heapsize, stats.heapsize >> 10, stats.openfile_count);
  } else if (errno == EINVAL) {
    printf("threads: fetch(%d): %s: not tracked (run with `sandbox run --track`, or pass -r)\n",
           (int)getpid(), strerror(errno));
  } else {
    printf("threads: fetch(%d): %s: the tracker ABI is not at syscall %d here (run under `sandbox run`)\n",
           (int)getpid(), strerror(errno), TL_NR_FETCH);
  }
  for (int t = 0; t < NTHREADS; ++t) {
    if (workers[t].kept_fd >= 0) close(workers[t].kept_fd);
  }
  return 0;
}
