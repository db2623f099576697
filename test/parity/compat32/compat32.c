// SPDX-License-Identifier: Apache-2.0
/* parity-cflags: -m32 */
/*
 * The i386 entry points (kernel-only: `test/parity/run --cases test/parity/compat32
 * --kernel-only`): fetch fills the 12-byte 32-bit record, resource_cap sign-extends
 * -1, and mmap2/brk count as on x86-64.
 */
#include "tl.h"

int main(void) {
  unsigned char buf[16];
  struct per_proc_resource r;
  pid_t self = getpid(), child;

  printf("sizeof(struct per_proc_resource) = %zu\n", sizeof(struct per_proc_resource));
  SHOWL("register(self)", tl_register(self));
  tl_anon(3 * TL_PAGE);
  memset(buf, 0xa5, sizeof(buf));
  SHOWL("fetch(buf, self)", tl_fetch(buf, self));
  memcpy(&r, buf, sizeof(r));
  printf("pid %s heap=%lu files=%lu, bytes 12-15: %02x %02x %02x %02x\n", r.pid == self ? "self" : "other",
         r.heapsize, r.openfile_count, buf[12], buf[13], buf[14], buf[15]);
  SHOWL("cap(self, -1, -1)", tl_cap(self, -1, -1));
  SHOWL("cap(self, -1, -1) again (still unset)", tl_cap(self, -1, -1));
  SHOWL("cap(self, -2, -1)", tl_cap(self, -2, -1));

  tl_make_file("f", 0644);
  child = tl_fork();
  if (child == 0) {
    tl_register(getpid());
    SHOWL("child cap(self, -1, 2)", tl_cap(getpid(), -1, 2));
    open("f", O_RDONLY);
    open("f", O_RDONLY);
    printf("child alive at 2 files\n");
    fflush(stdout);
    open("f", O_RDONLY);
    printf("must not be printed\n");
    _exit(0);
  }
  tl_reap("child", child);
  tl_show_fetch("self", self);
  return 0;
}
