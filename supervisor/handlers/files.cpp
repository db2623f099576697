// SPDX-License-Identifier: Apache-2.0
// Files family: open, openat, openat2, creat and close.
//
// Opens by a tracked task are performed by the supervisor on the target's behalf (see
// open_emulation.hpp) and installed with ADDFD + SEND, so the count moves exactly when the
// target receives a new fd, and the kernel never reads the path from target memory again
// (no TOCTOU). An open may wait (target memory behind a userfaultfd, a FIFO, a lease, a
// device, FUSE): it runs without the model's lock, on the serving thread that took it,
// while the listener's other threads serve every other call (supervisor.cpp, Receivers),
// and opening::Waits ends it as a signal or death would end the target's own wait.
// Closes cannot be performed for the target: the supervisor checks that the fd is open
// (kcmp), answers EBADF itself when it is not, and lets a close of an open fd through,
// charging -1.
#include <fcntl.h>
#include <linux/kcmp.h>
#include <linux/openat2.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <climits>
#include <cstdio>
#include <cstring>
#include <string_view>
#include <utility>

#include "base/unique_fd.hpp"
#include "notify/supervisor.hpp"
#include "open/caller.hpp"
#include "target/proc_text.hpp"

namespace sandbox {
namespace {

constexpr std::size_t kPathMax = 4096;      // PATH_MAX, including the NUL
constexpr std::uint64_t kOpenHowVer0 = 24;  // OPEN_HOW_SIZE_VER0
constexpr std::uint64_t kPage = 4096;
constexpr int kErestartsys = 512;  // include/linux/errno.h: the kernel restarts or says EINTR
constexpr int kNrClose = 3;

// 1: a and b share one fd table, 0: they do not, -1: one of them is gone.
int same_fd_table(Pid a, Pid b) {
  if (a == b) return 1;
  const long r = ::syscall(SYS_kcmp, a, b, KCMP_FILES, 0, 0);
  return r < 0 ? -1 : r == 0;
}

// A thread's CPU time so far in ns (the first field of its schedstat), or -1: gone or unknown.
long long cpu_time_ns(Pid tgid, Pid tid) {
  char path[64];
  std::snprintf(path, sizeof path, "/proc/%d/task/%d/schedstat", tgid, tid);
  UniqueFd f(::open(path, O_RDONLY | O_CLOEXEC));
  char buf[128];
  const ssize_t n = f ? ::read(f.get(), buf, sizeof buf - 1) : -1;
  if (n <= 0) return -1;
  long long ns = -1;
  return target::parse_num(std::string_view(buf, static_cast<std::size_t>(n)), ns) ? ns : -1;
}

// What /proc/<tgid>/task/<tid>/syscall says now; `gone` when it cannot be read.
target::SyscallState syscall_state(Pid tgid, Pid tid, bool& gone) {
  char path[64];
  std::snprintf(path, sizeof path, "/proc/%d/task/%d/syscall", tgid, tid);
  UniqueFd f(::open(path, O_RDONLY | O_CLOEXEC));
  gone = !f;
  if (!f) return {};
  char buf[256];
  const ssize_t n = ::read(f.get(), buf, sizeof buf - 1);
  if (n <= 0) return {};
  return target::parse_syscall(std::string_view(buf, static_cast<std::size_t>(n)));
}

// Whether thread `tid`'s close(fd), let through earlier, may not have taken fd out of the
// table yet. The kernel does that first thing in close() (pick_file()), so a thread seen in
// any other system call, or blocked outside one, is past it.
//
// "running" is either the instant after our CONTINUE, the close still to come, or user
// space long after it. Told apart by the thread's own CPU time: from any instant on, a close
// still to come is a short path without a wait (the return from seccomp's wait, the
// dispatch, pick_file() under the table's spinlock), far below kCloseCpuNs; so a thread that
// has run kCloseCpuNs of CPU since it was seen running has made it. Waited for at most
// kCloseWait (the model's lock is held: this is the rare case of a close of a number that
// another thread closed and that was made again without an open we installed); a thread
// that has not run that much by then counts as in flight (fails closed: this close is then
// not subtracted).
constexpr long long kCloseCpuNs = 2'000'000;
constexpr auto kCloseWait = std::chrono::milliseconds(200);

bool close_in_flight(Pid tgid, Pid tid, int fd) {
  using Kind = target::SyscallState::Kind;
  const auto deadline = std::chrono::steady_clock::now() + kCloseWait;
  long long since = -1;
  for (;;) {
    bool gone = false;
    const target::SyscallState st = syscall_state(tgid, tid, gone);
    if (gone) return false;  // its close is over
    if (st.kind == Kind::in_call) return st.nr == kNrClose && st.arg0 == static_cast<unsigned>(fd);
    if (st.kind == Kind::outside) return false;
    if (st.kind == Kind::unknown) return true;
    const long long now_ns = cpu_time_ns(tgid, tid);
    if (now_ns < 0) return true;
    if (since < 0) since = now_ns;
    if (now_ns - since >= kCloseCpuNs) return false;
    if (std::chrono::steady_clock::now() >= deadline) return true;
    // Lets the thread run (this is a poll for its progress, bounded by the deadline).
    const timespec pause{0, 200'000};
    ::nanosleep(&pause, nullptr);
  }
}

}  // namespace

// What finish_open needs once the lock is taken again: nothing of Call's process state.
struct Supervisor::OpenCall {
  Call& c;
  std::uint64_t flags = 0;
  std::optional<std::uint64_t> nofile;  // RLIMIT_NOFILE read during this open, to cache
};

Reply Supervisor::on_open(Call& c, Op op) {
  // An open of a target that died waiting (a FIFO without a partner) ends before this one
  // runs, as the kernel had ended it before the death could be seen (waits.hpp).
  waits_.abandon_gone();
  if (!counted(c)) return Reply::proceed();  // untracked: nothing to count, the kernel does it all
  OpenRequest req;
  req.tid = c.tid;
  req.tgid = c.tgid;
  std::uint64_t path_addr = 0, how_addr = 0, how_size = 0;
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
    default:  // openat2(dirfd, path, how, size): copy_struct_from_user() rules
      req.call = OpenSyscall::openat2;
      req.dirfd = static_cast<int>(c.arg(0));
      path_addr = c.arg(1), how_addr = c.arg(2), how_size = c.arg(3);
      if (how_size < kOpenHowVer0) return Reply::error(EINVAL);
      if (how_size > kPage) return Reply::error(E2BIG);
      break;
  }

