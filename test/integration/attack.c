/* attack: the trust tests' hostile target (test/integration/trust_test.cpp). One case per
 * argv[1]; each prints key=value lines with what it achieved. Runs inside the filter under
 * test, so never sanitizer-instrumented. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tracker_limiter.h"

static const char *res(long rc) {
  if (rc == 0) return "0";
  switch (errno) {
    case EINVAL: return "EINVAL";
    case ESRCH: return "ESRCH";
    case ENFILE: return "ENFILE";
    case EPERM: return "EPERM";
    default: return strerror(errno);
  }
}

/* The five operations on someone else's pid: what another tenant's ABI can do to it. */
static int abi_on(pid_t pid) {
  struct per_proc_resource st;
  printf("register=%s\n", res(tl_register(pid)));
  printf("fetch=%s\n", res(tl_fetch(&st, pid)));
  printf("cap=%s\n", res(tl_resource_cap(pid, 0, 0)));
  printf("reset=%s\n", res(tl_resource_reset(pid)));
  printf("deregister=%s\n", res(tl_deregister(pid)));
  return 0;
}

/* A grandchild orphaned (its parent exits; it is reparented to the subreaper) registers
 * itself: still in the job's scope. The main process waits for its answer on a pipe. */
static int orphan(void) {
  int p[2];
  if (pipe(p) != 0) return 3;
  pid_t mid = fork();
  if (mid == 0) {
    pid_t g = fork();
    if (g == 0) {
      close(p[0]);
      for (long i = 0; getppid() == mid && i < 100000000L; ++i) {
      } /* until the reparenting, not a timing guess */
      printf("orphan_register=%s\n", res(tl_register(getpid())));
      _exit(0); /* closes p[1]: the main process stops waiting */
    }
    _exit(0);
  }
  close(p[1]);
  char b;
  while (read(p[0], &b, 1) > 0) {
  }
  return 0;
}

/* Its real and effective uid: a setuid program shows whether it kept its privileges. */
static void ids(void) {
  printf("ruid=%d\neuid=%d\n", (int)getuid(), (int)geteuid());
}

/* A setuid-root target (euid 0) asks the run's socket to lift its own quota, then opens
 * files until something stops it. */
static int setuid_lift(void) {
  ids();
  const char *path = getenv("SANDBOX_SOCKET");
  int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  struct sockaddr_un a = {.sun_family = AF_UNIX};
  if (path) strncpy(a.sun_path, path, sizeof a.sun_path - 1);
  if (!path || connect(s, (struct sockaddr *)&a, sizeof a) != 0) {
    printf("connect=%s\n", strerror(errno));
  } else {
    char req[128], ans[512];
    int n = snprintf(req, sizeof req, "{\"op\":\"resource_reset\",\"pid\":%d}\n", (int)getpid());
    if (write(s, req, (size_t)n) != n) return 4;
    ssize_t got = read(s, ans, sizeof ans - 1);
    ans[got > 0 ? got : 0] = 0;
    ans[strcspn(ans, "\n")] = 0;
    printf("answer=%s\n", ans);
  }
  for (int i = 1;; ++i) {
    if (open("/dev/null", O_RDONLY) < 0) return 5;
    printf("opened=%d\n", i);
  }
}

int main(int argc, char **argv) {
  setvbuf(stdout, NULL, _IONBF, 0);
  const char *c = argc > 1 ? argv[1] : "";
  if (!strcmp(c, "abi-on") && argc > 2) return abi_on((pid_t)atoi(argv[2]));
  if (!strcmp(c, "abi-parent")) return abi_on(getppid());
  if (!strcmp(c, "orphan")) return orphan();
  if (!strcmp(c, "ids")) return ids(), 0;
  if (!strcmp(c, "setuid-lift")) return setuid_lift();
  printf("unknown_case=%s\n", c);
  return 2;
}
