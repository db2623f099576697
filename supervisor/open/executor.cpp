// SPDX-License-Identifier: Apache-2.0
#include "open/executor.hpp"

#include <fcntl.h>
#include <linux/capability.h>
#include <linux/securebits.h>
#include <sched.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "base/fd_passing.hpp"
#include "base/unique_fd.hpp"

namespace sandbox::opening {
namespace {

constexpr std::size_t kMaxIdle = 32;       // kept executors, beyond which the oldest is killed
constexpr std::size_t kMaxMessage = 8192;  // header + path (PATH_MAX)

struct Header {
  std::int32_t tid, tgid;
  std::uint64_t flags, mode, resolve;
  std::int32_t umask;
  std::int32_t has_start;
};
struct Reply {
  std::int32_t result;  // >= 0: a descriptor follows; else -errno
  std::int32_t tty_dev;
};

int send_fds(int sock, const void* data, std::size_t len, const int* fds, int nfds) {
  iovec iov{const_cast<void*>(data), len};
  msghdr m{};
  m.msg_iov = &iov;
  m.msg_iovlen = 1;
  alignas(cmsghdr) char ctl[CMSG_SPACE(sizeof(int) * 2)]{};
  if (nfds > 0) {
    m.msg_control = ctl;
    m.msg_controllen = CMSG_SPACE(sizeof(int) * static_cast<std::size_t>(nfds));
    cmsghdr* c = CMSG_FIRSTHDR(&m);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int) * static_cast<std::size_t>(nfds));
    std::memcpy(CMSG_DATA(c), fds, sizeof(int) * static_cast<std::size_t>(nfds));
  }
  const ssize_t n = ::sendmsg(sock, &m, MSG_NOSIGNAL);
  return n == static_cast<ssize_t>(len) ? 0 : -errno;
}

// Receives one message with up to two descriptors; returns its length, 0 at EOF, -errno.
ssize_t recv_fds(int sock, void* data, std::size_t len, int* fds, int& nfds) {
  iovec iov{data, len};
  msghdr m{};
  m.msg_iov = &iov;
  m.msg_iovlen = 1;
  alignas(cmsghdr) char ctl[CMSG_SPACE(sizeof(int) * 2)]{};
  m.msg_control = ctl;
  m.msg_controllen = sizeof ctl;
  nfds = 0;
  const ssize_t n = ::recvmsg(sock, &m, MSG_CMSG_CLOEXEC);
  if (n < 0) return -errno;
  take_received_fds(m, [&](UniqueFd fd) {
    if (nfds < 2) fds[nfds++] = fd.release();
  });
  return n;
}

int set_effective(std::uint64_t eff) {
  __user_cap_header_struct hdr{_LINUX_CAPABILITY_VERSION_3, 0};
  __user_cap_data_struct data[2]{};
  if (::syscall(SYS_capget, &hdr, data) != 0) return -errno;
  data[0].effective = static_cast<std::uint32_t>(eff);
  data[1].effective = static_cast<std::uint32_t>(eff >> 32);
  return ::syscall(SYS_capset, &hdr, data) == 0 ? 0 : -errno;
}

// Every step of the executor's setup, on failure, exits with 100+step (the supervisor sees
// an executor that died).

// The target thread's namespace files, opened while we may still read its /proc (as root),
// each checked to be the one its context was read with.
void open_target_namespaces(const ExecContext& ctx, pid_t tid, int (&nsfd)[6]) {
  for (std::size_t i = 0; i < kNamespaces.size(); ++i) {
    const std::string p = "/proc/" + std::to_string(tid) + "/ns/" + kNamespaces[i];
    nsfd[i] = ::open(p.c_str(), O_RDONLY | O_CLOEXEC);
    struct stat st {};
    // The context was read from this thread: if it moved on since, this is not its executor.
    if (nsfd[i] < 0 || ::fstat(nsfd[i], &st) != 0 || st.st_ino != ctx.ns[i]) ::_exit(101);
  }
}

// Our own namespaces' inodes (a namespace the target shares with us is not entered).
std::array<std::uint64_t, 6> own_namespaces() {
  std::array<std::uint64_t, 6> ours{};
  for (std::size_t i = 0; i < kNamespaces.size(); ++i) {
    struct stat st {};
    if (::stat(("/proc/self/ns/" + std::string(kNamespaces[i])).c_str(), &st) != 0) ::_exit(102);
    ours[i] = st.st_ino;
  }
  return ours;
}

