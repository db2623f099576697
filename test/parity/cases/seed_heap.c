// SPDX-License-Identifier: Apache-2.0
/*
 * The seed's shape with the heap quota doing the killing: the child caps itself at
 * 280 MiB and mallocs 30 MiB per iteration (each an mmap of 30 MiB + 4 KiB), so the
 * 10th malloc (about 300 MiB) is the one over.
 */
#include "tl.h"

int main(void) {
  volatile long *it = tl_shared_page();
  pid_t child = tl_fork();

  if (child == 0) {
    pid_t me = getpid();

    if (tl_register(me) != 0 || tl_cap(me, 280, -1) != 0) _exit(1);
    for (long i = 1; i <= 12; i++) {
      char *p;

      it[0] = i;
      p = malloc(30 * TL_MIB);
      if (p) p[0] = 1;
      it[1] = i;
    }
    _exit(0);
  }
  tl_reap("child", child);
  printf("child died in iteration %ld, after completing %ld\n", it[0], it[1]);
  tl_show_fetch("child after wait", child);
  return 0;
}
