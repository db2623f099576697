// SPDX-License-Identifier: Apache-2.0
/* alloc MIB: allocates MIB mebibytes in 1 MiB malloc blocks and touches every page, then
 * prints "allocated MIB MiB" and exits 0. The packaging test runs it natively, under a quota
 * it fits in, and under one it does not (where the installed sandbox must kill it). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char *volatile last; /* the blocks escape here, so the compiler keeps them */

int main(int argc, char **argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: alloc MIB\n");
    return 2;
  }
  const long mib = strtol(argv[1], NULL, 10);
  for (long i = 0; i < mib; i++) {
    char *block = malloc(1 << 20);
    if (!block) {
      fprintf(stderr, "alloc: out of memory after %ld MiB\n", i);
      return 1;
    }
    memset(block, 1, 1 << 20); /* never freed: the heap only grows */
    last = block;
  }
  printf("allocated %ld MiB\n", mib);
  return 0;
}
