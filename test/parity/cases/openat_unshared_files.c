// SPDX-License-Identifier: Apache-2.0
/*
 * unshare(CLONE_FILES) in a thread, then openat(dirfd): the dirfd is the calling thread's,
 * not the process's. One fd number names directory "a" in the main thread's table and
 * directory "b" in the thread's; a number closed only in the thread's table is EBADF there.
 */
#include <sched.h>

#include "tl.h"

static int dirnum, spare;
static struct tl_gate go, done;

static void *thread_b(void *arg) {
  int d, x;

  (void)arg;
  SHOWL("thread: unshare(CLONE_FILES)", unshare(CLONE_FILES));
  tl_gate_open(&done);
  tl_gate_wait(&go); /* the main thread has opened "a" at number dirnum in its table */
  d = open("b", O_RDONLY | O_DIRECTORY);
  printf("thread: b opened at the same number: %s\n", d == dirnum ? "yes" : "no");
  x = openat(dirnum, "only_in_b", O_RDONLY);
  printf("thread: openat(N, only_in_b) %s\n", x >= 0 ? "ok" : tl_errname(errno));
  SHOWL("thread: openat(N, only_in_a)", openat(dirnum, "only_in_a", O_RDONLY));
  SHOWL("thread: close(spare)", close(spare));
  SHOWL("thread: openat(spare, only_in_a)", openat(spare, "only_in_a", O_RDONLY));
  SHOWL("thread: close(x)", close(x));
  fflush(stdout);
  tl_gate_open(&done);
  return NULL;
}

int main(void) {
  pid_t self = getpid();
  pthread_t t;
  int a, y;

  mkdir("a", 0755);
  mkdir("b", 0755);
  tl_make_file("a/only_in_a", 0644);
  tl_make_file("b/only_in_b", 0644);
  tl_gate_init(&go);
  tl_gate_init(&done);
  spare = open("a", O_RDONLY | O_DIRECTORY);
  SHOWL("register(self)", tl_register(self));
  t = tl_thread(thread_b, NULL);
  tl_gate_wait(&done); /* the thread has its own table */
  a = open("a", O_RDONLY | O_DIRECTORY);
  dirnum = a;
  tl_gate_open(&go);
  tl_gate_wait(&done);
  pthread_join(t, NULL);
  y = openat(dirnum, "only_in_a", O_RDONLY);
  printf("main: openat(N, only_in_a) %s\n", y >= 0 ? "ok" : tl_errname(errno));
  SHOWL("main: openat(N, only_in_b)", openat(dirnum, "only_in_b", O_RDONLY));
  y = openat(spare, "only_in_a", O_RDONLY);
  printf("main: openat(spare, only_in_a) %s\n", y >= 0 ? "ok" : tl_errname(errno));
  tl_show_fetch("self", self);
  return 0;
}
