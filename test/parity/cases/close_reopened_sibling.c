// SPDX-License-Identifier: Apache-2.0
/*
 * Thread X (registered) closes fd N and then blocks in read(); the main thread opens a
 * file (tracked) and gets N in the same table. A third registered thread Z then closes N,
 * and the main thread opens N again and closes it itself. Every close succeeds and
 * subtracts 1 from its caller's node: X's close is long over (the supervisor settles
 * whether X shares the table only when such a close needs it).
 */
#include "opens_wait.h"

/* ow_closer_main, registered first (and one open of its own) so that its close shows. */
static void *registered_closer(void *arg) {
  struct ow_closer *c = arg;
  char ch;

  if (tl_register(tl_gettid()) != 0) printf("thread: register failed\n");
  if (open("f", O_RDONLY) < 0) printf("thread: open failed\n"); /* its node: files=1 */
  __atomic_store_n(&c->tid, tl_gettid(), __ATOMIC_SEQ_CST);
  tl_gate_wait(&c->go);
  if (close(c->fd) != 0) printf("thread: close failed %s\n", tl_errname(errno));
  if (read(c->hold, &ch, 1) < 0) return NULL;
  return NULL;
}

static pthread_t close_in_registered_thread(struct ow_closer *c) {
  pthread_t t = tl_thread(registered_closer, c);

  while (!__atomic_load_n(&c->tid, __ATOMIC_SEQ_CST)) sched_yield();
  c->watch = ow_syscall_file(c->tid);
  tl_gate_open(&c->go);
  ow_wait_in_syscall(c->watch, SYS_read, c->hold);
  return t;
}

int main(void) {
  pid_t self = getpid();
  int fds[4], hold[2], n, r;
  struct ow_closer c[2];
  pthread_t t[2];

  tl_make_file("f", 0644);
  close_range(3, ~0U, 0);
  if (pipe(hold) != 0) return 1;
  for (int i = 0; i < 2; i++) {
    memset(&c[i], 0, sizeof(c[i]));
    tl_gate_init(&c[i].go);
    c[i].hold = hold[0];
  }
  SHOWL("register(self)", tl_register(self));
  for (int i = 0; i < 4; i++) fds[i] = open("f", O_RDONLY);
  tl_show_fetch("self after 4 opens", self);
  n = fds[3];
  c[0].fd = n;
  t[0] = close_in_registered_thread(&c[0]);
  printf("thread X closed N\n");
  tl_show_fetch("self", self);
  tl_show_fetch("X", c[0].tid);
  r = open("f", O_RDONLY);
  printf("main: open made N again: %s\n", r == n ? "yes" : "no");
  tl_show_fetch("self", self);
  c[1].fd = n;
  t[1] = close_in_registered_thread(&c[1]);
  printf("thread Z closed N\n");
  tl_show_fetch("self", self);
  tl_show_fetch("Z", c[1].tid);
  r = open("f", O_RDONLY);
  printf("main: open made N again: %s\n", r == n ? "yes" : "no");
  tl_show_fetch("self", self);
  SHOWL("main: close(N)", close(n));
  tl_show_fetch("self", self);
  if (write(hold[1], "xx", 2) != 2) return 1;
  for (int i = 0; i < 2; i++) pthread_join(t[i], NULL);
  tl_show_fetch("self at the end", self);
  return 0;
}
