// SPDX-License-Identifier: Apache-2.0
/* close: EBADF counts nothing; never below zero; any successful close subtracts. */
#include "tl.h"

int main(void) {
  pid_t self = getpid();
  int pre[3], a, d, p[2];

  tl_make_file("f", 0644);
  for (int i = 0; i < 3; i++) pre[i] = open("f", O_RDONLY); /* before registering */
  SHOWL("register(self)", tl_register(self));
  SHOW(close(-1));
  SHOW(close(12345));
  SHOW(close(INT32_MAX));
  tl_show_fetch("self", self);
  SHOWL("close(pre-registration fd 1)", close(pre[0]));
  tl_show_fetch("self (not below 0)", self);
  a = open("f", O_RDONLY);
  printf("open %s\n", a >= 0 ? "ok" : "failed");
  tl_show_fetch("self", self);
  SHOWL("close(pre-registration fd 2)", close(pre[1]));
  tl_show_fetch("self (any close subtracts)", self);
  SHOWL("close(pre-registration fd 2) again", close(pre[1]));
  SHOWL("close(pre-registration fd 3)", close(pre[2]));
  tl_show_fetch("self", self);
  d = open("f", O_RDONLY);
  d = open("f", O_RDONLY);
  if (pipe(p) != 0) return 1;
  tl_show_fetch("self after 2 opens and a pipe", self);
  SHOWL("close(pipe read end)", close(p[0]));
  SHOWL("close(pipe write end)", close(p[1]));
  tl_show_fetch("self", self);
  SHOWL("close(opened fd)", close(d));
  SHOWL("close(opened fd) again", close(d));
  tl_show_fetch("self", self);
  SHOWL("close(a)", close(a));
  tl_show_fetch("self", self);
  return 0;
}
