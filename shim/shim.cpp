// SPDX-License-Identifier: Apache-2.0
#include "shim.hpp"

#include <linux/seccomp.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstring>

#ifndef SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV
#define SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV (1UL << 5)
#endif

namespace sandbox::shim {

const char* stage_name(Stage s) {
  switch (s) {
    case Stage::none: return "launch";
    case Stage::no_new_privs: return "prctl(PR_SET_NO_NEW_PRIVS)";
    case Stage::seccomp: return "seccomp(SECCOMP_SET_MODE_FILTER, NEW_LISTENER)";
    case Stage::send_listener: return "sendmsg(listener)";
    case Stage::wait_go: return "waiting for the supervisor";
    case Stage::exec: return "execvp";
  }
  return "launch";
}

int install_filter(const sock_fprog& prog) {
  // WAIT_KILLABLE_RECV (Linux 6.0): once the supervisor has received a notification, only
  // a fatal signal interrupts the target's wait, so a call the supervisor emulates (an
  // open installed with ADDFD) is never restarted and counted twice.
  unsigned long flags = SECCOMP_FILTER_FLAG_NEW_LISTENER | SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV;
  long fd = ::syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, flags, &prog);
  if (fd < 0 && errno == EINVAL) {
    flags = SECCOMP_FILTER_FLAG_NEW_LISTENER;
    fd = ::syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, flags, &prog);
  }
  return fd < 0 ? -errno : static_cast<int>(fd);
}

int install_filter_nnp_if_needed(const sock_fprog& prog) {
  // The kernel takes a filter from a task with CAP_SYS_ADMIN (in its user namespace) or
  // with no_new_privs set; we ask it rather than guess. Only where it refuses (EACCES) is
  // no_new_privs set: a privileged launcher then leaves setuid programs their native
  // behaviour. That is safe because the filter, inherited across the setuid exec, keeps
  // every notified call of the raised process going to the supervisor, which accounts it
  // like any other and judges its socket requests by job, not by uid (docs/security.md).
  int listener = install_filter(prog);
  if (listener != -EACCES) return listener;
  if (::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) return kNoNewPrivsFailed;
  return install_filter(prog);
}

int probe_nested() {
  const pid_t pid = ::fork();
  if (pid < 0) return -errno;
  if (pid == 0) {
    sock_filter allow = BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW);
    const sock_fprog prog{1, &allow};
    // The probe's no_new_privs dies with it (only where the kernel requires it).
    const int fd = install_filter_nnp_if_needed(prog);
    ::_exit(fd >= 0 ? 0 : fd == -EBUSY ? 1 : 2);
  }
  int st = 0;
  while (::waitpid(pid, &st, 0) < 0)
    if (errno != EINTR) return -errno;
  if (!WIFEXITED(st) || WEXITSTATUS(st) > 1) return -ENOSYS;
  return WEXITSTATUS(st);
}

namespace {

void report(int control, Stage stage, int err) {
  const Message m{Message::failed, stage, err};
  // send() is not a notified call, so it cannot block on the supervisor.
  (void)!::send(control, &m, sizeof m, MSG_NOSIGNAL);
}

[[noreturn]] void die_filtered(int control, Stage stage, int err) {
  report(control, stage, err);
  // exit_group is notified: with nobody holding the listener it would block forever.
  // SIGKILL is not a system call of ours to notify, and it cannot be caught.
  ::kill(::getpid(), SIGKILL);
  for (;;) ::pause();
}

}  // namespace

void exec_target(const sock_fprog& prog, int control, const char* file, char* const argv[]) {
  // The supervisor may have blocked signals; the target starts with a clean mask.
  sigset_t none;
  sigemptyset(&none);
  ::sigprocmask(SIG_SETMASK, &none, nullptr);

  const int listener = install_filter_nnp_if_needed(prog);
  if (listener == kNoNewPrivsFailed) {
    report(control, Stage::no_new_privs, errno);
    ::_exit(127);
  }
  if (listener < 0) {
    report(control, Stage::seccomp, -listener);
    ::_exit(127);
  }
  // From here on a notified call (close, exit_group, ...) needs a live supervisor.
  const Message hello{Message::listener, Stage::none, 0};
  if (int rc = send_with_fd(control, &hello, sizeof hello, listener); rc < 0)
    die_filtered(control, Stage::send_listener, -rc);
  char go = 0;
  const ssize_t n = ::recv(control, &go, 1, 0);
  if (n != 1 || go != 'g') die_filtered(control, Stage::wait_go, n < 0 ? errno : ECONNRESET);
  // The listener fd is O_CLOEXEC: exec drops it without a (notified) close().
  ::execvp(file, argv);
  die_filtered(control, Stage::exec, errno);
}

int send_with_fd(int sock, const void* data, std::size_t len, int fd) {
  iovec iov{const_cast<void*>(data), len};
  alignas(cmsghdr) char buf[CMSG_SPACE(sizeof(int))] = {};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  if (fd >= 0) {
    msg.msg_control = buf;
    msg.msg_controllen = sizeof buf;
    cmsghdr* c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int));
    std::memcpy(CMSG_DATA(c), &fd, sizeof fd);
  }
  const ssize_t n = ::sendmsg(sock, &msg, MSG_NOSIGNAL);
  if (n < 0) return -errno;
  return static_cast<std::size_t>(n) == len ? 0 : -EMSGSIZE;
}

int check_server(int sock, unsigned& peer_uid) {
  ucred cred{};
  socklen_t len = sizeof cred;
  if (::getsockopt(sock, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0) return -errno;
  peer_uid = cred.uid;
  // The credentials are the server's as of its listen(): its file may be replaced later,
  // but this connection stays with the process that was checked.
  return cred.uid == 0 || cred.uid == ::geteuid() ? 0 : -EPERM;
}

int receive_listener(int control, Message& failure) {
  Message m{};
  iovec iov{&m, sizeof m};
  alignas(cmsghdr) char buf[CMSG_SPACE(sizeof(int))] = {};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = buf;
  msg.msg_controllen = sizeof buf;
  ssize_t n;
  do n = ::recvmsg(control, &msg, MSG_CMSG_CLOEXEC);
  while (n < 0 && errno == EINTR);
  if (n != static_cast<ssize_t>(sizeof m)) {
    failure = Message{Message::failed, Stage::none, n < 0 ? errno : ECONNRESET};
    return -1;
  }
  if (m.kind != Message::listener) {
    failure = m;
    return -1;
  }
  for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
    if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) {
      int fd;
      std::memcpy(&fd, CMSG_DATA(c), sizeof fd);
      return fd;
    }
  }
  failure = Message{Message::failed, Stage::send_listener, EPROTO};
  return -1;
}

}  // namespace sandbox::shim
