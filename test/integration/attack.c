// SPDX-License-Identifier: Apache-2.0
/* attack: the trust tests' hostile target (test/integration/trust_test.cpp). One case per
 * argv[1]; each prints key=value lines with what it achieved. Runs inside the filter under
 * test, so never sanitizer-instrumented. */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/seccomp.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
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
    case EACCES: return "EACCES";
    case ENOSYS: return "ENOSYS";
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

/* Maps `mib` MiB of heap and touches every page; prints allocated=1 if it got there. */
static int alloc_mib(long mib) {
  const size_t len = (size_t)mib << 20;
  char *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) {
    printf("mmap=%s\n", res(-1));
    return 6;
  }
  for (size_t i = 0; i < len; i += 4096) p[i] = 1;
  printf("allocated=1\n");
  return 0;
}

/* Finding 1 of issue 20: the listeners stolen from the supervisor, answered here. */
static int stolen[16], nstolen;
static volatile int responding = 1;
static volatile long answered; /* notifications this process answered itself */
static void *respond(void *arg) {
  (void)arg;
  struct pollfd pf[16];
  for (int i = 0; i < nstolen; ++i) pf[i] = (struct pollfd){.fd = stolen[i], .events = POLLIN};
  while (responding) {
    if (poll(pf, (nfds_t)nstolen, 100) <= 0) continue;
    for (int i = 0; i < nstolen; ++i) {
      if (!(pf[i].revents & POLLIN)) continue;
      struct seccomp_notif n;
      memset(&n, 0, sizeof n);
      if (ioctl(stolen[i], SECCOMP_IOCTL_NOTIF_RECV, &n) != 0) continue;
      struct seccomp_notif_resp r = {.id = n.id, .flags = SECCOMP_USER_NOTIF_FLAG_CONTINUE};
      if (ioctl(stolen[i], SECCOMP_IOCTL_NOTIF_SEND, &r) == 0) ++answered;
    }
  }
  return NULL;
}

/* A same-uid target reads the supervisor's descriptors' links in /proc (readlink is no
 * notified call; listing the directory would be an open), copies its seccomp listeners
 * with pidfd_getfd(), stops it, answers its own notifications with "continue" and
 * allocates past its quota. Then (stolen or not) allocates anyway: the quota decides. */
static int steal_listener(pid_t sup, long mib) {
  char link[128], path[64];
  int fds[16], nfds = 0;
  const char *rl = "none";
  for (int fd = 0; fd < 64 && nfds < 16; ++fd) {
    snprintf(path, sizeof path, "/proc/%d/fd/%d", (int)sup, fd);
    const ssize_t n = readlink(path, link, sizeof link - 1);
    if (n < 0) {
      if (errno != ENOENT) rl = res(-1);
      continue;
    }
    rl = "0";
    link[n] = 0;
    if (strstr(link, "seccomp")) fds[nfds++] = fd;
  }
  printf("readlink=%s\nfound=%d\n", rl, nfds);
  const int pidfd = (int)syscall(SYS_pidfd_open, sup, 0);
  const char *got = pidfd < 0 ? res(-1) : "none";
  for (int i = 0; pidfd >= 0 && i < nfds; ++i) {
    const int fd = (int)syscall(SYS_pidfd_getfd, pidfd, fds[i], 0);
    if (fd >= 0)
      stolen[nstolen++] = fd, got = "0";
    else
      got = res(-1);
  }
  /* Without the links, by number: any descriptor of the supervisor's will do to show it. */
  for (int fd = 0; pidfd >= 0 && nfds == 0 && fd < 64; ++fd) {
    const int f = (int)syscall(SYS_pidfd_getfd, pidfd, fd, 0);
    if (f >= 0)
      got = "0";
    else if (errno != EBADF)
      got = res(-1);
  }
  printf("getfd=%s\n", got);
  if (nstolen == 0) return alloc_mib(mib);
  /* Whatever happens to us, the supervisor is continued: a helper waits for our end. */
  int p[2];
  if (pipe(p) != 0) return 3;
  if (fork() == 0) {
    char b;
    close(p[1]);
    while (read(p[0], &b, 1) > 0) {
    }
    kill(sup, SIGCONT);
    syscall(SYS_exit_group, 0);
  }
  pthread_t t;
  if (pthread_create(&t, NULL, respond, NULL) != 0) return 7;
  printf("stop=%s\n", res(kill(sup, SIGSTOP)));
  /* Until 50 notified calls in a row were ours to answer: the supervisor has stopped. */
  for (int row = 0, tries = 0; row < 50 && tries < 1000000; ++tries) {
    const long before = answered;
    void *q = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (q != MAP_FAILED) munmap(q, 4096);
    row = answered > before ? row + 1 : 0;
  }
  const int rc = alloc_mib(mib);
  kill(sup, SIGCONT);
  responding = 0;
  pthread_join(t, NULL);
  return rc;
}

/* Stops (or kills) the supervisor, then allocates: the calls must wait (or fail), never pass. */
static int signal_parent(int sig, long mib) {
  const pid_t sup = getppid();
  printf("ppid=%d\n", (int)sup);
  printf("signalled=%s\n", res(kill(sup, sig)));
  return alloc_mib(mib);
}

