/* SPDX-License-Identifier: Apache-2.0 */
/* opens_wait.h: a helper for the parity cases of issue 12's file rows. */
#ifndef OPENS_WAIT_H
#define OPENS_WAIT_H

#include "tl.h"

/* /proc/self/task/<tid>/syscall, opened once: reading it again from offset 0 shows the
 * thread's state afresh, so waiting allocates no descriptor. */
static inline int ow_syscall_file(pid_t tid) {
  char path[64];

  snprintf(path, sizeof(path), "/proc/self/task/%d/syscall", tid);
  return open(path, O_RDONLY | O_CLOEXEC);
}

/* Spins (yielding) until the thread is inside system call `nr` with `fd` as its first
 * argument: a condition, not a delay. The fd matters: the thread's earlier wait on its
 * gate is a read() too, and a thread not yet woken from it must not pass for one that has
 * closed its fd and gone on to the next read. */
static inline void ow_wait_in_syscall(int file, long nr, int fd) {
  char buf[128];

  for (;;) {
    ssize_t n = pread(file, buf, sizeof(buf) - 1, 0);

    if (n > 0) {
      char *end = NULL;

      buf[n] = 0;
      if (buf[0] != 'r' && strtol(buf, &end, 10) == nr && *end == ' ' &&
          strtoul(end + 1, NULL, 16) == (unsigned long)fd)
        return;
    }
    sched_yield();
  }
}

/* A thread that closes `fd` when told to, then blocks in read() until the end. */
struct ow_closer {
  int fd;
  struct tl_gate go; /* main -> thread: close now */
  int hold;          /* read end it then blocks on */
  pid_t tid;
  int watch; /* main's ow_syscall_file() of the thread */
};

static inline void *ow_closer_main(void *arg) {
  struct ow_closer *c = arg;
  char ch;

  __atomic_store_n(&c->tid, tl_gettid(), __ATOMIC_SEQ_CST);
  tl_gate_wait(&c->go);
  if (close(c->fd) != 0) printf("thread: close failed %s\n", tl_errname(errno));
  if (read(c->hold, &ch, 1) < 0) return NULL;
  return NULL;
}

/* Starts the thread, lets it close its fd, and returns once it is blocked in read(). */
static inline pthread_t ow_close_in_thread(struct ow_closer *c) {
  pthread_t t = tl_thread(ow_closer_main, c);

  while (!__atomic_load_n(&c->tid, __ATOMIC_SEQ_CST)) sched_yield();
  c->watch = ow_syscall_file(c->tid);
  tl_gate_open(&c->go);
  ow_wait_in_syscall(c->watch, SYS_read, c->hold);
  return t;
}

#endif