// The target's credentials, namespaces and effective capabilities, in that order.
void become_target(const ExecContext& ctx, const int (&nsfd)[6], const std::array<std::uint64_t, 6>& ours) {
  // 1. The target's ids and groups, set in our user namespace, where the supervisor read
  // them. SECBIT_NO_SETUID_FIXUP keeps our capabilities across the uid change, for setns.
  if (::prctl(PR_SET_SECUREBITS, SECBIT_NO_SETUID_FIXUP) != 0 ||
      ::syscall(SYS_setgroups, ctx.groups.size(), ctx.groups.data()) != 0 ||
      ::syscall(SYS_setresgid, ctx.gid[0], ctx.gid[1], ctx.gid[2]) != 0 ||
      ::syscall(SYS_setfsgid, ctx.gid[3]) < 0 ||
      ::syscall(SYS_setresuid, ctx.uid[0], ctx.uid[1], ctx.uid[2]) != 0 ||
      ::syscall(SYS_setfsuid, ctx.uid[3]) < 0)
    ::_exit(103);
  // 2. The namespaces, user first: after it we hold every capability in the target's user
  // namespace (none outside it), which the others need.
  for (std::size_t i = 0; i < kNamespaces.size(); ++i)
    if (ctx.ns[i] != ours[i] && ::setns(nsfd[i], 0) != 0) ::_exit(104 + static_cast<int>(i));
  for (int fd : nsfd) ::close(fd);
  // 3. The effective capabilities the target holds, meant in its user namespace now.
  if (set_effective(ctx.cap_eff) != 0) ::_exit(111);
  // Not dumpable: no target may ptrace or read the /proc of a process holding its
  // namespaces' capabilities in its permitted set (commit_creds() reset the flag above).
  ::prctl(PR_SET_DUMPABLE, 0);
}

// Into the target's root as it is now (`cur_root`: the one we are in); 0 or -errno.
// chroot needs CAP_SYS_CHROOT for that moment only.
int enter_root(const ExecContext& ctx, int root, struct stat& cur_root) {
  constexpr std::uint64_t kChroot = 1ULL << CAP_SYS_CHROOT;
  struct stat rs {};
  int err = 0;
  if (::fstat(root, &rs) != 0) err = -errno;
  if (!err && (rs.st_dev != cur_root.st_dev || rs.st_ino != cur_root.st_ino)) {
    if ((ctx.cap_eff & kChroot) == 0 && set_effective(ctx.cap_eff | kChroot) != 0) err = -EPERM;
    if (!err && (::fchdir(root) != 0 || ::chroot(".") != 0)) err = -errno;
    if ((ctx.cap_eff & kChroot) == 0 && set_effective(ctx.cap_eff) != 0) ::_exit(112);
    if (!err) cur_root = rs;
  }
  return err;
}

// One request (`n` bytes of `buf`, with the target's root and the start directory): its
// answer.
Reply answer(const ExecContext& ctx, const Perform& perform, const char* buf, ssize_t n, const UniqueFd& root,
             const UniqueFd& start, struct stat& cur_root) {
  Reply rep{-EINVAL, 0};
  Header h{};
  if (static_cast<std::size_t>(n) < sizeof h || !root) return rep;
  std::memcpy(&h, buf, sizeof h);
  ExecRequest req;
  req.tid = h.tid, req.tgid = h.tgid, req.flags = h.flags, req.mode = h.mode, req.resolve = h.resolve;
  req.umask = h.umask;
  req.path.assign(buf + sizeof h, static_cast<std::size_t>(n) - sizeof h);
  if (const int err = enter_root(ctx, root.get(), cur_root)) {
    rep.result = err;
    return rep;
  }
  if (req.umask >= 0) ::umask(static_cast<mode_t>(req.umask));
  bool tty = false;
  rep.result = perform(req, h.has_start ? start.get() : AT_FDCWD, tty);
  rep.tty_dev = tty;
  return rep;
}

// The executor itself: never returns. Exit status 100+step when a setup step fails.
[[noreturn]] void executor_main(int sock, const ExecContext& ctx, pid_t tid, pid_t supervisor,
                                const Perform& perform) {
  ::prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (::getppid() != supervisor) ::_exit(100);
  sigset_t all;
  sigfillset(&all);
  ::sigprocmask(SIG_BLOCK, &all, nullptr);
  int nsfd[6];
  open_target_namespaces(ctx, tid, nsfd);
  become_target(ctx, nsfd, own_namespaces());

  struct stat cur_root {};
  char buf[kMaxMessage + 1];
  for (;;) {
    int fds[2] = {-1, -1}, nfds = 0;
    const ssize_t n = recv_fds(sock, buf, kMaxMessage, fds, nfds);
    if (n <= 0) ::_exit(0);  // the supervisor closed its end (or went)
    UniqueFd root(nfds > 0 ? fds[0] : -1), start(nfds > 1 ? fds[1] : -1);
    const Reply rep = answer(ctx, perform, buf, n, root, start, cur_root);
    UniqueFd file(rep.result >= 0 ? rep.result : -1);
    const int out = file.get();
    if (send_fds(sock, &rep, sizeof rep, &out, out >= 0 ? 1 : 0) != 0) ::_exit(0);
  }
}

}  // namespace

struct Executors::Proc {
  ExecContext ctx;
  pid_t pid = -1;
  UniqueFd pidfd, sock;
  ~Proc() {
    if (!pidfd) return;
    ::syscall(SYS_pidfd_send_signal, pidfd.get(), SIGKILL, nullptr, 0);
    // Its parent is the supervisor: reap it through the pidfd (never by a pid that
    // `sandbox run`'s own waitpid(-1) may have reaped and the kernel reused).
    siginfo_t si{};
    ::waitid(static_cast<idtype_t>(3 /* P_PIDFD */), static_cast<id_t>(pidfd.get()), &si, WEXITED | __WALL);
  }
};

