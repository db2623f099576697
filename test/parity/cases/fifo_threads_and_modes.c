// SPDX-License-Identifier: Apache-2.0
/*
 * FIFO opens that wait for a partner in the same process (two threads, both tracked), and
 * the ones that do not wait: O_RDWR, a non-blocking reader, a non-blocking writer without
 * a reader (ENXIO, not counted).
 */
#include "tl.h"

static void *writer(void *arg) {
  int w = open((const char *)arg, O_WRONLY);

  if (w >= 0) {
    if (write(w, "y", 1) != 1) printf("write failed\n");
    close(w);
  }
  return (void *)(long)(w >= 0);
}

int main(void) {
  pid_t self = getpid();
  pthread_t t;
  void *ok;
  int r, rw, nb;
  char c = 0;

  if (mkfifo("fifo", 0600) != 0) return 1;
  SHOWL("register(self)", tl_register(self));
  SHOW(open("fifo", O_WRONLY | O_NONBLOCK));
  nb = open("fifo", O_RDONLY | O_NONBLOCK);
  printf("non-blocking reader %s\n", nb >= 0 ? "ok" : tl_errname(errno));
  SHOWL("close(non-blocking reader)", close(nb));
  rw = open("fifo", O_RDWR);
  printf("O_RDWR %s\n", rw >= 0 ? "ok" : tl_errname(errno));
  SHOWL("close(O_RDWR)", close(rw));
  tl_show_fetch("self", self);
  t = tl_thread(writer, "fifo");
  r = open("fifo", O_RDONLY);
  printf("reader open %s\n", r >= 0 ? "ok" : tl_errname(errno));
  printf("read %c\n", r >= 0 && read(r, &c, 1) == 1 ? c : '-');
  pthread_join(t, &ok);
  printf("writer thread opened: %s\n", ok ? "yes" : "no");
  SHOWL("close(reader)", close(r));
  tl_show_fetch("self", self);
  return 0;
}
