// SPDX-License-Identifier: Apache-2.0
/* heap_hog: allocates 10 MiB per step, forever, and touches every page of it.
 *
 * Shows the heap quota. Each malloc(10 MiB) is a private anonymous mmap of 10 MiB + 4 KiB,
 * which the sandbox adds to the program's heapsize; above the quota the whole process is
 * killed with SIGKILL and `sandbox run` prints one line naming the pid, the quota, the usage
 * and the limit.
 *
 *   build/bin/sandbox run --heap-quota 100M -- build/bin/heap_hog
 *
 * Expected: steps 1..9 are printed (about 90 MiB); step 10 would take the heap past 100 MiB,
 * so the process is killed before it prints it; the exit status is 137 (128 + SIGKILL).
 * Without a quota it runs until malloc fails (or the OOM killer steps in); stop it with ^C,
 * or give a step limit as the first argument: `heap_hog 5`. */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define STEP_BYTES (10UL << 20)

int main(int argc, char **argv) {
  unsigned long max_steps = argc > 1 ? strtoul(argv[1], NULL, 10) : 0;
  setvbuf(stdout, NULL, _IOLBF, 0);
  for (unsigned long step = 1; max_steps == 0 || step <= max_steps; ++step) {
    char *block = malloc(STEP_BYTES);
    if (block == NULL) {
      fprintf(stderr, "heap_hog: malloc failed at step %lu\n", step);
      return 1;
    }
    memset(block, 0xa5, STEP_BYTES); /* touch it: really use the memory */
    printf("heap_hog: step %lu: %lu MiB allocated\n", step, step * (STEP_BYTES >> 20));
  }
  return 0;
}
