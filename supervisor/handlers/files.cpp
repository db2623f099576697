// Files family: open, openat, openat2, creat and close.
//
// Opens by a tracked task are performed by the supervisor on the target's behalf (see
// open_emulation.hpp) and installed with ADDFD + SEND, so the count moves exactly when the
// target receives a new fd, and the kernel never reads the path from target memory again
// (no TOCTOU). Closes cannot be performed for the target: the supervisor checks that the
// fd is open (kcmp), answers EBADF itself when it is not, and lets a close of an open fd
// through, charging -1.
#include <fcntl.h>
#include <linux/openat2.h>

#include <cerrno>
#include <climits>
#include <cstring>

#include "../supervisor.hpp"

namespace sandbox {
namespace {

constexpr std::size_t kPathMax = 4096;      // PATH_MAX, including the NUL
constexpr std::uint64_t kOpenHowVer0 = 24;  // OPEN_HOW_SIZE_VER0
constexpr std::uint64_t kPage = 4096;

}  // namespace

void Supervisor::on_open(Call& c, Op op) {
  if (!counted(c)) {
    reply_continue(c);  // untracked: nothing to count, the kernel does it all
    return;
  }
  OpenRequest req;
  req.tid = c.tid;
  req.tgid = c.tgid;
  req.pidfd = c.proc.pidfd.get();
  std::uint64_t path_addr = 0;
  switch (op) {
    case Op::open:
      req.call = OpenSyscall::open;
      req.dirfd = AT_FDCWD;
      path_addr = c.arg(0), req.flags = c.arg(1), req.mode = c.arg(2);
      break;
    case Op::creat:
      req.call = OpenSyscall::creat;
      req.dirfd = AT_FDCWD;
      path_addr = c.arg(0), req.flags = O_CREAT | O_WRONLY | O_TRUNC, req.mode = c.arg(1);
      break;
    case Op::openat:
      req.call = OpenSyscall::openat;
      req.dirfd = static_cast<int>(c.arg(0));
      path_addr = c.arg(1), req.flags = c.arg(2), req.mode = c.arg(3);
      break;
    default: {  // openat2(dirfd, path, how, size): copy_struct_from_user() rules
      req.call = OpenSyscall::openat2;
      req.dirfd = static_cast<int>(c.arg(0));
      path_addr = c.arg(1);
      const std::uint64_t size = c.arg(3);
      if (size < kOpenHowVer0) return void(reply_error(c, EINVAL));
      if (size > kPage) return void(reply_error(c, E2BIG));
      unsigned char raw[kPage];
      if (target::read_memory(c.tid, c.arg(2), raw, size) < 0) return void(reply_error(c, EFAULT));
      for (std::uint64_t i = sizeof(open_how); i < size; ++i)
        if (raw[i] != 0) return void(reply_error(c, E2BIG));
      open_how how{};
      std::memcpy(&how, raw, std::min<std::uint64_t>(size, sizeof how));
      req.flags = how.flags, req.mode = how.mode, req.resolve = how.resolve;
      break;
    }
  }
  if (int rc = target::read_string(c.tid, path_addr, kPathMax, req.path); rc < 0) {
    if (rc != -ESRCH) reply_error(c, -rc);  // EFAULT or ENAMETOOLONG, as getname() says
    return;
  }
  // What we read belongs to the caller only if it is still blocked in this very call.
  if (!c.ch.id_valid(c.n.id)) return;

  const OpenOutcome o = c.open.open(req);
  switch (o.kind) {
    case OpenOutcome::Kind::error: reply_error(c, o.err); return;
    case OpenOutcome::Kind::let_target:
      // Rare (a file whose meaning depends on the opener, like /dev/tty). Predicted
      // failures are answered here; a predicted success is let through and charged: if
      // the target swaps the path meanwhile, the worst case is an extra count (fails closed).
      if (o.err) return void(reply_error(c, o.err));
      if (!admit(c, Delta{0, +1}, EMFILE)) return;
      if (reply_continue(c)) charge(c, Delta{0, +1});
      return;
    case OpenOutcome::Kind::installed: {
      UniqueFd file(o.fd);
      if (!admit(c, Delta{0, +1}, EMFILE)) return;
      if (req.flags & O_PATH) {
        // ADDFD cannot pass O_PATH files (fget() refuses them). An O_PATH open has no side
        // effect, so the target repeats it: our open succeeded, so the target's will too,
        // unless the target swaps the path meanwhile -- then it is counted anyway (fails
        // closed: a swap can add a count, never hide an open).
        if (reply_continue(c)) charge(c, Delta{0, +1});
        return;
      }
      seccomp_notif_addfd a{};
      a.id = c.n.id;
      a.flags = SECCOMP_ADDFD_FLAG_SEND;
      a.srcfd = static_cast<std::uint32_t>(file.get());
      a.newfd_flags = o.cloexec ? O_CLOEXEC : 0;
      const int fd = c.ch.add_fd(a);
      if (fd >= 0) {
        charge(c, Delta{0, +1});
        c.proc.closing.erase(fd);  // that fd number is open again: any close of it is done
        return;
      }
      if (fd != -ENOENT) reply_error(c, -fd);  // EMFILE: the target's own RLIMIT_NOFILE
      return;
    }
  }
}

void Supervisor::on_close(Call& c) {
  if (!counted(c)) {
    reply_continue(c);
    return;
  }
  const auto fd = static_cast<unsigned int>(c.arg(0));
  const int open = fd > INT_MAX ? 0 : target::fd_open(c.tid, fd);
  // kcmp names the thread by number: the answer is about the caller only if the caller is
  // still blocked in this call.
  if (!c.ch.id_valid(c.n.id)) return;
  if (open == 0) {
    reply_error(c, EBADF);  // answered here, so the kernel's view cannot differ
    return;
  }
  const auto key = static_cast<int>(fd);
  if (open < 0 || !c.proc.closing.try_emplace(key, c.tid).second) {
    // Cannot tell, or another thread's close of the same fd may still be in flight (then
    // one of the two fails with EBADF): do not count this one. Fails closed.
    reply_continue(c);
    return;
  }
  c.thread.closing_fd = key;
  if (reply_continue(c)) {
    charge(c, Delta{0, -1});
  } else {
    c.proc.closing.erase(key);
    c.thread.closing_fd = -1;
  }
}

}  // namespace sandbox
