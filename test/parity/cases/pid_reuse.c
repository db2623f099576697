// SPDX-License-Identifier: Apache-2.0
/*
 * A pid reused by a new process is a new task: the old node is gone, the new one starts
 * at zero. The reuse is forced with clone3(set_tid) (needs CAP_SYS_ADMIN or
 * CAP_CHECKPOINT_RESTORE; both sides run as root).
 */
#include <linux/sched.h>

#include "tl.h"

int main(void) {
  struct tl_gate go, go2;
  struct clone_args ca;
  pid_t a, b, want;

  tl_gate_init(&go);
  tl_gate_init(&go2);
  a = tl_fork();
  if (a == 0) {
    tl_gate_wait(&go);
    tl_anon(4 * TL_PAGE);
    _exit(0);
  }
  SHOWL("register(A)", tl_register(a));
  tl_gate_open(&go);
  tl_reap("A", a);
  tl_show_fetch("A after wait", a);

  want = a;
  memset(&ca, 0, sizeof(ca));
  ca.exit_signal = SIGCHLD;
  ca.set_tid = (uint64_t)(uintptr_t)&want;
  ca.set_tid_size = 1;
  fflush(stdout);
  b = (pid_t)syscall(SYS_clone3, &ca, sizeof(ca));
  if (b == 0) {
    tl_gate_wait(&go2);
    tl_anon(TL_PAGE);
    _exit(0);
  }
  if (b < 0) {
    printf("clone3(set_tid) failed: %s\n", tl_errname(errno));
    return 0;
  }
  printf("B got A's pid: %s\n", b == a ? "yes" : "no");
  tl_show_fetch("B (A's pid reused)", b);
  SHOWL("deregister(B)", tl_deregister(b));
  SHOWL("register(B)", tl_register(b));
  tl_show_fetch("B", b);
  tl_gate_open(&go2);
  tl_reap("B", b);
  tl_show_fetch("B after wait", b);
  return 0;
}
