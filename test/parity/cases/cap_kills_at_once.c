// SPDX-License-Identifier: Apache-2.0
/* resource_cap on a node that is already over kills at once, the caller's own or another's. */
#include "tl.h"

int main(void) {
  volatile long *done = tl_shared_page();
  struct tl_gate go, ready, never;
  pid_t child;

  tl_make_file("f", 0644);
  /* 1. a process caps itself below what it already has */
  child = tl_fork();
  if (child == 0) {
    tl_register(getpid());
    tl_anon(2 * TL_MIB);
    done[0] = 1;
    tl_cap(getpid(), 1, -1);
    done[0] = 2; /* must not run */
    _exit(0);
  }
  tl_reap("self-capping child", child);
  printf("self-capping child got past the cap: %s\n", done[0] == 2 ? "yes" : "no");

  /* 2. a parent caps a child that holds 3 files at 2 */
  tl_gate_init(&go);
  tl_gate_init(&ready);
  tl_gate_init(&never);
  child = tl_fork();
  if (child == 0) {
    tl_gate_wait(&go);
    open("f", O_RDONLY);
    open("f", O_RDONLY);
    open("f", O_RDONLY);
    tl_gate_open(&ready);
    tl_gate_wait(&never);
    _exit(0);
  }
  SHOWL("register(child)", tl_register(child));
  tl_gate_open(&go);
  tl_gate_wait(&ready);
  tl_show_fetch("child", child);
  SHOWL("cap(child, -1, 5) not over", tl_cap(child, -1, 5));
  tl_show_fetch("child still there", child);
  SHOWL("reset(child)", tl_reset(child));
  SHOWL("cap(child, -1, 2) over", tl_cap(child, -1, 2));
  tl_reap("child", child);
  tl_show_fetch("child", child);
  return 0;
}
