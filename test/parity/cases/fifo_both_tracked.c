// SPDX-License-Identifier: Apache-2.0
/* A FIFO's reader and writer, both tracked, in two processes: both opens proceed. */
#include "tl.h"

int main(void) {
  pid_t self = getpid(), writer;
  int r;
  char c = 0;

  if (mkfifo("fifo", 0600) != 0) return 1;
  SHOWL("register(self)", tl_register(self));
  writer = tl_fork();
  if (writer == 0) {
    int w;

    if (tl_register(getpid()) != 0) _exit(2);
    w = open("fifo", O_WRONLY);
    if (w < 0 || write(w, "x", 1) != 1) _exit(3);
    if (tl_files(getpid()) != 1) _exit(4);
    close(w);
    _exit(tl_files(getpid()) == 0 ? 0 : 5);
  }
  r = open("fifo", O_RDONLY);
  printf("reader open %s\n", r >= 0 ? "ok" : tl_errname(errno));
  printf("read %c\n", r >= 0 && read(r, &c, 1) == 1 ? c : '-');
  tl_show_fetch("self", self);
  tl_reap("writer", writer);
  SHOWL("close(reader)", close(r));
  tl_show_fetch("self", self);
  return 0;
}