  // The cached RLIMIT_NOFILE (none once a limit change named the process: read every time).
  std::optional<std::uint64_t> nofile = c.proc.limits_change ? std::nullopt : c.proc.nofile;
  // From here until the answer, the open may wait: the model's lock is released, and c.proc
  // and c.thread are not used again (finish_open looks the process up afresh).
  c.lock.unlock();
  // Watched from here (waits.hpp): a signal or death ends the wait; after kPatience another
  // thread serves the listener.
  opening::Waits::Wait wait(waits_, c.ch, c.pool, c.n.id, c.tid, c.tgid);
  if (req.call == OpenSyscall::openat2) {
    unsigned char raw[kPage];
    if (const Status read = opening::read_user(c.tid, how_addr, raw, how_size); !read.ok())
      return read.error() == ESRCH ? Reply::none() : Reply::error(EFAULT);
    for (std::uint64_t i = sizeof(open_how); i < how_size; ++i)
      if (raw[i] != 0) return Reply::error(E2BIG);
    open_how how{};
    std::memcpy(&how, raw, std::min<std::uint64_t>(how_size, sizeof how));
    req.flags = how.flags, req.mode = how.mode, req.resolve = how.resolve;
  }
  auto path = opening::read_user_string(c.tid, path_addr, kPathMax);
  if (!path.ok())
    return path.error() == ESRCH ? Reply::none()
                                 : Reply::error(path.error());  // EFAULT or ENAMETOOLONG, as getname() says
  req.path = std::move(path).value();
  // Open only if the caller's table has room, as the kernel allocates the fd first (no file
  // created or truncated for an EMFILE). Unknown counts as room: ADDFD still applies the
  // target's own limit.
  bool nofile_read = false;
  const Result<bool> room = opening::fd_table_has_room(c.tid, nofile, nofile_read);
  req.table_full = room.ok() && !*room;
  // What we read belongs to the caller only if it is still blocked in this very call.
  if (!c.ch.id_valid(c.n.id)) return Reply::none();

