// SPDX-License-Identifier: Apache-2.0
/* A forked child is not tracked until it registers; its changes never reach the parent's node. */
#include "tl.h"

int main(void) {
  pid_t self = getpid(), child;
  struct tl_gate registered, looked;

  tl_make_file("f", 0644);
  tl_gate_init(&registered);
  tl_gate_init(&looked);
  SHOWL("register(self)", tl_register(self));
  child = tl_fork();
  if (child == 0) {
    pid_t me = getpid();

    tl_anon(8 * TL_PAGE);
    open("f", O_RDONLY);
    tl_show_fetch("child before registering", me);
    SHOWL("child register(self)", tl_register(me));
    tl_anon(2 * TL_PAGE);
    open("f", O_RDONLY);
    tl_show_fetch("child", me);
    fflush(stdout);
    tl_gate_open(&registered);
    tl_gate_wait(&looked);
    _exit(0);
  }
  tl_gate_wait(&registered);
  tl_show_fetch("parent (unchanged by the child)", self);
  tl_show_fetch("child from the parent", child);
  tl_gate_open(&looked);
  tl_reap("child", child);
  tl_show_fetch("child after wait", child);
  return 0;
}
