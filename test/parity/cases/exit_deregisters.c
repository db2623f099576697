// SPDX-License-Identifier: Apache-2.0
/* A node goes when its process exits; once wait() returned, every call on that pid says so. */
#include "tl.h"

int main(void) {
  struct tl_gate go;
  pid_t child;

  tl_gate_init(&go);
  child = tl_fork();
  if (child == 0) {
    tl_gate_wait(&go);
    tl_anon(TL_PAGE);
    _exit(7);
  }
  SHOWL("register(child)", tl_register(child));
  tl_gate_open(&go);
  tl_reap("child", child);
  tl_show_fetch("child after wait", child);
  SHOWL("deregister(child) after wait", tl_deregister(child));
  SHOWL("register(child) after wait", tl_register(child));
  SHOWL("cap(child) after wait", tl_cap(child, 1, 1));
  SHOWL("reset(child) after wait", tl_reset(child));

  /* the same after a SIGKILL from outside */
  child = tl_fork();
  if (child == 0) {
    for (;;) pause();
  }
  SHOWL("register(child2)", tl_register(child));
  tl_show_fetch("child2", child);
  kill(child, SIGKILL);
  tl_reap("child2", child);
  tl_show_fetch("child2 after wait", child);
  return 0;
}