  OpenOutcome o = c.open.open(req);
  const auto why = wait.end();
  UniqueFd file(o.kind == OpenOutcome::Kind::installed ? o.fd : -1);
  if (why == opening::Waits::End::gone) return Reply::none();  // the target is gone: drop the file
  if (o.kind == OpenOutcome::Kind::error && o.err == EINTR && why == opening::Waits::End::signal) {
    // A signal is pending for the target thread (waits.hpp): the kernel delivers it on the
    // way out and restarts the open or fails it with EINTR, as after its own wait.
    return Reply::error(kErestartsys);
  }
  c.lock.lock();
  o.fd = file.release();
  OpenCall oc{c, req.flags, nofile_read ? nofile : std::nullopt};
  return finish_open(oc, o);
}

void Supervisor::keep_nofile(Pid tgid, std::optional<std::uint64_t> nofile) {
  // Called once the caller was answered: it was blocked in this call from RECV to the
  // answer, so c.tgid still names its process. Kept unless a limit change was notified
  // meanwhile (limits_change never goes back: a change notified before our read but run
  // after it is never cached).
  if (!nofile) return;
  if (auto p = procs_.find(tgid); p != procs_.end() && !p->second.limits_change) p->second.nofile = nofile;
}

Reply Supervisor::finish_open(OpenCall& oc, OpenOutcome& o) {
  Call& c = oc.c;
  UniqueFd file(std::exchange(o.fd, -1));
  const std::optional<std::uint64_t> nofile = oc.nofile;
  const auto keep = [this, tgid = c.tgid, nofile](int) { keep_nofile(tgid, nofile); };
  switch (o.kind) {
    case OpenOutcome::Kind::error: return Reply::error(o.err).then(keep);
    case OpenOutcome::Kind::let_target:
      // Rare (a file whose meaning depends on the opener, like /dev/tty). Predicted
      // failures are answered here; a predicted success is let through and charged: if
      // the target swaps the path meanwhile, the worst case is an extra count (fails closed).
      if (o.err) return Reply::error(o.err);
      if (!admit(c, Delta{0, +1})) return Reply::error(EMFILE);
      return Reply::proceed().then([this, &c](int) { charge(c, Delta{0, +1}); });
    case OpenOutcome::Kind::installed: {
      if (!admit(c, Delta{0, +1})) return Reply::error(EMFILE);
      if (oc.flags & O_PATH) {
        // ADDFD cannot pass O_PATH files (fget() refuses them). An O_PATH open has no side
        // effect, so the target repeats it: our open succeeded and its table had room, so
        // the target's will succeed too, unless the target swaps the path or fills its
        // table meanwhile -- then it is counted anyway (fails closed: a race can add a
        // count, never hide an open).
        return Reply::proceed().then([this, &c](int) { charge(c, Delta{0, +1}); });
      }
      return Reply::install(std::move(file), o.cloexec).then([this, &c, keep](int fd) {
        charge(c, Delta{0, +1});
        keep(fd);
        // That fd number is open again in the caller's table: any close of it there is done.
        // Whether a closer shares this table is asked only if it matters (on_close), as the
        // closer's next call usually drops its entry first: the caller is noted instead.
        if (auto p = procs_.find(c.tgid); p != procs_.end()) {
          auto& closing = p->second.closing;
          for (auto [it, end] = closing.equal_range(fd); it != end;) {
            auto& e = it->second;
            if (e.tid == c.tid ||
                (e.reopened != 0 && e.reopened != c.tid && same_fd_table(e.tid, e.reopened) == 1)) {
              it = closing.erase(it);
              continue;
            }
            e.reopened = c.tid;
            ++it;
          }
        }
      });  // not installed: EMFILE (the target's own RLIMIT_NOFILE) answered, nothing counted
    }
  }
  return Reply::error(EIO);  // not reached: every kind is answered above
}

Reply Supervisor::on_close(Call& c) {
  if (!counted(c)) return Reply::proceed();
  const auto fd = static_cast<unsigned int>(c.arg(0));
  // kcmp names the thread by number: the answer is about the caller only if the caller was
  // still blocked in this call when it was given. No ID_VALID for that: whatever is done
  // with the answer takes effect only through our response (EBADF, or CONTINUE and then
  // the count), and the response succeeds only if the notification is still pending --
  // then the caller was blocked from RECV to the response, its tid could not name another
  // task meanwhile, and the answer was about it. A failed response undoes the bookkeeping.
  const Result<bool> open = fd > INT_MAX ? Result<bool>(false) : target::fd_open(c.tid, fd);
  if (open.ok() && !*open) return Reply::error(EBADF);  // answered here, so the kernel's view cannot differ
  const auto key = static_cast<int>(fd);
  // Another thread's close of the same number, let through earlier, may still be in flight
  // (then one of the two fails with EBADF, and only one may be subtracted). Entries are
  // kept per fd table, and an entry whose thread has since moved on is stale: that thread's
  // close took the fd out long ago, and the number was made again (dup2, F_DUPFD, an
  // uncounted open) before this close.
  //
  // `reopened` (finish_open): thread R got this number from an ADDFD after the entry's close
  // was let through. If the closer shared R's table then, its close was over. It is asked
  // now, with kcmp: fd tables only split (unshare, exec: a task takes a new table of its
  // own), never merge, so two tasks that share one now shared it then -- both tids still
  // naming the same tasks: the closer's entry goes at its next call (its exit included),
  // R's mark at its exit (supervisor.cpp), and exec or death clears the process's entries.
  // A "no" keeps the entry (fails closed: at worst a close is not subtracted).
  bool in_flight = false;
  auto& closing = c.proc.closing;
  for (auto [it, end] = closing.equal_range(key); it != end;) {
    auto& e = it->second;
    if (e.tid == c.tid) {
      it = closing.erase(it);
      continue;
    }
    if (e.reopened != 0 && e.reopened != c.tid) {
      if (same_fd_table(e.tid, e.reopened) == 1) {
        it = closing.erase(it);
        continue;
      }
      e.reopened = 0;
    }
    const int same = same_fd_table(e.tid, c.tid);
    // One of the two is gone. If it is the caller, our answer will not be taken (see above):
    // drop nothing on its word.
    if (same < 0 && ::syscall(SYS_kcmp, c.tid, c.tid, KCMP_FILES, 0, 0) < 0 && errno == ESRCH)
      return Reply::none();
    if (same < 0 || (same == 1 && (e.reopened == c.tid || !close_in_flight(c.tgid, e.tid, key)))) {
      it = closing.erase(it);
      continue;
    }
    in_flight = in_flight || same == 1;
    ++it;
  }
  if (!open.ok() || in_flight) {
    // Cannot tell, or a close of this fd may still be in flight: do not count this one.
    // Fails closed.
    return Reply::proceed();
  }
  const auto entry = closing.emplace(key, ProcState::Closing{c.tid, 0});
  c.thread.closing_fd = key;
  return Reply::proceed()
      .then([this, &c](int) {
        charge(c, Delta{0, -1});
      })
      .otherwise([&closing, entry, &thread = c.thread] {
        closing.erase(entry);
        thread.closing_fd = -1;
      });
}

}  // namespace sandbox
