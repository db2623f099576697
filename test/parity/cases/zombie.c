// SPDX-License-Identifier: Apache-2.0
/* A zombie (exited, not yet reaped) cannot be registered, capped or fetched. */
#include "tl.h"

int main(void) {
  struct tl_gate go;
  siginfo_t si;
  pid_t child;

  tl_gate_init(&go);
  child = tl_fork();
  if (child == 0) {
    tl_gate_wait(&go);
    _exit(3);
  }
  SHOWL("register(child)", tl_register(child));
  tl_gate_open(&go);
  memset(&si, 0, sizeof(si));
  SHOWL("waitid(WEXITED | WNOWAIT)", waitid(P_PID, child, &si, WEXITED | WNOWAIT));
  printf("child is a zombie with status %d\n", si.si_status);
  tl_show_fetch("zombie", child);
  SHOWL("register(zombie)", tl_register(child));
  SHOWL("deregister(zombie)", tl_deregister(child));
  SHOWL("cap(zombie, 1, 1)", tl_cap(child, 1, 1));
  SHOWL("reset(zombie)", tl_reset(child));
  tl_reap("child", child);
  return 0;
}
