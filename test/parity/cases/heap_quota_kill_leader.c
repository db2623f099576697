// SPDX-License-Identifier: Apache-2.0
/* A process capped at 1 MiB of heap: reaching the quota is fine, going over is SIGKILL. */
#include "tl.h"

int main(void) {
  volatile long *done = tl_shared_page();
  pid_t child = tl_fork();

  if (child == 0) {
    tl_register(getpid());
    tl_cap(getpid(), 1, -1);
    for (long i = 1; i <= 8; i++) {
      tl_anon(256 * 1024); /* 4 x 256 KiB = 1 MiB exactly */
      done[0] = i;
    }
    done[1] = 1;
    _exit(0);
  }
  tl_reap("child", child);
  printf("256 KiB mappings completed: %ld\n", done[0]);
  printf("ran past the loop: %s\n", done[1] ? "yes" : "no");
  tl_show_fetch("child after it died", child);
  return 0;
}
