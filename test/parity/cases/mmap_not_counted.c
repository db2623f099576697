// SPDX-License-Identifier: Apache-2.0
/* File-backed and shared mappings never count, private or not. */
#include "tl.h"

int main(void) {
  pid_t self = getpid();
  unsigned long before;
  void *p;
  int fd;

  tl_make_file("data", 0644);
  fd = open("data", O_RDWR);
  if (ftruncate(fd, 8 * TL_PAGE) != 0) return 1;
  SHOWL("register(self)", tl_register(self));
  before = tl_heap(self);
  p = mmap(NULL, 4 * TL_PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
  printf("file MAP_PRIVATE %s heap +%lu\n", p != MAP_FAILED ? "ok" : "failed", tl_heap(self) - before);
  p = mmap(NULL, 4 * TL_PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  printf("file MAP_SHARED %s heap +%lu\n", p != MAP_FAILED ? "ok" : "failed", tl_heap(self) - before);
  p = mmap(NULL, 4 * TL_PAGE, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  printf("anonymous MAP_SHARED %s heap +%lu\n", p != MAP_FAILED ? "ok" : "failed", tl_heap(self) - before);
  p = mmap(NULL, 4 * TL_PAGE, PROT_READ, MAP_PRIVATE, 12345, 0);
  printf("MAP_PRIVATE on a bad fd %s heap +%lu\n", p == MAP_FAILED ? tl_errname(errno) : "ok",
         tl_heap(self) - before);
  p = mmap(NULL, 4 * TL_PAGE, PROT_READ, MAP_ANONYMOUS, -1, 0);
  printf("MAP_ANONYMOUS without PRIVATE/SHARED %s heap +%lu\n", p == MAP_FAILED ? tl_errname(errno) : "ok",
         tl_heap(self) - before);
  tl_show_fetch("self", self);
  return 0;
}
