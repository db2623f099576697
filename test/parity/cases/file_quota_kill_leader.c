// SPDX-License-Identifier: Apache-2.0
/* A process capped at 3 open files: closes make room, the 4th concurrent open is SIGKILL. */
#include "tl.h"

int main(void) {
  volatile long *done = tl_shared_page();
  pid_t child;

  tl_make_file("f", 0644);
  child = tl_fork();
  if (child == 0) {
    int fds[8];

    tl_register(getpid());
    tl_cap(getpid(), -1, 3);
    fds[0] = open("f", O_RDONLY);
    done[0] = 1;
    fds[1] = open("f", O_RDONLY);
    done[0] = 2;
    fds[2] = open("f", O_RDONLY);
    done[0] = 3;
    close(fds[1]);
    done[0] = 4;
    fds[1] = open("f", O_RDONLY);
    done[0] = 5;
    dup(fds[0]); /* not counted */
    done[0] = 6;
    fds[3] = open("f", O_RDONLY); /* 4 > 3 */
    done[0] = 7;
    _exit(0);
  }
  tl_reap("child", child);
  printf("steps completed: %ld (7 would mean the 4th open survived)\n", done[0]);
  tl_show_fetch("child after it died", child);
  return 0;
}