struct Executors::SpawnJob {
  const ExecContext* ctx;
  pid_t tid;
  std::shared_ptr<Proc> result;
  int err = 0;  // errno of the socketpair or the fork
  bool done = false;
};

Executors::~Executors() {
  {
    std::lock_guard lk(mu_);
    quit_ = true;
  }
  cv_.notify_all();
  if (spawner_.joinable()) spawner_.join();
  idle_.clear();
}

void Executors::spawner() {
  std::unique_lock lk(mu_);
  for (;;) {
    cv_.wait(lk, [&] { return quit_ || !jobs_.empty(); });
    if (quit_) return;
    SpawnJob* j = jobs_.front();
    jobs_.pop_front();
    lk.unlock();
    int sv[2];
    if (::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) != 0) {
      j->err = errno;
    } else {
      const pid_t supervisor = ::getpid();
      Perform perform = make_();  // built here: the child must not take locks after fork
      const pid_t pid = ::fork();
      if (pid == 0) {
        ::close(sv[0]);
        executor_main(sv[1], *j->ctx, j->tid, supervisor, perform);
      }
      ::close(sv[1]);
      if (pid < 0) {
        j->err = errno;
        ::close(sv[0]);
      } else {
        auto p = std::make_shared<Proc>();
        p->ctx = *j->ctx;
        p->pid = pid;
        p->pidfd.reset(static_cast<int>(::syscall(SYS_pidfd_open, pid, 0)));
        p->sock.reset(sv[0]);
        j->result = std::move(p);
      }
    }
    lk.lock();
    j->done = true;
    cv_.notify_all();
  }
}

Result<std::shared_ptr<Executors::Proc>> Executors::spawn(const ExecContext& ctx, pid_t tid) {
  SpawnJob j{&ctx, tid, nullptr, 0, false};
  std::unique_lock lk(mu_);
  if (!spawner_.joinable()) {
    sigset_t all, old;
    sigfillset(&all);
    ::pthread_sigmask(SIG_BLOCK, &all, &old);
    spawner_ = std::thread([this] { spawner(); });
    ::pthread_sigmask(SIG_SETMASK, &old, nullptr);
  }
  jobs_.push_back(&j);
  cv_.notify_all();
  cv_.wait(lk, [&] { return j.done; });
  if (!j.result) return Error{j.err != 0 ? j.err : EPERM};
  return std::move(j.result);
}

Result<std::shared_ptr<Executors::Proc>> Executors::take(const ExecContext& ctx, pid_t tid) {
  {
    std::lock_guard lk(mu_);
    for (auto it = idle_.begin(); it != idle_.end(); ++it)
      if ((*it)->ctx == ctx) {
        auto p = std::move(*it);
        idle_.erase(it);
        return p;
      }
  }
  return spawn(ctx, tid);
}

void Executors::give_back(std::shared_ptr<Proc> p) {
  std::shared_ptr<Proc> evicted;
  std::lock_guard lk(mu_);
  idle_.push_front(std::move(p));
  if (idle_.size() > kMaxIdle) {
    evicted = std::move(idle_.back());
    idle_.pop_back();
  }
}

Result<UniqueFd> Executors::run(const ExecContext& ctx, int root, int start, const ExecRequest& req,
                                bool& tty_dev) {
  tty_dev = false;
  if (sizeof(Header) + req.path.size() > kMaxMessage) return Error{ENAMETOOLONG};
  Result<std::shared_ptr<Proc>> taken = take(ctx, req.tid);
  if (!taken.ok()) return taken.failure();
  std::shared_ptr<Proc> p = std::move(taken).value();
  char buf[kMaxMessage];
  Header h{req.tid, req.tgid, req.flags, req.mode, req.resolve, req.umask, start >= 0};
  std::memcpy(buf, &h, sizeof h);
  std::memcpy(buf + sizeof h, req.path.data(), req.path.size());
  const int fds[2] = {root, start};
  if (int e = send_fds(p->sock.get(), buf, sizeof h + req.path.size(), fds, start >= 0 ? 2 : 1); e < 0)
    return Error{EPERM};  // it died (a setup step failed: the target's context moved on): fail closed
  Reply rep{};
  int got[2] = {-1, -1}, ngot = 0;
  const ssize_t n = recv_fds(p->sock.get(), &rep, sizeof rep, got, ngot);
  if (n == -EINTR) return Error{EINTR};  // interrupted (waits.hpp): p is dropped, killed
  if (n != static_cast<ssize_t>(sizeof rep)) {
    for (int i = 0; i < ngot; ++i) ::close(got[i]);
    return Error{EPERM};
  }
  tty_dev = rep.tty_dev != 0;
  for (int i = 1; i < ngot; ++i) ::close(got[i]);
  UniqueFd opened(ngot > 0 ? got[0] : -1);
  give_back(std::move(p));
  if (rep.result < 0) return Error{-rep.result};  // the open's own error, as the executor saw it
  if (!opened) return Error{EPERM};               // an answer without its descriptor: fail closed
  return opened;
}

}  // namespace sandbox::opening
