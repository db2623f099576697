// SPDX-License-Identifier: Apache-2.0
/*
 * prlimit() naming a thread that never made a call the supervisor saw: limits belong to
 * the thread group, so the new limit applies to the whole process at once (issue 12
 * row 13), in this process and in another one.
 */
#include <sys/resource.h>

#include "tl.h"

static struct tl_gate park;
static volatile pid_t idle_tid;

static void *idle(void *arg) {
  (void)arg;
  idle_tid = tl_gettid();
  tl_gate_wait(&park); /* a read: never notified */
  return NULL;
}

static void try_map(const char *what, size_t len) {
  pid_t self = getpid();
  unsigned long before = tl_heap(self);
  void *p = mmap(NULL, len, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);

  printf("%s: %s, heap +%lu\n", what, p == MAP_FAILED ? tl_errname(errno) : "ok", tl_heap(self) - before);
  if (p != MAP_FAILED) munmap(p, len);
}

int main(void) {
  struct rlimit low = {1024 * TL_MIB, 1024 * TL_MIB}, soft_low = {1024 * TL_MIB, RLIM_INFINITY},
                none = {RLIM_INFINITY, RLIM_INFINITY};
  struct tl_gate ready, go;
  pid_t self = getpid(), child;

  tl_gate_init(&park);
  /* Another process: its idle thread is named from here (first, while no limit is set). */
  tl_gate_init(&ready);
  tl_gate_init(&go);
  child = tl_fork();
  if (child == 0) {
    SHOWL("child register(self)", tl_register(getpid()));
    try_map("child mmap(2 GiB) before", 2048 * TL_MIB);
    tl_thread(idle, NULL);
    while (!idle_tid) sched_yield();
    if (write(ready.fd[1], (void *)&idle_tid, sizeof(idle_tid)) != sizeof(idle_tid)) exit(1);
    tl_gate_wait(&go);
    try_map("child mmap(2 GiB) after the parent's prlimit", 2048 * TL_MIB);
    try_map("child mmap(512 MiB)", 512 * TL_MIB);
    exit(0);
  }
  {
    pid_t tid = 0;

    if (read(ready.fd[0], &tid, sizeof(tid)) != sizeof(tid)) exit(1);
    SHOWL("prlimit(child's idle thread, RLIMIT_AS, 1 GiB)", prlimit(tid, RLIMIT_AS, &low, NULL));
  }
  tl_gate_open(&go);
  tl_reap("child", child);

  /* This process: its own idle thread. */
  SHOWL("register(self)", tl_register(self));
  idle_tid = 0;
  tl_thread(idle, NULL);
  while (!idle_tid) sched_yield(); /* polls a value the thread sets */
  try_map("mmap(2 GiB) before", 2048 * TL_MIB);
  SHOWL("prlimit(idle thread, RLIMIT_AS, soft 1 GiB)", prlimit(idle_tid, RLIMIT_AS, &soft_low, NULL));
  try_map("mmap(2 GiB) over the soft limit", 2048 * TL_MIB);
  try_map("mmap(512 MiB) within it", 512 * TL_MIB);
  SHOWL("prlimit(idle thread, RLIMIT_AS, unlimited)", prlimit(idle_tid, RLIMIT_AS, &none, NULL));
  try_map("mmap(2 GiB) after raising it", 2048 * TL_MIB);
  SHOWL("prlimit(idle thread, RLIMIT_AS, 1 GiB)", prlimit(idle_tid, RLIMIT_AS, &low, NULL));
  try_map("mmap(2 GiB) over the hard limit", 2048 * TL_MIB);

  tl_gate_open(&park);
  tl_show_fetch("self", self);
  return 0;
}
