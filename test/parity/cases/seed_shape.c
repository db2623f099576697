// SPDX-License-Identifier: Apache-2.0
/*
 * The seed's own test: the parent registers and caps itself, forks; the child registers
 * and caps itself at 280 MiB / 5 files, then per iteration mallocs 30 MiB and opens a
 * file. The parent polls fetch until the child is gone and reports the iteration at
 * which it died: the 6th open is over 5 files, so iteration 6.
 */
#include "tl.h"

int main(void) {
  volatile long *it = tl_shared_page();
  struct per_proc_resource r;
  struct tl_gate ready;
  pid_t self = getpid(), child;
  long polls = 0;

  tl_make_file("f", 0644);
  tl_gate_init(&ready);
  SHOWL("register(self)", tl_register(self));
  SHOWL("cap(self, 1024, 64)", tl_cap(self, 1024, 64));
  child = tl_fork();
  if (child == 0) {
    pid_t me = getpid();

    if (tl_register(me) != 0 || tl_cap(me, 280, 5) != 0) _exit(1);
    tl_gate_open(&ready);
    for (long i = 1; i <= 10; i++) {
      char *p;

      it[0] = i;
      p = malloc(30 * TL_MIB);
      if (p) p[0] = 1;
      open("f", O_RDONLY);
      it[1] = i;
    }
    _exit(0);
  }
  tl_gate_wait(&ready);
  while (tl_fetch(&r, child) == 0) {
    if (++polls == 60000) { /* a minute: the quota did not work */
      printf("child still alive after 60 s\n");
      kill(child, SIGKILL);
      break;
    }
    usleep(1000);
  }
  printf("fetch(child) stopped working: %s\n", tl_errname(errno));
  tl_reap("child", child);
  printf("child died in iteration %ld, after completing %ld\n", it[0], it[1]);
  tl_show_fetch("parent", self);
  return 0;
}
