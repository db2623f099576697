// SPDX-License-Identifier: Apache-2.0
/*
 * A path or an open_how in a page the target cannot read from user mode but the kernel can
 * (PROT_WRITE only, PROT_EXEC only): the open works and counts. PROT_NONE is EFAULT.
 */
#include <linux/openat2.h>

#include "tl.h"

static char *page_with(const char *text, int prot) {
  char *p = mmap(NULL, TL_PAGE, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);

  if (p == MAP_FAILED) exit(1);
  strcpy(p, text);
  if (mprotect(p, TL_PAGE, prot) != 0) exit(1);
  return p;
}

int main(void) {
  pid_t self = getpid();
  char *w = page_with("f", PROT_WRITE), *x = page_with("f", PROT_EXEC), *n = page_with("f", PROT_NONE);
  struct open_how *how;
  char *cross;
  int fd;

  tl_make_file("f", 0644);
  tl_make_file("ff", 0644);
  SHOWL("register(self)", tl_register(self));
  fd = open(w, O_RDONLY);
  printf("open(path in a PROT_WRITE page) %s\n", fd >= 0 ? "ok" : tl_errname(errno));
  fd = openat(AT_FDCWD, x, O_RDONLY);
  printf("openat(path in a PROT_EXEC page) %s\n", fd >= 0 ? "ok" : tl_errname(errno));
  SHOWL("open(path in a PROT_NONE page)", open(n, O_RDONLY));
  tl_show_fetch("self", self);
  /* An open_how in a PROT_WRITE page, and one in a PROT_EXEC page. */
  how = mmap(NULL, TL_PAGE, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (how == MAP_FAILED) return 1;
  how->flags = O_RDONLY;
  mprotect(how, TL_PAGE, PROT_WRITE);
  fd = (int)syscall(SYS_openat2, AT_FDCWD, "f", how, sizeof(*how));
  printf("openat2(open_how in a PROT_WRITE page) %s\n", fd >= 0 ? "ok" : tl_errname(errno));
  mprotect(how, TL_PAGE, PROT_EXEC);
  fd = (int)syscall(SYS_openat2, AT_FDCWD, "f", how, sizeof(*how));
  printf("openat2(open_how in a PROT_EXEC page) %s\n", fd >= 0 ? "ok" : tl_errname(errno));
  mprotect(how, TL_PAGE, PROT_NONE);
  SHOWL("openat2(open_how in a PROT_NONE page)", syscall(SYS_openat2, AT_FDCWD, "f", how, sizeof(*how)));
  /* A path that starts in a readable page and ends in a PROT_EXEC one, then a PROT_NONE one. */
  cross = mmap(NULL, 2 * TL_PAGE, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (cross == MAP_FAILED) return 1;
  cross[TL_PAGE - 1] = 'f';
  cross[TL_PAGE] = 'f';
  cross[TL_PAGE + 1] = 0;
  mprotect(cross + TL_PAGE, TL_PAGE, PROT_EXEC);
  fd = open(cross + TL_PAGE - 1, O_RDONLY);
  printf("open(path across into a PROT_EXEC page) %s\n", fd >= 0 ? "ok" : tl_errname(errno));
  mprotect(cross + TL_PAGE, TL_PAGE, PROT_NONE);
  SHOWL("open(path across into a PROT_NONE page)", open(cross + TL_PAGE - 1, O_RDONLY));
  tl_show_fetch("self", self);
  return 0;
}
