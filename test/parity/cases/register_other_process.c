// SPDX-License-Identifier: Apache-2.0
/* A parent registers, watches and deregisters its child; deregistering stops the counting. */
#include "tl.h"

int main(void) {
  struct tl_gate go, done1, go2, done2;
  pid_t child;

  tl_make_file("f", 0644);
  tl_gate_init(&go);
  tl_gate_init(&done1);
  tl_gate_init(&go2);
  tl_gate_init(&done2);
  child = tl_fork();
  if (child == 0) {
    tl_gate_wait(&go);
    tl_anon(3 * TL_PAGE);
    open("f", O_RDONLY);
    open("f", O_RDONLY);
    tl_gate_open(&done1);
    tl_gate_wait(&go2);
    tl_anon(TL_PAGE);
    open("f", O_RDONLY);
    tl_gate_open(&done2);
    pause();
    _exit(0);
  }
  SHOWL("register(child)", tl_register(child));
  SHOWL("register(child) again", tl_register(child));
  tl_gate_open(&go);
  tl_gate_wait(&done1);
  tl_show_fetch("child", child);
  SHOWL("deregister(child)", tl_deregister(child));
  tl_show_fetch("child after deregister", child);
  tl_gate_open(&go2);
  tl_gate_wait(&done2);
  tl_show_fetch("child after more work", child);
  SHOWL("register(child) again", tl_register(child));
  tl_show_fetch("child (fresh node)", child);
  kill(child, SIGKILL);
  tl_reap("child", child);
  return 0;
}