/* Finding 2 of issue 20: a process of the job that has made no notified call yet (its
 * parent is not its creator: clone(CLONE_PARENT), or a double fork) connects to the
 * control socket and asks to lift its job's and its creator's quotas. Then the creator
 * allocates. Between creation and the answers the helper makes only socket, connect,
 * write and read (none notified). */
/* `job` "auto": the creator's own job, as its `list` over the socket shows it (the creator is
 * known to the supervisor: it sees its own job only). */
static void own_job(const char *sock, char *job, size_t size) {
  int s = socket(AF_UNIX, SOCK_STREAM, 0);
  struct sockaddr_un a = {.sun_family = AF_UNIX};
  strncpy(a.sun_path, sock, sizeof a.sun_path - 1);
  char ans[4096];
  size_t got = 0;
  if (connect(s, (struct sockaddr *)&a, sizeof a) == 0 && write(s, "{\"op\":\"list\"}\n", 14) == 14) {
    for (ssize_t r; got < sizeof ans - 1 && (r = read(s, ans + got, sizeof ans - 1 - got)) > 0;) {
      got += (size_t)r;
      if (memchr(ans, '\n', got)) break;
    }
  }
  ans[got] = 0;
  const char *j = strstr(ans, "\"jobs\":[{\"job\":");
  snprintf(job, size, "%ld", j ? atol(j + strlen("\"jobs\":[{\"job\":")) : 0L);
  printf("own_job=%s\n", job);
  close(s);
}

static int lift_from_unknown(const char *how, const char *sock, const char *job, long mib) {
  const pid_t creator = getpid();
  char own[32];
  if (!strcmp(job, "auto")) own_job(sock, own, sizeof own), job = own;
  int p[2];
  if (pipe(p) != 0) return 3;
  pid_t child;
  if (!strcmp(how, "clone-parent")) {
    child = (pid_t)syscall(SYS_clone, CLONE_PARENT | SIGCHLD, 0, 0, 0, 0);
  } else { /* double fork */
    child = fork();
    if (child == 0) {
      const pid_t mid = getpid();
      if (fork() != 0) _exit(0);
      for (long i = 0; getppid() == mid && i < 1000000000L; ++i) {
      } /* until the reparenting, not a timing guess */
    }
  }
  if (child < 0) return 4;
  if (child == 0) {
    int s = socket(AF_UNIX, SOCK_STREAM, 0);
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    strncpy(a.sun_path, sock, sizeof a.sun_path - 1);
    char req[512], ans[1024];
    if (connect(s, (struct sockaddr *)&a, sizeof a) != 0) {
      int n = snprintf(ans, sizeof ans, "connect=%s\n", strerror(errno));
      (void)!write(1, ans, (size_t)n);
    } else {
      int n = snprintf(req, sizeof req,
                       "{\"op\":\"resource_reset\",\"job\":%s}\n"
                       "{\"op\":\"resource_cap\",\"job\":%s,\"replace\":true,\"heap_quota\":-1}\n"
                       "{\"op\":\"resource_reset\",\"pid\":%d}\n",
                       job, job, (int)creator);
      if (write(s, req, (size_t)n) != n) n = 0;
      size_t got = 0;
      int lines = 0;
      while (lines < 3 && got < sizeof ans - 1) {
        const ssize_t r = read(s, ans + got, sizeof ans - 1 - got);
        if (r <= 0) break;
        for (ssize_t i = 0; i < r; ++i) lines += ans[got + (size_t)i] == '\n';
        got += (size_t)r;
      }
      ans[got] = 0;
      char out[1200];
      char *line = strtok(ans, "\n");
      for (int i = 0; line; ++i, line = strtok(NULL, "\n")) {
        n = snprintf(out, sizeof out, "answer%d=%s\n", i, line);
        (void)!write(1, out, (size_t)n);
      }
    }
    (void)!write(p[1], "x", 1);
    syscall(SYS_exit_group, 0);
  }
  char b;
  if (read(p[0], &b, 1) != 1) return 6;
  return alloc_mib(mib);
}

int main(int argc, char **argv) {
  setvbuf(stdout, NULL, _IONBF, 0);
  const char *c = argc > 1 ? argv[1] : "";
  if (!strcmp(c, "abi-on") && argc > 2) return abi_on((pid_t)atoi(argv[2]));
  if (!strcmp(c, "abi-parent")) return abi_on(getppid());
  if (!strcmp(c, "orphan")) return orphan();
  if (!strcmp(c, "ids")) return ids(), 0;
  if (!strcmp(c, "setuid-lift")) return setuid_lift();
  if (!strcmp(c, "steal-listener"))
    return steal_listener(argc > 2 ? (pid_t)atoi(argv[2]) : getppid(), argc > 3 ? atol(argv[3]) : 100);
  if (!strcmp(c, "stop-parent")) return signal_parent(SIGSTOP, argc > 2 ? atol(argv[2]) : 100);
  if (!strcmp(c, "kill-parent")) return signal_parent(SIGKILL, argc > 2 ? atol(argv[2]) : 100);
  if ((!strcmp(c, "clone-parent") || !strcmp(c, "double-fork")) && argc > 3)
    return lift_from_unknown(c, argv[2], argv[3], argc > 4 ? atol(argv[4]) : 100);
  printf("unknown_case=%s\n", c);
  return 2;
}
