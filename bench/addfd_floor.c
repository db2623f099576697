// SPDX-License-Identifier: Apache-2.0
/* bench_addfd_floor ITERS [continue|checks|delay NS]: the floor of the mechanism for a tracked open+close,
 * against which `sandbox run --heap-quota ...` is compared (issue 11). A minimal supervisor:
 * the child installs a filter that notifies openat and close (with WAIT_KILLABLE_RECV, as
 * the sandbox's filter does) and runs ITERS open("/dev/null") + close; the parent, with
 * SYNC_WAKE_UP when the kernel has it, answers each openat by reading the path from the
 * child's memory (process_vm_readv), opening it itself and installing the file with one
 * ADDFD + SEND, and each close with CONTINUE. No accounting, no checks, no context: what
 * the mechanism costs at the least. With "continue" both calls are answered CONTINUE (the
 * untracked floor). With "checks", the floor plus the system calls the sandbox adds to each
 * pair for its guarantees, made the same way but with nothing decided on them: a zero-timeout
 * epoll_wait per notification (exits seen before the next call), kcmp of the highest allowed
 * fd (EMFILE before any lookup), ID_VALID before opening (no side effect for a task that is
 * gone), statx of the opened file (procfs, ttys), kcmp of the fd being closed (EBADF, count).
 * With "delay NS", the floor plus a busy wait of NS ns before each open: how the pair's time
 * depends on the time the supervisor spends before its ADDFD (docs/performance.md).
 * ns/op is the child's, per open+close pair, like bench_open_close. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>

#include "bench.h"

#ifndef SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV
#define SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV (1UL << 5)
#endif
#ifndef SECCOMP_ADDFD_FLAG_SEND
#define SECCOMP_ADDFD_FLAG_SEND (1UL << 1)
#endif
#ifndef SECCOMP_IOCTL_NOTIF_SET_FLAGS
#define SECCOMP_IOCTL_NOTIF_SET_FLAGS SECCOMP_IOW(4, __u64)
#endif
#ifndef SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP
#define SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP (1UL << 0)
#endif

static int install_filter(void) {
  struct sock_filter code[] = {
      BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_X86_64, 1, 0),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
      BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_openat, 2, 0),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_close, 1, 0),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_USER_NOTIF),
  };
  struct sock_fprog prog = {sizeof code / sizeof code[0], code};
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) return -1;
  const unsigned long flags = SECCOMP_FILTER_FLAG_NEW_LISTENER | SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV;
  int fd = (int)syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, flags, &prog);
  if (fd < 0)
    fd = (int)syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_NEW_LISTENER, &prog);
  return fd;
}

static int send_fd(int sock, int fd) {
  char byte = 0;
  struct iovec iov = {&byte, 1};
  union {
    struct cmsghdr h;
    char buf[CMSG_SPACE(sizeof(int))];
  } c;
  memset(&c, 0, sizeof c);
  struct msghdr m = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = c.buf, .msg_controllen = sizeof c.buf};
  struct cmsghdr *h = CMSG_FIRSTHDR(&m);
  h->cmsg_level = SOL_SOCKET;
  h->cmsg_type = SCM_RIGHTS;
  h->cmsg_len = CMSG_LEN(sizeof(int));
  memcpy(CMSG_DATA(h), &fd, sizeof fd);
  return sendmsg(sock, &m, 0) == 1 ? 0 : -1;
}

static int recv_fd(int sock) {
  char byte = 0;
  struct iovec iov = {&byte, 1};
  union {
    struct cmsghdr h;
    char buf[CMSG_SPACE(sizeof(int))];
  } c;
  struct msghdr m = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = c.buf, .msg_controllen = sizeof c.buf};
  if (recvmsg(sock, &m, MSG_CMSG_CLOEXEC) != 1) return -1;
  struct cmsghdr *h = CMSG_FIRSTHDR(&m);
  if (!h || h->cmsg_level != SOL_SOCKET || h->cmsg_type != SCM_RIGHTS) return -1;
  int fd = -1;
  memcpy(&fd, CMSG_DATA(h), sizeof fd);
  return fd;
}

int main(int argc, char **argv) {
  const long iters = bench_iters(argc, argv, "ITERS [continue|checks|delay NS]");
  const long long delay_ns = argc > 3 && strcmp(argv[2], "delay") == 0 ? atoll(argv[3]) : 0;
  const int tracked = !(argc > 2 && strcmp(argv[2], "continue") == 0);
  const int checks = argc > 2 && strcmp(argv[2], "checks") == 0;
  const int ep = epoll_create1(EPOLL_CLOEXEC);
  if (ep < 0) bench_die("epoll_create1");
  int to_parent[2], go[2];
  /* The listener comes over a socket (SCM_RIGHTS): no ptrace right needed, as pidfd_getfd
   * would (Yama's ptrace_scope 3 refuses that even to root). */
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, to_parent) != 0 || pipe(go) != 0) bench_die("pipe");
  const pid_t child = fork();
  if (child < 0) bench_die("fork");
  if (child == 0) {
    close(to_parent[0]);
    close(go[1]);
    const int listener = install_filter();
    if (listener < 0 || send_fd(to_parent[1], listener) != 0) _exit(3);
    char c;
    if (read(go[0], &c, 1) != 1) _exit(4); /* the parent holds the listener now */
    close(listener);
    const long long t0 = bench_now_ns();
    for (long i = 0; i < iters; ++i) {
      const int fd = open("/dev/null", O_RDONLY);
      if (fd < 0) _exit(5);
      close(fd);
    }
    bench_report(bench_now_ns() - t0, iters);
    _exit(0);
  }
  close(to_parent[1]);
  close(go[0]);
  const int listener = recv_fd(to_parent[0]);
  if (listener < 0) bench_die("the child's listener");
  ioctl(listener, SECCOMP_IOCTL_NOTIF_SET_FLAGS, SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP); /* 6.6+ */
  if (write(go[1], "g", 1) != 1) bench_die("go");
  struct seccomp_notif n;
  for (;;) {
    memset(&n, 0, sizeof n);
    if (ioctl(listener, SECCOMP_IOCTL_NOTIF_RECV, &n) != 0) {
      if (errno == EINTR) continue;
      break; /* ENOENT: the child is gone */
    }
    struct seccomp_notif_resp r = {.id = n.id, .flags = SECCOMP_USER_NOTIF_FLAG_CONTINUE};
    struct epoll_event ev;
    if (checks) epoll_wait(ep, &ev, 1, 0);
    if (checks && n.data.nr == SYS_close)
      syscall(SYS_kcmp, child, getpid(), 0 /* KCMP_FILE */, n.data.args[0], ep);
    if (tracked && n.data.nr == SYS_openat) {
      char path[256];
      struct iovec local = {path, sizeof path - 1}, there = {(void *)n.data.args[1], sizeof path - 1};
      const ssize_t got = process_vm_readv(child, &local, 1, &there, 1, 0);
      path[got > 0 ? got : 0] = 0;
      for (const long long t0 = bench_now_ns(); bench_now_ns() - t0 < delay_ns;) {
      }
      if (checks) {
        syscall(SYS_kcmp, child, getpid(), 0 /* KCMP_FILE */, 19999, ep);
        ioctl(listener, SECCOMP_IOCTL_NOTIF_ID_VALID, &n.id);
      }
      const int fd = openat(AT_FDCWD, path, (int)n.data.args[2] | O_CLOEXEC, (mode_t)n.data.args[3]);
      struct statx sx;
      if (checks && fd >= 0) statx(fd, "", AT_EMPTY_PATH, STATX_TYPE | STATX_MODE, &sx);
      if (fd >= 0) {
        struct seccomp_notif_addfd a = {.id = n.id, .flags = SECCOMP_ADDFD_FLAG_SEND, .srcfd = (unsigned)fd};
        ioctl(listener, SECCOMP_IOCTL_NOTIF_ADDFD, &a);
        close(fd);
        continue;
      }
      r = (struct seccomp_notif_resp){.id = n.id, .error = -errno};
    }
    ioctl(listener, SECCOMP_IOCTL_NOTIF_SEND, &r);
  }
  int st = 0;
  if (waitpid(child, &st, 0) != child || !WIFEXITED(st) || WEXITSTATUS(st) != 0) {
    fprintf(stderr, "bench_addfd_floor: the child failed (status %d)\n", st);
    return 1;
  }
  return 0;
}
