// SPDX-License-Identifier: Apache-2.0
/* fetch() fills exactly 24 bytes: pid, 4 zero bytes of padding, heapsize, openfile_count. */
#include "tl.h"

int main(void) {
  unsigned char buf[40];
  pid_t self = getpid();
  int pid, i;

  SHOWL("register(self)", tl_register(self));
  memset(buf, 0xa5, sizeof(buf));
  SHOWL("fetch(buf, self)", tl_fetch(buf, self));
  memcpy(&pid, buf, sizeof(pid));
  printf("pid field is %s\n", pid == self ? "self" : "other");
  printf("padding:");
  for (i = 4; i < 8; i++) printf(" %02x", buf[i]);
  printf("\nheapsize and openfile_count:");
  for (i = 8; i < 24; i++) printf(" %02x", buf[i]);
  printf("\nbytes after the struct:");
  for (i = 24; i < 40; i++) printf(" %02x", buf[i]);
  printf("\n");
  return 0;
}
