// SPDX-License-Identifier: Apache-2.0
/* seed_test: the tracker & limiter seed's own test, as a program that runs unchanged on the
 * patched kernel and under `sandbox run`: only plain syscall(451..455) (tracker_limiter.h).
 *
 * The parent registers itself and forks. The child registers itself, caps itself at
 * 280 MiB of heap and 5 files (resource_cap), then loops: malloc 30 MiB and touch it, open
 * /dev/null, print the iteration and its own fetch. The parent polls fetch(child) every
 * 50 ms until it fails, then waits for the child and prints how it ended.
 *
 *   build/bin/sandbox run -- build/bin/seed_test
 *
 * Expected (the contract's prediction): iteration i has i files open and about i x 30 MiB of
 * heap, so the 6th open makes 6 files > 5 and the child is killed with SIGKILL at iteration
 * 6, before it prints it (the heap quota would only be crossed at iteration 10, 300 MiB).
 * Once the parent's wait returned, fetch(child) is EINVAL. Optional arguments:
 *   seed_test [HEAP_MIB FILES [ITERATIONS]]     (defaults 280 5 10)
 * With the ABI moved (policies/abi-moved.json), build with -DTL_NR_BASE=1000. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "tracker_limiter.h"

#define CHUNK_BYTES (30UL << 20)

static void sleep_ms(long ms) {
  struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
  while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
  }
}

static int child_main(volatile int *iteration, long heap_mib, long files, int iterations) {
  pid_t self = getpid();
  if (tl_register(self) != 0) {
    printf("child %d: register: %s\n", (int)self, strerror(errno));
    return 1;
  }
  if (tl_resource_cap(self, heap_mib, files) != 0) {
    printf("child %d: resource_cap(%ld MiB, %ld files): %s\n", (int)self, heap_mib, files, strerror(errno));
    return 1;
  }
  printf("child %d: registered, capped at %ld MiB / %ld files\n", (int)self, heap_mib, files);
  for (int i = 1; i <= iterations; ++i) {
    *iteration = i;
    char *block = malloc(CHUNK_BYTES);
    if (block == NULL) {
      printf("child %d: iteration %d: malloc failed\n", (int)self, i);
      return 1;
    }
    memset(block, 0x5a, CHUNK_BYTES);
    int fd = open("/dev/null", O_RDONLY);
    if (fd < 0) {
      printf("child %d: iteration %d: open: %s\n", (int)self, i, strerror(errno));
      return 1;
    }
    struct per_proc_resource stats;
    memset(&stats, 0, sizeof stats);
    if (tl_fetch(&stats, self) != 0) {
      printf("child %d: iteration %d: fetch: %s\n", (int)self, i, strerror(errno));
      return 1;
    }
    printf("child %d: iteration %d: heapsize %lu bytes (%lu MiB), openfile_count %lu\n", (int)self, i,
           stats.heapsize, stats.heapsize >> 20, stats.openfile_count);
    sleep_ms(100); /* let the parent's 50 ms polls see each step */
  }
  printf("child %d: survived %d iterations\n", (int)self, iterations);
  return 0;
}

int main(int argc, char **argv) {
  long heap_mib = argc > 2 ? strtol(argv[1], NULL, 10) : 280;
  long files = argc > 2 ? strtol(argv[2], NULL, 10) : 5;
  int iterations = argc > 3 ? atoi(argv[3]) : 10;
  setvbuf(stdout, NULL, _IOLBF, 0);

  pid_t parent = getpid();
  if (tl_register(parent) != 0) {
    if (errno != ENFILE) {
      fprintf(stderr,
              "seed_test: register(%d) = %s: the tracker ABI is not at syscall %d here; run it under "
              "`sandbox run` or on the patched kernel\n",
              (int)parent, strerror(errno), TL_NR_REGISTER);
      return 2;
    }
    printf("parent %d: already registered (sandbox run --track?)\n", (int)parent);
  } else {
    printf("parent %d: registered\n", (int)parent);
  }

  /* The child's current iteration, shared with the parent. A shared mapping is not heap. */
  volatile int *iteration = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (iteration == MAP_FAILED) {
    perror("seed_test: mmap");
    return 1;
  }

  pid_t child = fork();
  if (child < 0) {
    perror("seed_test: fork");
    return 1;
  }
  if (child == 0) _exit(child_main(iteration, heap_mib, files, iterations));

  /* Poll: first until the child is registered, then until fetch fails (it exited). */
  int seen = 0, polls = 0;
  struct per_proc_resource last;
  memset(&last, 0, sizeof last);
  for (;;) {
    struct per_proc_resource stats;
    if (tl_fetch(&stats, child) == 0) {
      if (!seen || stats.heapsize != last.heapsize || stats.openfile_count != last.openfile_count) {
        printf("parent %d: fetch(%d): heapsize %lu MiB, openfile_count %lu\n", (int)parent, (int)child,
               stats.heapsize >> 20, stats.openfile_count);
      }
      seen = 1;
      last = stats;
      ++polls;
    } else if (seen) {
      printf("parent %d: fetch(%d): %s after %d polls: the child is gone\n", (int)parent, (int)child,
             strerror(errno), polls);
      break;
    } else {
      siginfo_t info;
      memset(&info, 0, sizeof info);
      if (waitid(P_PID, (id_t)child, &info, WEXITED | WNOHANG | WNOWAIT) == 0 && info.si_pid == child) {
        break; /* it ended before we ever saw it registered */
      }
    }
    sleep_ms(50);
  }

  int status = 0;
  if (waitpid(child, &status, 0) != child) {
    perror("seed_test: waitpid");
    return 1;
  }
  if (WIFSIGNALED(status)) {
    printf("parent %d: child %d was killed by %s at iteration %d\n", (int)parent, (int)child,
           WTERMSIG(status) == SIGKILL ? "SIGKILL" : strsignal(WTERMSIG(status)), *iteration);
  } else {
    printf("parent %d: child %d exited with status %d after iteration %d\n", (int)parent, (int)child,
           WEXITSTATUS(status), *iteration);
  }

  struct per_proc_resource stats;
  if (tl_fetch(&stats, child) != 0) {
    printf("parent %d: fetch(%d) after wait: %s (%d)\n", (int)parent, (int)child, strerror(errno), errno);
  } else {
    printf("parent %d: fetch(%d) after wait still succeeds (unexpected)\n", (int)parent, (int)child);
  }
  if (tl_fetch(&stats, parent) == 0) {
    printf("parent %d: own heapsize %lu bytes, openfile_count %lu\n", (int)parent, stats.heapsize,
           stats.openfile_count);
  }
  if (tl_deregister(parent) != 0) {
    printf("parent %d: deregister: %s\n", (int)parent, strerror(errno));
  }
  return WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL ? 0 : 1;
}
