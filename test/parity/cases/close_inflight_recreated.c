// SPDX-License-Identifier: Apache-2.0
/*
 * A thread closes fd N and then blocks in read(); N is made again without an open the
 * tracker sees (dup2, dup3, F_DUPFD, an O_PATH open) or with a tracked open, and the main
 * thread closes it. Every one of those closes succeeds and subtracts 1: the first thread's
 * close is long over.
 */
#include "opens_wait.h"

int main(void) {
  pid_t self = getpid();
  int fds[10], hold[2], src, n, r;
  struct ow_closer c[5];
  pthread_t t[5];
  static const char *how[5] = {"dup2", "dup3", "F_DUPFD", "open(O_PATH)", "open"};

  tl_make_file("f", 0644);
  close_range(3, ~0U, 0);
  if (pipe(hold) != 0) return 1;
  for (int i = 0; i < 5; i++) {
    memset(&c[i], 0, sizeof(c[i]));
    tl_gate_init(&c[i].go);
    c[i].hold = hold[0];
  }
  src = open("f", O_RDONLY);
  SHOWL("register(self)", tl_register(self));
  for (int i = 0; i < 10; i++) fds[i] = open("f", O_RDONLY);
  tl_show_fetch("self after 10 opens", self);
  for (int i = 0; i < 5; i++) {
    n = fds[9 - i]; /* highest first: N is then the lowest free fd */
    c[i].fd = n;
    t[i] = ow_close_in_thread(&c[i]);
    printf("thread closed N\n");
    tl_show_fetch("self", self);
    r = -1;
    switch (i) {
      case 0: r = dup2(src, n); break;
      case 1: r = dup3(src, n, O_CLOEXEC); break;
      case 2: r = fcntl(src, F_DUPFD, n); break;
      case 3: r = open("f", O_PATH); break;
      case 4: r = open("f", O_RDONLY); break;
    }
    printf("%s made N again: %s\n", how[i], r == n ? "yes" : "no");
    tl_show_fetch("self", self);
    SHOWL("main: close(N)", close(n));
    tl_show_fetch("self", self);
  }
  if (write(hold[1], "xxxxx", 5) != 5) return 1;
  for (int i = 0; i < 5; i++) pthread_join(t[i], NULL);
  tl_show_fetch("self at the end", self);
  return 0;
}
