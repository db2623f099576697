// SPDX-License-Identifier: Apache-2.0
/*
 * A pool of threads that reuse fd numbers: each closes its file and then waits in read();
 * the numbers are taken again by pipe() and dup() and closed by the main thread, then
 * again by dup2() after two more workers closed theirs. Every close subtracts: nothing
 * drifts upward.
 */
#include "opens_wait.h"

int main(void) {
  pid_t self = getpid();
  int hold[2], fds[4], p[2];
  struct ow_closer c[4];
  pthread_t t[4];

  tl_make_file("f", 0644);
  close_range(3, ~0U, 0);
  if (pipe(hold) != 0) return 1;
  for (int i = 0; i < 4; i++) {
    memset(&c[i], 0, sizeof(c[i]));
    tl_gate_init(&c[i].go);
    c[i].hold = hold[0];
  }
  SHOWL("register(self)", tl_register(self));
  for (int i = 0; i < 4; i++) fds[i] = open("f", O_RDONLY);
  tl_show_fetch("self after 4 opens", self);
  for (int i = 0; i < 2; i++) { /* the two highest */
    c[i].fd = fds[3 - i];
    t[i] = ow_close_in_thread(&c[i]);
  }
  tl_show_fetch("self after two workers' closes", self);
  if (pipe(p) != 0) return 1;
  printf("pipe took both numbers again: %s\n", (p[0] == fds[2] && p[1] == fds[3]) ? "yes" : "no");
  SHOWL("close(pipe read end)", close(p[0]));
  SHOWL("close(pipe write end)", close(p[1]));
  tl_show_fetch("self", self);
  for (int i = 2; i < 4; i++) { /* the two lowest */
    c[i].fd = fds[3 - i];
    t[i] = ow_close_in_thread(&c[i]);
  }
  tl_show_fetch("self after two more workers' closes", self);
  SHOWL("dup(hold[0]) took the lowest", dup(hold[0]) == fds[0]);
  SHOWL("dup2(lowest, second)", dup2(fds[0], fds[1]) == fds[1]);
  SHOWL("close(lowest)", close(fds[0]));
  SHOWL("close(second)", close(fds[1]));
  SHOWL("close(second) again", close(fds[1]));
  tl_show_fetch("self", self);
  if (write(hold[1], "xxxx", 4) != 4) return 1;
  for (int i = 0; i < 4; i++) pthread_join(t[i], NULL);
  tl_show_fetch("self at the end", self);
  return 0;
}
