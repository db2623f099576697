// SPDX-License-Identifier: Apache-2.0
/*
 * O_CREAT and O_TRUNC opens in a full fd table fail with EMFILE before any lookup: no file
 * is created, none is truncated, nothing is counted.
 */
#include <linux/openat2.h>
#include <sys/resource.h>

#include "tl.h"

static void show_file(const char *name) {
  struct stat st;

  if (stat(name, &st) == 0)
    printf("%s exists, %ld bytes\n", name, (long)st.st_size);
  else
    printf("%s: %s\n", name, tl_errname(errno));
}

int main(void) {
  pid_t self = getpid();
  struct rlimit full = {4, 64}, roomy = {64, 64};
  struct open_how how = {.flags = O_CREAT | O_WRONLY, .mode = 0644};
  int fd;

  fd = open("data", O_CREAT | O_WRONLY | O_TRUNC, 0644);
  if (fd < 0 || write(fd, "12345", 5) != 5) return 1;
  close(fd);
  close_range(3, ~0U, 0);
  fd = open("data", O_RDONLY); /* fd 3: the table (limit 4) is now full */
  SHOWL("register(self)", tl_register(self));
  SHOWL("setrlimit(RLIMIT_NOFILE, 4)", setrlimit(RLIMIT_NOFILE, &full));
  SHOW(open("new1", O_CREAT | O_WRONLY, 0644));
  SHOW(open("new2", O_CREAT | O_EXCL | O_RDWR, 0600));
  SHOW(creat("new3", 0644));
  SHOW(openat(AT_FDCWD, "data", O_WRONLY | O_TRUNC));
  SHOW(open("data", O_RDWR | O_CREAT | O_TRUNC, 0644));
  SHOWL("openat2(new4, O_CREAT)", syscall(SYS_openat2, AT_FDCWD, "new4", &how, sizeof(how)));
  SHOW(open("missing/x", O_CREAT | O_WRONLY, 0644));
  SHOW(open("", O_CREAT | O_WRONLY, 0644));
  SHOW(open("data", O_RDONLY | O_DIRECTORY | O_CREAT, 0644));
  show_file("new1");
  show_file("new2");
  show_file("new3");
  show_file("new4");
  show_file("data");
  tl_show_fetch("self", self);
  SHOWL("setrlimit(RLIMIT_NOFILE, 64)", setrlimit(RLIMIT_NOFILE, &roomy));
  fd = open("new1", O_CREAT | O_EXCL | O_WRONLY, 0644);
  printf("open(new1, O_CREAT|O_EXCL) after the limit is raised: %s\n", fd >= 0 ? "ok" : tl_errname(errno));
  show_file("new1");
  tl_show_fetch("self", self);
  return 0;
}
