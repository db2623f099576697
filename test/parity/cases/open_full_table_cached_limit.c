// SPDX-License-Identifier: Apache-2.0
/*
 * RLIMIT_NOFILE lowered after the process's tracked opens (which the supervisor answers
 * from a limit it keeps between opens): by setrlimit, or by prlimit from a sibling thread
 * naming its own tid. The next open in the now full table fails with EMFILE before any
 * lookup -- no file created, nothing counted -- and succeeds again once a slot is free.
 */
#include <pthread.h>
#include <sys/resource.h>

#include "tl.h"

static void *lower_by_thread(void *arg) {
  struct rlimit four = {4, 64};

  (void)arg;
  SHOWL("prlimit(own tid, RLIMIT_NOFILE, 4)", prlimit(tl_gettid(), RLIMIT_NOFILE, &four, NULL));
  return NULL;
}

static void run(const char *how, const char *name) {
  pid_t self = getpid();
  struct rlimit four = {4, 64};
  pthread_t t;
  int fd;

  close_range(3, ~0U, 0);
  SHOWL("register(self)", tl_register(self));
  fd = open("f", O_RDONLY); /* tracked, fd 3 */
  SHOW(close(fd));
  fd = open("f", O_RDONLY); /* fd 3 again: the table (0-3) is full once the limit is 4 */
  printf("files=%lu\n", tl_files(self));
  if (strcmp(how, "thread") == 0) {
    if (pthread_create(&t, NULL, lower_by_thread, NULL) != 0 || pthread_join(t, NULL) != 0) _exit(3);
  } else {
    SHOWL("setrlimit(RLIMIT_NOFILE, 4)", setrlimit(RLIMIT_NOFILE, &four));
  }
  SHOWL("open(new, O_CREAT) in the full table", open(name, O_CREAT | O_WRONLY, 0644));
  SHOWL("access(new)", access(name, F_OK));
  printf("files=%lu\n", tl_files(self));
  SHOW(close(fd));
  fd = open(name, O_CREAT | O_WRONLY, 0644);
  printf("open(new, O_CREAT) with fd 3 free: %s\n", fd == 3 ? "fd 3" : tl_errname(errno));
  printf("files=%lu\n", tl_files(self));
}

int main(void) {
  pid_t pid;

  tl_make_file("f", 0644);
  pid = tl_fork();
  if (pid == 0) {
    run("setrlimit", "new_s");
    _exit(0);
  }
  tl_reap("setrlimit child", pid);
  pid = tl_fork();
  if (pid == 0) {
    run("thread", "new_t");
    _exit(0);
  }
  tl_reap("thread child", pid);
  return 0;
}
