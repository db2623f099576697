// SPDX-License-Identifier: Apache-2.0
// open_emulation: see the header. Everything here runs on the notify thread that called
// init(); the only state is the per-thread credential cache and a few descriptors opened
// at init (our procfs, our root, our mount namespace).
//
// Security reasoning, in one place:
//  - Every path is resolved by the kernel with the target thread's fsuid/fsgid/groups and
//    effective capabilities on OUR thread only (raw syscalls, not glibc's broadcasting
//    wrappers), with the target's root (chroot of our private fs_struct) and its cwd or
//    dirfd as the starting point. The path string was copied once by the caller; the
//    target cannot change it afterwards.
//  - Procfs is the one filesystem whose meaning depends on who looks ("self", magic
//    links). The fast path refuses magic links (RESOLVE_NO_MAGICLINKS) and sends anything
//    that ended on procfs, or failed, to the slow path, which walks the path component by
//    component, substituting the target for "self"/"thread-self" and refusing to enter
//    or jump through the supervisor's own /proc/<pid> trees; a final check on the
//    descriptor refuses anything naming /proc/<supervisor pid or tid>.
#include "open/emulation.hpp"

#include <fcntl.h>
#include <linux/capability.h>
#include <linux/magic.h>
#include <linux/nsfs.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <termios.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <optional>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <variant>
#include <vector>

#include "base/files.hpp"
#include "base/log.hpp"
#include "base/unique_fd.hpp"
#include "open/executor.hpp"
#include "target/proc_text.hpp"

namespace sandbox {
namespace {

// fs/fcntl.c / include/linux/fcntl.h (6.1).
constexpr std::uint64_t kValidOpenFlags = O_RDONLY | O_WRONLY | O_RDWR | O_CREAT | O_EXCL | O_NOCTTY |
                                          O_TRUNC | O_APPEND | O_NDELAY | O_NONBLOCK | O_SYNC | O_DSYNC |
                                          FASYNC | O_DIRECT | O_LARGEFILE | O_DIRECTORY | O_NOFOLLOW |
                                          O_NOATIME | O_CLOEXEC | O_PATH | O_TMPFILE;
// The kernel's __O_TMPFILE bit alone (glibc's __O_TMPFILE includes O_DIRECTORY).
constexpr std::uint64_t kTmpfileBit = 020000000;
constexpr std::uint64_t kOPathFlags = O_DIRECTORY | O_NOFOLLOW | O_PATH | O_CLOEXEC;
constexpr std::uint64_t kSIallugo = 07777;
constexpr int kMaxSymlinks = 40;  // include/linux/namei.h MAXSYMLINKS
constexpr std::uint64_t kScoped = RESOLVE_BENEATH | RESOLVE_IN_ROOT;

using Fd = UniqueFd;

// Returns a descriptor or -errno.
int sys_openat2(int dirfd, const char* path, std::uint64_t flags, std::uint64_t mode, std::uint64_t resolve) {
  open_how how{};
  how.flags = flags;
  how.mode = mode;
  how.resolve = resolve;
  long r = syscall(SYS_openat2, dirfd, path, &how, sizeof how);
  return r < 0 ? -errno : static_cast<int>(r);
}

int sys_openat(int dirfd, const char* path, int flags) {
  int r = ::openat(dirfd, path, flags | O_CLOEXEC);
  return r < 0 ? -errno : r;
}

std::uint64_t mount_id(const struct statx& st) {
  return st.stx_mnt_id;
}

bool statx_at(int dirfd, const char* path, int flags, struct statx& st) {
  return ::statx(dirfd, path, flags, STATX_TYPE | STATX_INO | STATX_MNT_ID, &st) == 0;
}

bool same_object(const struct statx& a, const struct statx& b) {
  return a.stx_dev_major == b.stx_dev_major && a.stx_dev_minor == b.stx_dev_minor && a.stx_ino == b.stx_ino &&
         mount_id(a) == mount_id(b);
}

bool is_procfs(int fd) {
  struct statfs sf {};
  return ::fstatfs(fd, &sf) == 0 && sf.f_type == PROC_SUPER_MAGIC;
}

bool is_number(std::string_view s) {
  if (s.empty() || s.size() > 10) return false;
  for (char c : s)
    if (c < '0' || c > '9') return false;
  return true;
}

bool read_file_at(int dirfd, const std::string& path, std::string& out) {
  std::optional<std::string> text = files::read_text(dirfd, path);
  if (!text) return false;
  out = std::move(*text);
  return true;
}

std::string read_link_at(int dirfd, const std::string& path) {
  std::string buf(256, '\0');
  for (;;) {
    ssize_t n = ::readlinkat(dirfd, path.c_str(), buf.data(), buf.size());
    if (n < 0) return {};
    if (static_cast<std::size_t>(n) < buf.size()) {
      buf.resize(static_cast<std::size_t>(n));
      return buf;
    }
    buf.resize(buf.size() * 2);
  }
}

// What of /proc/<tid>/status matters for open(2).
struct TaskCreds {
  std::uint32_t fsuid = 0;
  std::uint32_t fsgid = 0;
  std::vector<gid_t> groups;
  std::uint64_t cap_eff = 0;
  mode_t umask = 022;
  std::array<std::uint32_t, 4> uid{}, gid{};  // real, effective, saved, fs
  std::array<std::uint64_t, 6> ns{};          // opening::kNamespaces, when read
  bool operator==(const TaskCreds& o) const {
    return fsuid == o.fsuid && fsgid == o.fsgid && groups == o.groups && cap_eff == o.cap_eff;
  }
};

bool parse_creds(std::string_view text, TaskCreds& c) {
  std::uint64_t v = 0;
  for (std::size_t i = 0; i < 4; ++i) {
    if (!target::proc_value(text, "Uid", v, 10, i)) return false;
    c.uid[i] = static_cast<std::uint32_t>(v);
    if (!target::proc_value(text, "Gid", v, 10, i)) return false;
    c.gid[i] = static_cast<std::uint32_t>(v);
  }
  if (!target::proc_value(text, "Uid", v, 10, 3)) return false;
  c.fsuid = static_cast<std::uint32_t>(v);
  if (!target::proc_value(text, "Gid", v, 10, 3)) return false;
  c.fsgid = static_cast<std::uint32_t>(v);
  if (!target::proc_value(text, "CapEff", v, 16, 0)) return false;
  c.cap_eff = v;
  if (target::proc_value(text, "Umask", v, 8, 0)) c.umask = static_cast<mode_t>(v);
  c.groups.clear();
  for (std::size_t i = 0; target::proc_value(text, "Groups", v, 10, i); ++i)
    c.groups.push_back(static_cast<gid_t>(v));
  return true;
}

// Fields of /proc/<pid>/stat after the command: index 0 is field 3 (state).
bool stat_field(const std::string& text, std::size_t field, long long& out) {
  std::size_t p = text.rfind(')');
  if (p == std::string::npos) return false;
  const char* s = text.c_str() + p + 2;
  for (std::size_t f = 3; *s; ++f) {
    const char* e = std::strchr(s, ' ');
    if (f == field) {
      out = std::strtoll(s, nullptr, 10);
      return true;
    }
    if (!e) return false;
    s = e + 1;
  }
  return false;
}

struct PathComp {
  std::string name;
  bool trailing_slash = false;  // "name/" as the last component of its path
};

// Pushes the components of `path` onto `pending` (a stack: back() is next).
void push_path(std::vector<PathComp>& pending, std::string_view path, bool trailing) {
  std::vector<PathComp> comps;
  std::size_t pos = 0;
  while (pos < path.size()) {
    std::size_t slash = path.find('/', pos);
    if (slash == std::string_view::npos) slash = path.size();
    if (slash > pos) comps.push_back({std::string(path.substr(pos, slash - pos)), false});
    pos = slash + 1;
  }
  if (!comps.empty() && (trailing || path.back() == '/')) comps.back().trailing_slash = true;
  for (auto it = comps.rbegin(); it != comps.rend(); ++it) pending.push_back(std::move(*it));
}

}  // namespace

// ---- Own procfs files ----------------------------------------------------------------------
// The kernel's rule (Linux 6.1), for a file below /proc/<n> (or /proc/<n>/task/<m>) opened by
// a task T, where the file names task P (n, or m):
//  - ptrace_may_access() (kernel/ptrace.c, __ptrace_may_access) returns 0 at once when P is in
//    T's thread group (same_thread_group), before it compares T's fsuid/fsgid with P's
//    uid/euid/suid (PTRACE_MODE_FSCREDS) and before the dumpable check (a task that is not
//    SUID_DUMP_USER -- dropped from root to another uid, or PR_SET_DUMPABLE 0 -- is refused to
//    any other task without CAP_SYS_PTRACE over its mm's user namespace). mm_access()
//    (kernel/fork.c) also passes when P's mm is T's own.
//  - Where that check is made: maps, smaps, smaps_rollup, numa_maps, environ, auxv
//    (PTRACE_MODE_READ_FSCREDS) and mem (PTRACE_MODE_ATTACH_FSCREDS) at open, through
//    proc_mem_open() -> mm_access(); fdinfo/<fd> in its ->permission (proc_fdinfo_permission),
//    then generic_permission(); the magic links fd/<fd>, cwd, root, exe at the jump
//    (proc_fd_access_allowed(), PTRACE_MODE_READ_FSCREDS); and the fd directory is searchable
//    by P's thread group whatever its mode says (proc_fd_permission()).
//  - Every other check stays, with T's fsuid/fsgid/groups/capabilities: the file's mode and
//    owner (task_dump_owner() makes a non-dumpable task's files root's: its mem, environ, auxv
//    and fdinfo/<fd> are then refused by mode to a non-root T -- and the kernel says EACCES).
// The supervisor is never in the target's thread group: wearing the target's credentials, it
// fails the ptrace check where the target itself passes it. So, for exactly those files of the
// target's own thread group (own_ptrace_checked_file), the emulation checks the mode with the
// target's credentials (dac_permits) and then opens with its own, which pass the ptrace check
// as same_thread_group() does; magic links of the group are jumped with its own (slow_open).
// Safe: the file is the target's own (its thread group, in our procfs), the kernel would open
// it for the target, and none of these files consults the opener's credentials after open
// (pagemap does -- PFNs for a CAP_SYS_ADMIN f_cred --, stack and syscall check at read, by the
// target itself: none of them is on the list).
// Not followed: mm_access()'s pass for a CLONE_VM process of another thread group sharing the
// caller's mm (docs/semantics.md).
bool own_ptrace_checked_file(const std::vector<std::string>& where, std::string_view name) {
  const std::size_t n = where.size();
  const bool task = n >= 3 && where[1] == "task" && is_number(where[2]);
  if (n == 0 || !is_number(where[0]) || (n >= 3 && !task)) return false;
  if (n == 1 || (n == 3 && task)) {
    for (std::string_view f : {"maps", "smaps", "smaps_rollup", "numa_maps", "environ", "auxv", "mem"})
      if (name == f) return true;
    return false;
  }
  const bool fdinfo = (n == 2 && where[1] == "fdinfo") || (n == 4 && task && where[3] == "fdinfo");
  return fdinfo && is_number(name);
}

bool dac_permits(std::uint32_t uid, std::uint32_t gid, std::uint32_t mode, std::uint32_t fsuid,
                 std::uint32_t fsgid, const std::vector<gid_t>& groups, std::uint64_t cap_eff, int may) {
  // acl_permission_check(): the owner's bits for the owner, else the group's for a member,
  // else the others'. (Procfs has no ACLs.)
  std::uint32_t bits = mode & 7;
  if (uid == fsuid) {
    bits = (mode >> 6) & 7;
  } else if (gid == fsgid || std::find(groups.begin(), groups.end(), gid) != groups.end()) {
    bits = (mode >> 3) & 7;
  }
  if ((static_cast<std::uint32_t>(may) & ~bits) == 0) return true;
  // capable_wrt_inode_uidgid(): CAP_DAC_OVERRIDE for read and write of a non-directory,
  // CAP_DAC_READ_SEARCH for read.
  if (cap_eff & (1ULL << CAP_DAC_OVERRIDE)) return true;
  return may == 4 && (cap_eff & (1ULL << CAP_DAC_READ_SEARCH));
}

// Caches shared by the emulators of every serving thread (guarded by mu). Lookups copy
// out: an entry may be dropped by another thread while an open is in progress.
struct OpenEmulator::Shared {
  std::mutex mu;
  std::unordered_map<pid_t, bool> same_root;  // tgid -> the target's root is ours (cache)
  bool roots_change = false;                  // root_may_change() was called: no cache
  std::unordered_map<pid_t, std::shared_ptr<const TaskCreds>> creds_cache;
  std::unordered_map<pid_t, pid_t> tid_tgid;
  // Opens of targets in other namespaces (executor.hpp), started on first use.
  std::array<std::uint64_t, 6> our_ns{};
  std::unique_ptr<opening::Executors> executors;
};

std::shared_ptr<OpenEmulator::Shared> OpenEmulator::make_shared_state() {
  return std::make_shared<Shared>();
}

namespace {
// The open_how the kernel builds (fs/open.c build_open_how(), 6.1), and what follows from it.
struct How {
  std::uint64_t flags = 0, mode = 0, resolve = 0;
  int dirfd = AT_FDCWD;
  bool needs_dir = false;  // the path is looked up from a directory (relative, or RESOLVE_IN_ROOT)
  bool creates = false;
};
}  // namespace

struct OpenEmulator::Impl {
  Fd proc;      // our procfs root, usable whatever our root is
  Fd our_root;  // our own "/" (to come back from a chroot into a target's root)
  struct statx root_stx {};
  pid_t our_pid = 0;   // the supervisor
  pid_t self_pid = 0;  // this process (an executor's own pid, in an executor)
  TaskCreds self;      // this thread's creds as /proc shows them
  std::uint32_t euid = 0, egid = 0;
  std::vector<gid_t> groups;
  __user_cap_data_struct caps[2]{};
  int dumpable = 1;
  int pdeathsig = 0;
  bool chrooted = false;
  const TaskCreds* worn = nullptr;  // creds currently worn (nullptr: our own)

  // ---- credentials -----------------------------------------------------------------
  int wear(const TaskCreds& t) {
    // Only this thread changes: raw syscalls, never the glibc wrappers (which use
    // SIGSETXID to apply the change to every thread of the supervisor).
    // Each change is made only if needed: every cred change costs an RCU-freed copy.
    if ((t.groups != groups && syscall(SYS_setgroups, t.groups.size(), t.groups.data()) != 0) ||
        (t.fsgid != egid && syscall(SYS_setresgid, -1, t.fsgid, -1) != 0) ||
        (t.fsuid != euid && syscall(SYS_setresuid, -1, t.fsuid, -1) != 0)) {
      unwear_always();
      return -EPERM;
    }
    // The real and saved uid stay ours (0), so the permitted set survives and the
    // effective set can be set to the target's (a subset of permitted, or EPERM).
    __user_cap_header_struct hdr{_LINUX_CAPABILITY_VERSION_3, 0};
    __user_cap_data_struct data[2];
    std::memcpy(data, caps, sizeof data);
    data[0].effective = static_cast<std::uint32_t>(t.cap_eff);
    data[1].effective = static_cast<std::uint32_t>(t.cap_eff >> 32);
    worn = &t;
    // (A uid change away from 0 cleared the effective set: set it again then too.)
    if ((t.cap_eff != self.cap_eff || t.fsuid != euid) && syscall(SYS_capset, &hdr, data) != 0) {
      unwear();
      return -EPERM;
    }
    return 0;
  }
  void unwear_always() {
    __user_cap_header_struct hdr{_LINUX_CAPABILITY_VERSION_3, 0};
    const bool uid_changed = !worn || worn->fsuid != euid;
    if ((uid_changed && syscall(SYS_setresuid, -1, euid, -1) != 0) ||
        ((!worn || worn->cap_eff != self.cap_eff || uid_changed) && syscall(SYS_capset, &hdr, caps) != 0) ||
        ((!worn || worn->fsgid != egid) && syscall(SYS_setresgid, -1, egid, -1) != 0) ||
        ((!worn || worn->groups != groups) && syscall(SYS_setgroups, groups.size(), groups.data()) != 0)) {
      // Continuing with a target's identity (or without ours) would be a security bug.
      log::printf(log::Level::error, "open_emulation: cannot restore the supervisor's credentials: %s",
                  std::strerror(errno));
      std::abort();
    }
    // commit_creds() resets these when the euid/egid/fsuid/fsgid change.
    if (!worn || worn->fsuid != euid || worn->fsgid != egid) {
      if (prctl(PR_GET_DUMPABLE) != dumpable) prctl(PR_SET_DUMPABLE, dumpable);
      if (pdeathsig != 0) prctl(PR_SET_PDEATHSIG, pdeathsig);
    }
    worn = nullptr;
  }
  void unwear() {
    if (worn) unwear_always();
  }
  // The supervisor's own credentials for one step of a walk made with the target's worn
  // (`own` false, or none worn: no change); back() wears the target's again.
  class OwnForAStep {
   public:
    explicit OwnForAStep(Impl& im, bool own = true) : im_(im), was_(own ? im.worn : nullptr) {
      if (was_) im_.unwear();
    }
    OwnForAStep(const OwnForAStep&) = delete;
    OwnForAStep& operator=(const OwnForAStep&) = delete;
    // The target's credentials again, then `r` (a descriptor or -errno) -- or, if they
    // cannot be worn again (we are then back in our own), -errno with `r` closed.
    int back(int r) {
      const TaskCreds* was = std::exchange(was_, nullptr);
      if (!was) return r;
      if (int e = im_.wear(*was); e < 0) {
        if (r >= 0) ::close(r);
        return e;
      }
      return r;
    }
    ~OwnForAStep() {
      if (was_) (void)im_.wear(*was_);  // a path out without back(): the walk is ending anyway
    }

   private:
    Impl& im_;
    const TaskCreds* was_;
  };
  // The target's root and credentials for one open; the supervisor's again when it ends,
  // whatever the way out.
  class InTarget {
   public:
    explicit InTarget(Impl& im) : im_(im) {}
    InTarget(const InTarget&) = delete;
    InTarget& operator=(const InTarget&) = delete;
    int enter(pid_t tid, bool same_root, const TaskCreds& creds) {
      if (!same_root)
        if (int e = im_.enter_root(tid); e < 0) return e;
      if (!(creds == im_.self))
        if (int e = im_.wear(creds); e < 0) return e;
      return 0;
    }
    ~InTarget() {
      im_.unwear();
      if (im_.chrooted) im_.leave_root_always();
    }

   private:
    Impl& im_;
  };

  // ---- root --------------------------------------------------------------------------
  int enter_root(pid_t tid) {
    // chroot of our private fs_struct (init() unshared it) into the target's root, so
    // absolute paths and absolute symlinks resolve exactly as for the target.
    Fd r(::openat(proc.get(), (std::to_string(tid) + "/root").c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
    if (r.get() < 0) return errno == ENOENT ? -ESRCH : -errno;
    if (::fchdir(r.get()) != 0 || ::chroot(".") != 0) {
      int e = errno;
      leave_root_always();
      return -e;
    }
    chrooted = true;
    return 0;
  }
  void leave_root_always() {
    if (::fchdir(our_root.get()) != 0 || ::chroot(".") != 0) {
      log::printf(log::Level::error, "open_emulation: cannot restore the supervisor's root: %s",
                  std::strerror(errno));
      std::abort();
    }
    chrooted = false;
  }

  // ---- helpers -------------------------------------------------------------------------
  // Is pid `n` (a number in the procfs whose root is `proc_root`) one of our threads?
  bool is_ours(int proc_root, const std::string& n) const {
    const std::string task = std::to_string(our_pid) + "/task/" + n;
    return ::faccessat(proc_root, task.c_str(), F_OK, AT_SYMLINK_NOFOLLOW) == 0;
  }

  // Where a procfs descriptor is, relative to its procfs root ("123/task/124/fd"), from
  // its path (reachable from our current root). nullopt if it cannot be told.
  std::optional<std::vector<std::string>> proc_location(int fd) const {
    std::string path = read_link_at(proc.get(), "self/fd/" + std::to_string(fd));
    if (path.empty() || path[0] != '/') return std::nullopt;
    std::vector<std::string> comps;
    for (std::size_t pos = 1; pos <= path.size();) {
      std::size_t e = path.find('/', pos);
      if (e == std::string::npos) e = path.size();
      if (e > pos) comps.push_back(path.substr(pos, e - pos));
      pos = e + 1;
    }
    // The innermost procfs root on the path.
    for (std::size_t i = comps.size() + 1; i-- > 0;) {
      std::string prefix = "/";
      for (std::size_t j = 0; j < i; ++j) prefix += comps[j] + "/";
      Fd d(::open(prefix.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
      struct statx st {};
      if (d.get() >= 0 && statx_at(d.get(), "", AT_EMPTY_PATH, st) && st.stx_ino == 1 && is_procfs(d.get()))
        return std::vector<std::string>(comps.begin() + static_cast<long>(i), comps.end());
    }
    return std::nullopt;
  }

  // Refuses (true) a procfs file naming /proc/<one of our threads>/...
  bool names_supervisor(int fd) const {
    std::string path = read_link_at(proc.get(), "self/fd/" + std::to_string(fd));
    if (path.empty() || path[0] != '/') return true;  // cannot tell: fail closed
    std::size_t pos = 1;
    std::string prefix = "/";
    while (pos <= path.size()) {
      std::size_t e = path.find('/', pos);
      if (e == std::string::npos) e = path.size();
      std::string comp = path.substr(pos, e - pos);
      if (is_number(comp)) {
        Fd d(::open(prefix.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
        struct statx st {};
        if (d.get() >= 0 && statx_at(d.get(), "", AT_EMPTY_PATH, st) && st.stx_ino == 1 &&
            is_procfs(d.get()) && is_ours(d.get(), comp))
          return true;
      }
      if (!comp.empty()) prefix += comp + "/";
      pos = e + 1;
    }
    return false;
  }

  // Is the procfs directory `dir`, at `where` below its root, one of a task of thread group
  // `tgid` (/proc/<n>/..., /proc/<n>/task/<m>/...: n, or m, is a thread of tgid)? Only in our
  // own procfs (the numbers are pids of our namespace): elsewhere, no.
  bool in_thread_group(int dir, const std::vector<std::string>& where, pid_t tgid) const {
    if (where.empty() || !is_number(where[0])) return false;
    const bool task_dir = where.size() >= 3 && where[1] == "task";
    const std::string& task = task_dir ? where[2] : where[0];
    struct stat a {
    }, b{};
    if (::fstat(dir, &a) != 0 || ::fstat(proc.get(), &b) != 0 || a.st_dev != b.st_dev) return false;
    if (task == std::to_string(tgid)) return true;
    // The caller is blocked in its call, so its thread group lives; a thread that exits
    // after this answer leaves `dir` naming a dead task, through which nothing opens.
    const std::string thread = std::to_string(tgid) + "/task/" + task;
    return is_number(task) && ::faccessat(proc.get(), thread.c_str(), F_OK, AT_SYMLINK_NOFOLLOW) == 0;
  }

  // Is `dir` the fd or fdinfo directory of a thread of the target's own thread group?
  bool in_own_fd_dir(int dir, pid_t tgid) const {
    if (!is_procfs(dir)) return false;
    auto where = proc_location(dir);
    if (!where || where->empty()) return false;
    const auto& w = *where;
    const std::string& last = w.back();
    if (last != "fd" && last != "fdinfo") return false;
    if (w.size() != 2 && !(w.size() == 4 && w[1] == "task")) return false;
    return in_thread_group(dir, w, tgid);
  }

  // `name` in the procfs directory `dir`, of which `file` is an O_PATH descriptor, refused
  // (EACCES) by the open with the target's credentials worn: if it is one of the target's
  // own files that the kernel opens without a ptrace check ("Own procfs files" above), its
  // mode is checked with the target's credentials and it is opened with ours. A descriptor,
  // or -EACCES when that rule does not apply.
  int open_own_proc_file(int dir, int file, const std::string& name, std::uint64_t final_flags, pid_t tgid) {
    if (!worn) return -EACCES;  // not wearing: an executor, whose own credentials are the target's
    auto where = proc_location(dir);
    if (!where || !own_ptrace_checked_file(*where, name) || !in_thread_group(dir, *where, tgid))
      return -EACCES;
    struct statx st {};
    if (::statx(file, "", AT_EMPTY_PATH,
                STATX_TYPE | STATX_MODE | STATX_UID | STATX_GID | STATX_INO | STATX_MNT_ID, &st) != 0 ||
        !S_ISREG(st.stx_mode))
      return -EACCES;
    // build_open_flags(): MAY_READ / MAY_WRITE from the access mode, MAY_WRITE for O_TRUNC.
    const std::uint64_t acc = final_flags & O_ACCMODE;
    int may = 0;
    if (acc != O_WRONLY) may |= 4;
    if (acc != O_RDONLY || (final_flags & O_TRUNC)) may |= 2;
    if (!dac_permits(st.stx_uid, st.stx_gid, st.stx_mode & 07777, worn->fsuid, worn->fsgid, worn->groups,
                     worn->cap_eff, may))
      return -EACCES;
    OwnForAStep step(*this);
    // By its name (not through a magic link: the file keeps the target's flags, O_NOFOLLOW too),
    // and only if that is still the file whose mode was checked.
    int r = sys_openat2(dir, name.c_str(), final_flags, 0, RESOLVE_NO_SYMLINKS);
    struct statx again {};
    if (r >= 0 && (!statx_at(r, "", AT_EMPTY_PATH, again) || !same_object(again, st))) {
      ::close(r);
      r = -EACCES;
    }
    return step.back(r);
  }

  // The calling thread's descriptor `fd` (a dirfd), as an O_PATH file of ours. Taken from
  // the thread's own fd table: after unshare(CLONE_FILES) it is not the process's, and
  // once the leader has exited the process pidfd names a zombie without one. Returns a
  // descriptor or -errno (EBADF: not open in that table).
  int thread_fd(const OpenRequest& req, int fd) const {
    // pidfd_getfd needs PTRACE_MODE_ATTACH_REALCREDS: the supervisor is root. The thread
    // is blocked in our notification, so its tid names it; the caller checks id_valid
    // before using anything we return.
    if (req.pidfd >= 0 && req.tid == req.tgid) {
      const long r = syscall(SYS_pidfd_getfd, req.pidfd, fd, 0);
      return r < 0 ? -errno : static_cast<int>(r);
    }
    // PIDFD_THREAD (6.9): a pidfd for this thread, whose fd table pidfd_getfd reads.
    const long pfd = syscall(SYS_pidfd_open, req.tid, O_EXCL /* PIDFD_THREAD */);
    if (pfd >= 0) {
      const long r = syscall(SYS_pidfd_getfd, static_cast<int>(pfd), fd, 0);
      const int e = errno;
      ::close(static_cast<int>(pfd));
      return r < 0 ? -e : static_cast<int>(r);
    }
    if (errno != EINVAL) return errno == ESRCH ? -ESRCH : -errno;
    // Older kernels: /proc/<tid>/fd/<fd> follows the thread's own table too. An O_PATH
    // reopen of the same path: for a dirfd only the path (dentry and mount) matters.
    const std::string link = std::to_string(req.tid) + "/fd/" + std::to_string(fd);
    const int r = ::openat(proc.get(), link.c_str(), O_PATH | O_CLOEXEC);
    if (r >= 0) return r;
    return errno == ENOENT ? -EBADF : -errno;
  }

  struct Walk;  // slow_open's state and steps
  int slow_open(int start, const std::string& path, std::uint64_t flags, std::uint64_t mode,
                std::uint64_t resolve, pid_t tid, pid_t tgid, bool& tty_dev);

  // The kernel's may_follow_link() for the symlink `name` in `dir`, which the slow path is
  // about to follow itself: a nosymfollow mount refuses (ELOOP), and so does
  // fs.protected_symlinks (EACCES) for a link in a sticky world-writable directory owned
  // by neither the follower (our fsuid: the target's, worn or taken) nor the directory's
  // owner. 0 or -errno.
  int may_follow(int dir, const char* name) const {
    struct statfs sf {};
    if (::fstatfs(dir, &sf) == 0 && (sf.f_flags & 0x2000 /* ST_NOSYMFOLLOW */)) return -ELOOP;
    struct statx d {
    }, l{};
    if (!statx_at(dir, "", AT_EMPTY_PATH, d) || (d.stx_mode & (S_ISVTX | S_IWOTH)) != (S_ISVTX | S_IWOTH))
      return 0;
    std::string v;
    if (!read_file_at(proc.get(), "sys/fs/protected_symlinks", v) || v.empty() || v[0] == '0') return 0;
    if (!statx_at(dir, name, AT_SYMLINK_NOFOLLOW, l)) return 0;
    const auto fsuid = static_cast<std::uint32_t>(::syscall(SYS_setfsuid, -1));  // reads it
    if (l.stx_uid == fsuid || l.stx_uid == d.stx_uid) return 0;
    return -EACCES;
  }

  // What "self" ("thread-self") says to the target in `procfs`, a procfs of another pid
  // namespace than ours (a container's /proc, where our pid means nothing): the target's pid
  // in that namespace. The namespace is found on the chain from the target's own pid
  // namespace up to ours (NS_GET_PARENT); k steps up, the pid is the k-th NSpid from the end
  // of its status, read through our own procfs. A namespace not on that chain and not one we
  // are in ourselves ("self" there is ENOENT to us as well) holds no pid of the target:
  // -ENOENT, as the kernel's proc_self_get_link() says. Anything else (a namespace above
  // ours, pid 1 of that procfs gone, a check that fails) is -EPERM: fail closed.
  // Safe: the calling thread is blocked in its notification, and a task never changes pid
  // namespace; a procfs mount's namespace is its pid 1's, and pid 1 is always a member of
  // the namespace it is init of.
  static constexpr std::size_t kPidNsLevels = 33;
  std::variant<std::string, int> self_in_other_pid_ns(int procfs, pid_t tgid, pid_t tid, bool thread) {
    struct stat ns_there {};
    const std::string task = std::to_string(tgid) + "/task/" + std::to_string(tid);
    if (::fstatat(procfs, "1/ns/pid", &ns_there, 0) != 0) return -EPERM;
    UniqueFd ns(::openat(proc.get(), (task + "/ns/pid").c_str(), O_RDONLY | O_CLOEXEC));
    if (!ns) return -EPERM;
    std::size_t up = 0;
    for (;; ++up) {
      struct stat st {};
      if (::fstat(ns.get(), &st) != 0) return -EPERM;
      if (st.st_dev == ns_there.st_dev && st.st_ino == ns_there.st_ino) break;
      if (up >= kPidNsLevels) return -EPERM;  // the kernel nests at most 32: never looped
      const int parent = ::ioctl(ns.get(), NS_GET_PARENT);
      if (parent < 0) {
        // EPERM: past our own namespace. The procfs is not on the target's chain below us;
        // if it is not above us either (we have no pid there), the target has none there.
        if (errno != EPERM) return -EPERM;
        char link[32];
        const bool we_have_one = ::readlinkat(procfs, "self", link, sizeof link) >= 0;
        return !we_have_one && errno == ENOENT ? -ENOENT : -EPERM;
      }
      ns.reset(parent);
    }
    auto nth_from_end = [&](const std::string& dir) -> std::string {
      std::string status;
      if (!read_file_at(proc.get(), dir + "/status", status)) return {};
      std::string_view rest = target::proc_field(status, "NSpid");
      std::vector<pid_t> pids;
      for (pid_t n = 0; target::take_num(rest, n);) pids.push_back(n);
      if (up >= pids.size() || pids[pids.size() - 1 - up] <= 0) return {};
      return std::to_string(pids[pids.size() - 1 - up]);
    };
    const std::string p = nth_from_end(std::to_string(tgid));
    if (p.empty()) return -EPERM;
    if (!thread) return p;
    const std::string t = nth_from_end(task);
    if (t.empty()) return -EPERM;
    return p + "/task/" + t;
  }

  // Mounts whose filesystem is known, by unique mount id: procfs or not. A mount's
  // superblock is fixed for its life and a unique id (STATX_MNT_ID_UNIQUE, Linux 6.8) is
  // never reused, so the answer of fstatfs() for any file of that mount never changes.
  std::unordered_map<std::uint64_t, bool> mount_procfs;
  static constexpr std::size_t kMountsCached = 1024;

  // statx of the open file `fd` (type, mode, rdev, mount) and whether it lies on a procfs:
  // one statx when its mount is known, else fstatfs as well (every time on kernels without
  // unique mount ids). 0 or -errno.
  int file_info(int fd, struct statx& st, bool& procfs) {
    constexpr unsigned kMntIdUnique = 0x4000;  // STATX_MNT_ID_UNIQUE
    if (::statx(fd, "", AT_EMPTY_PATH, STATX_TYPE | STATX_MODE | kMntIdUnique, &st) != 0) return -errno;
    const bool unique = st.stx_mask & kMntIdUnique;
    if (unique) {
      if (auto it = mount_procfs.find(st.stx_mnt_id); it != mount_procfs.end()) {
        procfs = it->second;
        return 0;
      }
    }
    struct statfs sf {};
    if (::fstatfs(fd, &sf) != 0) return -errno;
    procfs = sf.f_type == PROC_SUPER_MAGIC;
    if (unique) {
      if (mount_procfs.size() >= kMountsCached) mount_procfs.clear();
      mount_procfs.emplace(st.stx_mnt_id, procfs);
    }
    return 0;
  }

  // The open itself, in whatever context this thread (or executor) is in: the kernel's
  // walk first, the userspace walk when procfs may be involved. A descriptor or -errno.
  // `fast`, when given, receives file_info() of a descriptor the fast path opened (then
  // `*fast_known` is set): the caller need not ask again.
  // OpenEmulator::open's steps (below it).
  int credentials(Shared& sh, const OpenRequest& req, bool creates, std::shared_ptr<const TaskCreds>& creds,
                  std::optional<bool>& cached_root);
  int root_and_dir(Shared& sh, const OpenRequest& req, const How& h, bool other_ns,
                   std::optional<bool> cached_root, bool& same_root, Fd& dir);
  OpenOutcome outcome(const OpenRequest& req, const How& h, int r, bool tty_dev, const struct statx& fast_st,
                      bool fast_known);

  int perform(int start, const std::string& path, std::uint64_t flags, std::uint64_t mode,
              std::uint64_t resolve, pid_t tid, pid_t tgid, bool& tty_dev, struct statx* fast = nullptr,
              bool* fast_known = nullptr) {
    const bool scoped = resolve & kScoped;
    const std::uint64_t final_flags =
        flags | O_CLOEXEC | ((flags & O_PATH) ? 0 : static_cast<std::uint64_t>(O_NOCTTY));
    bool slow = false;
    int r =
        sys_openat2(start, path.c_str(), final_flags, mode, resolve | (scoped ? 0 : RESOLVE_NO_MAGICLINKS));
    if (r >= 0) {
      struct statx st {};
      bool procfs = false;
      if (int e = file_info(r, st, procfs); e < 0) {
        ::close(r);
        return e;
      }
      if (procfs) {
        ::close(r);
        slow = true;
      } else if (fast && fast_known) {
        *fast = st;
        *fast_known = true;
      }
    } else if (r != -EINVAL && r != -ENAMETOOLONG && r != -E2BIG && r != -EAGAIN && r != -EINTR &&
               !(r == -ELOOP && (resolve & (RESOLVE_NO_MAGICLINKS | RESOLVE_NO_SYMLINKS))) &&
               !(r == -EXDEV && scoped)) {
      // Any other failure may have come from OUR view of procfs (/proc/self/fd/N,
      // /proc/self/task/<target tid>, a magic link refused): decide on the slow path.
      slow = true;
    }
    if (slow) r = slow_open(start, path, flags, mode, resolve, tid, tgid, tty_dev);
    return r;
  }
};

// The userspace walk: one component at a time, O_PATH|O_NOFOLLOW, so that every symlink
// is seen and procfs "self" and magic links are resolved for the target, not for us.
// Runs with the target's credentials worn. Each step returns the walk's result (a
// descriptor or -errno), or nullopt to go on with the next component.
struct OpenEmulator::Impl::Walk {
  Impl& im;
  const int start;
  const std::uint64_t flags, mode;
  const pid_t tid, tgid;
  bool& tty_dev;
  const bool beneath, in_root, no_links, no_magic, no_xdev;
  const std::uint64_t step_resolve, final_flags;
  Fd cur;
  int depth = 0;  // for scoped lookups: components below the starting directory
  std::uint64_t start_mnt = 0;
  bool cur_proc_root = false;
  std::vector<PathComp> pending;
  int links = 0;

  Walk(Impl& i, int st, std::uint64_t fl, std::uint64_t md, std::uint64_t resolve, pid_t t, pid_t g,
       bool& tty)
      : im(i),
        start(st),
        flags(fl),
        mode(md),
        tid(t),
        tgid(g),
        tty_dev(tty),
        beneath(resolve & RESOLVE_BENEATH),
        in_root(resolve & RESOLVE_IN_ROOT),
        no_links(resolve & RESOLVE_NO_SYMLINKS),
        no_magic(no_links || (resolve & RESOLVE_NO_MAGICLINKS)),
        no_xdev(resolve & RESOLVE_NO_XDEV),
        step_resolve(resolve & (RESOLVE_NO_XDEV | RESOLVE_CACHED)),
        final_flags(fl | O_CLOEXEC | ((fl & O_PATH) ? 0 : static_cast<std::uint64_t>(O_NOCTTY))) {}

  int open_here() const { return sys_openat2(cur.get(), ".", final_flags, mode, step_resolve); }
  // cur is a procfs root (where "self" and pid directories are).
  void at(const struct statx& st) { cur_proc_root = st.stx_ino == 1 && is_procfs(cur.get()); }

  int open_root() {
    if (beneath) return -EXDEV;
    int r = in_root ? sys_openat(start, ".", O_PATH | O_DIRECTORY)
                    : sys_openat(AT_FDCWD, "/", O_PATH | O_DIRECTORY);
    if (r < 0) return r;
    cur.reset(r);
    depth = 0;
    return 0;
  }

  int begin(const std::string& path) {
    if (path.empty()) return -ENOENT;
    if (path[0] == '/') {
      if (int r = open_root(); r < 0) return r;
    } else {
      int r = sys_openat(start, ".", O_PATH);
      if (r < 0) return r;
      cur.reset(r);
    }
    struct statx start_stx {};
    if (!statx_at(cur.get(), "", AT_EMPTY_PATH, start_stx)) return -errno;
    start_mnt = mount_id(start_stx);
    at(start_stx);
    push_path(pending, path, false);
    return 0;
  }

  // Follows a symlink whose text is `target`; `trail` carries a trailing slash.
  int follow_text(const std::string& target, bool trail) {
    if (no_links) return -ELOOP;
    if (++links > kMaxSymlinks) return -ELOOP;
    if (target.empty()) return -ENOENT;
    if (target[0] == '/') {
      if (int r = open_root(); r < 0) return r;
      struct statx st {};
      if (!statx_at(cur.get(), "", AT_EMPTY_PATH, st)) return -errno;
      if (no_xdev && mount_id(st) != start_mnt) return -EXDEV;
      at(st);
    }
    push_path(pending, target, trail);
    return 0;
  }

  std::optional<int> dot_dot(bool final) {
    if ((beneath || in_root) && depth == 0) {
      if (beneath) return -EXDEV;  // ".." out of the scope
    } else {
      // The kernel keeps ".." at our fs root, which is the target's root here.
      int r = sys_openat2(cur.get(), "..", O_PATH | O_CLOEXEC, 0, step_resolve);
      if (r < 0) return r;
      cur.reset(r);
      if (depth > 0) --depth;
    }
    struct statx st {};
    if (!statx_at(cur.get(), "", AT_EMPTY_PATH, st)) return -errno;
    at(st);
    if (final) return open_here();
    return std::nullopt;
  }

  // "self" and "thread-self" are symlinks whose text depends on the reader: give the
  // target's. Only valid if this procfs shows pids of our pid namespace.
  std::optional<int> proc_self(const PathComp& comp, bool final) {
    if (final && ((flags & O_NOFOLLOW) || ((flags & O_CREAT) && (flags & O_EXCL))))
      return sys_openat2(cur.get(), comp.name.c_str(), final_flags, mode, step_resolve);
    std::string text;
    if (read_link_at(cur.get(), "self") == std::to_string(im.self_pid)) {
      text = std::to_string(tgid);
      if (comp.name == "thread-self") text += "/task/" + std::to_string(tid);
    } else {
      // A container's /proc: the target's pids in that namespace (or ENOENT, or EPERM).
      auto t = im.self_in_other_pid_ns(cur.get(), tgid, tid, comp.name == "thread-self");
      if (const int* err = std::get_if<int>(&t)) return *err;
      text = std::get<std::string>(t);
    }
    if (int r = follow_text(text, comp.trailing_slash); r < 0) return r;
    return std::nullopt;
  }

  // The last component: let the kernel open it, refusing a trailing symlink (which we then
  // follow ourselves). O_NOFOLLOW/O_EXCL: the kernel's answer is the answer.
  std::optional<int> last_by_kernel(const PathComp& comp, bool procfs_dir) {
    int r = sys_openat2(cur.get(), comp.name.c_str(), final_flags, mode, step_resolve | RESOLVE_NO_SYMLINKS);
    if (r == -ENXIO) {
      struct stat st {};
      tty_dev = ::fstatat(cur.get(), comp.name.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0 &&
                S_ISCHR(st.st_mode) && st.st_rdev == makedev(5, 0);
    }
    if (r == -EACCES && procfs_dir && !cur_proc_root) {
      // O_NOFOLLOW (or O_CREAT|O_EXCL) on a file of /proc/<pid>: the target's own?
      Fd file(sys_openat2(cur.get(), comp.name.c_str(), O_PATH | O_NOFOLLOW | O_CLOEXEC, 0, step_resolve));
      if (file.get() >= 0) {
        const int own = im.open_own_proc_file(cur.get(), file.get(), comp.name, final_flags, tgid);
        if (own != -EACCES) return own;
      }
    }
    if (r != -ELOOP || (flags & O_NOFOLLOW) || no_links) return r;
    if (int e = im.may_follow(cur.get(), comp.name.c_str()); e < 0) return e;
    std::string text = read_link_at(cur.get(), comp.name);
    if (text.empty()) return -ELOOP;
    if (int e = follow_text(text, false); e < 0) return e;
    return std::nullopt;
  }

  // A procfs magic link (/proc/<pid>/{fd/*,cwd,root,exe,map_files/*,ns/*}).
  std::optional<int> magic_link(const PathComp& comp, bool last) {
    if (no_magic) return -ELOOP;
    if (++links > kMaxSymlinks) return -ELOOP;
    auto where = im.proc_location(cur.get());
    if (!where || where->empty() || !is_number((*where)[0])) return -EACCES;
    const std::string& owner = (*where)[0];
    if (owner == std::to_string(im.our_pid)) return -EACCES;
    // The target's own: a thread of its group ("Own procfs files": proc_fd_access_allowed()).
    const bool own = im.in_thread_group(cur.get(), *where, tgid);
    // The jump itself. For the target's own links the kernel would skip the ptrace
    // checks (same thread group), so we jump with our own credentials; permission on
    // the file reached is still checked with the target's at the final open.
    OwnForAStep step(im, own);
    const int j = step.back(sys_openat(cur.get(), comp.name.c_str(), O_PATH));
    if (j < 0) return j;
    Fd jumped(j);
    struct statx jst {};
    if (!statx_at(jumped.get(), "", AT_EMPTY_PATH, jst)) return -errno;
    if (no_xdev && mount_id(jst) != start_mnt) return -EXDEV;
    if (beneath || in_root) return -EXDEV;  // nd_jump_link(): not for scoped lookups
    if (last) {
      if (comp.trailing_slash && !S_ISDIR(jst.stx_mode)) return -ENOTDIR;
      // Reopen what the link points to, as the kernel does after the jump.
      std::string self_fd = "self/fd/" + std::to_string(jumped.get());
      int o = comp.trailing_slash ? sys_openat2(jumped.get(), ".", final_flags, mode, step_resolve)
                                  : sys_openat2(im.proc.get(), self_fd.c_str(), final_flags, mode, 0);
      if (o == -ENXIO)
        tty_dev = S_ISCHR(jst.stx_mode) && makedev(jst.stx_rdev_major, jst.stx_rdev_minor) == makedev(5, 0);
      return o;
    }
    if (!S_ISDIR(jst.stx_mode)) return -ENOTDIR;
    cur = std::move(jumped);
    at(jst);
    return std::nullopt;
  }

  // One step, without following: a symlink is followed (or jumped, for a magic link), a
  // directory entered; the last component opened.
  std::optional<int> step(const PathComp& comp, bool last, bool final) {
    int r = sys_openat2(cur.get(), comp.name.c_str(), O_PATH | O_NOFOLLOW | O_CLOEXEC, 0, step_resolve);
    if (r == -EACCES && im.worn && im.in_own_fd_dir(cur.get(), tgid)) {
      // The target's own /proc/<pid>/fd and fdinfo are always searchable by itself
      // (proc_fd_permission(): same thread group), whatever their mode says.
      OwnForAStep own(im);
      r = own.back(
          sys_openat2(cur.get(), comp.name.c_str(), O_PATH | O_NOFOLLOW | O_CLOEXEC, 0, step_resolve));
    }
    if (r < 0) return r;
    Fd next(r);
    struct statx st {};
    if (!statx_at(next.get(), "", AT_EMPTY_PATH, st)) return -errno;
    if (S_ISLNK(st.stx_mode)) {
      if (is_procfs(next.get()) && !cur_proc_root) return magic_link(comp, last);
      // An ordinary symlink (procfs root ones like "mounts" -> "self/mounts" too).
      if (int e = im.may_follow(cur.get(), comp.name.c_str()); e < 0) return e;
      if (int e = follow_text(read_link_at(next.get(), ""), comp.trailing_slash); e < 0) return e;
      return std::nullopt;
    }
    if (final) {
      // A file inside a procfs directory: reopen what the step found, so that only the
      // file's own permission is checked (with the target's credentials).
      std::string self_fd = "self/fd/" + std::to_string(next.get());
      const int o = sys_openat2(im.proc.get(), self_fd.c_str(), final_flags, mode, 0);
      if (o == -EACCES && is_procfs(cur.get())) {
        const int own = im.open_own_proc_file(cur.get(), next.get(), comp.name, final_flags, tgid);
        if (own != -EACCES) return own;
      }
      return o;
    }
    if ((!last || comp.trailing_slash) && !S_ISDIR(st.stx_mode)) return -ENOTDIR;
    cur = std::move(next);
    ++depth;
    at(st);
    if (last) return open_here();  // "name/": a directory, open it now
    return std::nullopt;
  }

  // The next component, or the result.
  std::optional<int> next() {
    // Nothing left ("/", "a/.." ...): open the directory we are in.
    if (pending.empty()) return open_here();
    PathComp comp = std::move(pending.back());
    pending.pop_back();
    const bool last = pending.empty();
    const bool final = last && !comp.trailing_slash;
    if (last && comp.trailing_slash && (flags & O_CREAT) && comp.name != "." && comp.name != "..")
      return -EISDIR;  // open_last_lookups(): O_CREAT with a trailing slash
    if (comp.name.size() > 255) return -ENAMETOOLONG;
    if (comp.name == ".") return final ? std::optional<int>(open_here()) : std::nullopt;
    if (comp.name == "..") return dot_dot(final);
    if (cur_proc_root) {
      if (comp.name == "self" || comp.name == "thread-self") return proc_self(comp, final);
      if (is_number(comp.name) && im.is_ours(cur.get(), comp.name)) return -EACCES;
    }
    if (final) {
      const bool procfs_dir = is_procfs(cur.get());
      if (!procfs_dir || cur_proc_root || (flags & O_NOFOLLOW) || ((flags & O_CREAT) && (flags & O_EXCL)))
        return last_by_kernel(comp, procfs_dir);
      // else: a symlink-or-file inside a procfs directory below the root: the step, which
      // sees magic links for what they are.
    }
    return step(comp, last, final);
  }
};

int OpenEmulator::Impl::slow_open(int start, const std::string& path, std::uint64_t flags, std::uint64_t mode,
                                  std::uint64_t resolve, pid_t tid, pid_t tgid, bool& tty_dev) {
  Walk w(*this, start, flags, mode, resolve, tid, tgid, tty_dev);
  if (int r = w.begin(path); r < 0) return r;
  for (;;)
    if (const auto r = w.next()) return *r;
}

OpenEmulator::OpenEmulator() : OpenEmulator(make_shared_state()) {}
OpenEmulator::OpenEmulator(std::shared_ptr<Shared> shared) : shared_(std::move(shared)) {}
OpenEmulator::~OpenEmulator() = default;

Status OpenEmulator::init() {
  if (impl_) return {};
  impl_ = std::make_unique<Impl>();
  Impl* im = impl_.get();
  // A private fs_struct for this thread: umask and chroot changes stay here.
  if (::unshare(CLONE_FS) != 0) return Error::from_errno();
  im->proc.reset(::open("/proc", O_PATH | O_DIRECTORY | O_CLOEXEC));
  im->our_root.reset(::open("/", O_PATH | O_DIRECTORY | O_CLOEXEC));
  if (im->proc.get() < 0 || im->our_root.get() < 0) return Error::from_errno();
  if (!statx_at(im->our_root.get(), "", AT_EMPTY_PATH, im->root_stx)) return Error::from_errno();
  struct stat ns {};
  if (::fstatat(im->proc.get(), "thread-self/ns/mnt", &ns, 0) != 0) return Error::from_errno();
  im->our_pid = im->self_pid = ::getpid();
  std::string text;
  if (!read_file_at(im->proc.get(), "thread-self/status", text) || !parse_creds(text, im->self))
    return Error{EIO};
  std::uint64_t v = 0;
  if (!target::proc_value(text, "Uid", v, 10, 1)) return Error{EIO};
  im->euid = static_cast<std::uint32_t>(v);
  if (!target::proc_value(text, "Gid", v, 10, 1)) return Error{EIO};
  im->egid = static_cast<std::uint32_t>(v);
  im->groups = im->self.groups;
  __user_cap_header_struct hdr{_LINUX_CAPABILITY_VERSION_3, 0};
  if (syscall(SYS_capget, &hdr, im->caps) != 0) return Error::from_errno();
  im->dumpable = prctl(PR_GET_DUMPABLE);
  {
    std::lock_guard lk(shared_->mu);
    if (!shared_->executors) {
      for (std::size_t i = 0; i < opening::kNamespaces.size(); ++i) {
        struct stat st {};
        if (::fstatat(im->proc.get(), (std::string("thread-self/ns/") + opening::kNamespaces[i]).c_str(), &st,
                      0) != 0)
          return Error::from_errno();
        shared_->our_ns[i] = st.st_ino;
      }
      // What an executor runs: the same walk, in its own process (built before fork).
      shared_->executors = std::make_unique<opening::Executors>([]() -> opening::Perform {
        auto ex = std::make_shared<Impl>();
        ex->proc.reset(::open("/proc", O_PATH | O_DIRECTORY | O_CLOEXEC));
        ex->our_root.reset(::open("/", O_PATH | O_DIRECTORY | O_CLOEXEC));
        ex->our_pid = ::getpid();
        return [ex](const opening::ExecRequest& q, int start, bool& tty) {
          if (!ex->self_pid) ex->self_pid = ::getpid();  // in the executor
          return ex->perform(start, q.path, q.flags, q.mode, q.resolve, q.tid, q.tgid, tty);
        };
      });
    }
  }
  prctl(PR_GET_PDEATHSIG, &im->pdeathsig);
  return {};
}

void OpenEmulator::invalidate_thread(pid_t tid) {
  std::lock_guard lk(shared_->mu);
  shared_->creds_cache.erase(tid);
}

void OpenEmulator::root_may_change() {
  std::lock_guard lk(shared_->mu);
  shared_->roots_change = true;
  shared_->same_root.clear();
  shared_->creds_cache.clear();  // namespaces are cached with the credentials
}

void OpenEmulator::forget_process(pid_t tgid) {
  Shared& sh = *shared_;
  std::lock_guard lk(sh.mu);
  sh.same_root.erase(tgid);
  for (auto it = sh.tid_tgid.begin(); it != sh.tid_tgid.end();) {
    if (it->second == tgid) {
      sh.creds_cache.erase(it->first);
      it = sh.tid_tgid.erase(it);
    } else {
      ++it;
    }
  }
  sh.creds_cache.erase(tgid);
}

namespace {

How build_how(const OpenRequest& req) {
  How h;
  h.dirfd = req.dirfd;
  if (req.call == OpenSyscall::openat2) {
    h.flags = req.flags;
    h.mode = req.mode;
    h.resolve = req.resolve;
  } else {
    std::uint64_t f = req.call == OpenSyscall::creat
                          ? static_cast<std::uint64_t>(O_CREAT | O_WRONLY | O_TRUNC)
                          : static_cast<std::uint32_t>(req.flags);  // int flags
    f |= O_LARGEFILE;                                               // force_o_largefile() on 64-bit
    h.flags = f & kValidOpenFlags;
    if (h.flags & O_PATH) h.flags &= kOPathFlags;
    h.mode = (h.flags & (O_CREAT | kTmpfileBit)) ? (static_cast<std::uint16_t>(req.mode) & kSIallugo)
                                                 : 0;  // umode_t
    if (req.call != OpenSyscall::openat) h.dirfd = AT_FDCWD;
  }
  const bool absolute = !req.path.empty() && req.path[0] == '/';
  h.needs_dir = !req.path.empty() && (!absolute || (h.resolve & RESOLVE_IN_ROOT));
  h.creates = h.flags & (O_CREAT | kTmpfileBit);
  return h;
}

OpenOutcome failed(int err) {
  OpenOutcome out;
  out.kind = OpenOutcome::Kind::error;
  out.err = err;
  return out;
}

// The kernel's own answer to checks made before any lookup (flags, empty path), for the
// cases where we stop early: openat2 on a bad fd stops at exactly the same point.
OpenOutcome early(const OpenRequest& req, const How& h, int err) {
  int r = sys_openat2(-1, h.needs_dir ? req.path.c_str() : "", h.flags, h.mode, h.resolve);
  if (r >= 0) ::close(r);
  if (r == -EINVAL || r == -ENAMETOOLONG || (r == -ENOENT && req.path.empty()) || r == -E2BIG)
    return failed(-r);
  return failed(err);
}

OpenOutcome let_target(int err) {
  OpenOutcome out;
  out.kind = OpenOutcome::Kind::let_target;
  out.err = err;
  return out;
}

}  // namespace

// The target's credentials and namespaces (cached per thread until it changes credentials
// or namespaces -- notified calls that drop the entry before they run; the status is read
// again, for the umask, when creating), and whether its root is known to be ours. 0 or an
// errno for early().
int OpenEmulator::Impl::credentials(Shared& sh, const OpenRequest& req, bool creates,
                                    std::shared_ptr<const TaskCreds>& creds,
                                    std::optional<bool>& cached_root) {
  const std::string tid_s = std::to_string(req.tid);
  std::shared_ptr<const TaskCreds> cached;  // shared, immutable: another thread may drop the entry
  {
    std::lock_guard lk(sh.mu);
    if (auto it = sh.creds_cache.find(req.tid); it != sh.creds_cache.end()) cached = it->second;
    // Safe to reuse: a root changes only through chroot/pivot_root/setns/unshare, which are
    // notified and turn this cache off for good (root_may_change()) before they run.
    if (auto known = sh.same_root.find(req.tgid); known != sh.same_root.end() && !sh.roots_change)
      cached_root = known->second;
  }
  creds = cached;
  if (cached && !creates) return 0;
  auto fresh = std::make_shared<TaskCreds>();
  if (cached) fresh->ns = cached->ns;
  std::string text;
  if (!read_file_at(proc.get(), tid_s + "/status", text) || !parse_creds(text, *fresh)) return ESRCH;
  if (!cached) {
    for (std::size_t i = 0; i < opening::kNamespaces.size(); ++i) {
      struct stat st {};
      if (::fstatat(proc.get(), (tid_s + "/ns/" + opening::kNamespaces[i]).c_str(), &st, 0) != 0)
        return errno == ENOENT ? ESRCH : errno;
      fresh->ns[i] = st.st_ino;
    }
  }
  creds = fresh;
  std::lock_guard lk(sh.mu);
  sh.creds_cache.insert_or_assign(req.tid, creds);
  sh.tid_tgid[req.tid] = req.tgid;
  return 0;
}

// Whether the target's root is ours (cached per process), then its starting directory.
// 0 or an errno for early().
int OpenEmulator::Impl::root_and_dir(Shared& sh, const OpenRequest& req, const How& h, bool other_ns,
                                     std::optional<bool> cached_root, bool& same_root, Fd& dir) {
  const std::string tid_s = std::to_string(req.tid);
  if (other_ns) {
    // (the executor takes the target's root itself)
  } else if (cached_root) {
    same_root = *cached_root;
  } else {
    struct statx rst {};
    if (!statx_at(proc.get(), (tid_s + "/root").c_str(), 0, rst)) return errno == ENOENT ? ESRCH : errno;
    same_root = same_object(rst, root_stx);
    std::lock_guard lk(sh.mu);
    if (!sh.roots_change) sh.same_root[req.tgid] = same_root;
  }
  if (!h.needs_dir) return 0;
  if (h.dirfd == AT_FDCWD) {
    dir.reset(::openat(proc.get(), (tid_s + "/cwd").c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
    return dir.get() < 0 ? (errno == ENOENT ? ESRCH : errno) : 0;
  }
  if (h.dirfd < 0) return EBADF;
  const int r = thread_fd(req, h.dirfd);
  if (r < 0) return -r;
  dir.reset(r);
  return 0;
}

// What the open gave, checked: a terminal the target must open itself, a procfs file naming
// the supervisor refused, else the file to install.
OpenOutcome OpenEmulator::Impl::outcome(const OpenRequest& req, const How& h, int r, bool tty_dev,
                                        const struct statx& fast_st, bool fast_known) {
  const std::uint64_t flags = h.flags;
  if (r < 0 && !tty_dev) return failed(-r);
  Fd file(r);
  struct statx st = fast_st;
  bool procfs = false;
  if (file.get() >= 0 && !fast_known) {
    if (int e = file_info(file.get(), st, procfs); e < 0) return failed(-e);
  }
  const std::string tid_s = std::to_string(req.tid);
  const bool chr = S_ISCHR(st.stx_mode);
  if (tty_dev || (!(flags & O_PATH) && chr && st.stx_rdev_major == 5 && st.stx_rdev_minor == 0)) {
    // /dev/tty means the caller's controlling terminal: the target opens it itself.
    std::string stat_text;
    long long tty_nr = 0;
    return let_target(read_file_at(proc.get(), tid_s + "/stat", stat_text) &&
                              stat_field(stat_text, 7, tty_nr) && tty_nr != 0
                          ? 0
                          : ENXIO);
  }
  if (!(flags & O_PATH) && !(flags & O_NOCTTY) && chr && st.stx_rdev_major != 1) {
    // A terminal opened without O_NOCTTY by a session leader without a controlling
    // terminal becomes its controlling terminal; only the target's own open does that.
    struct termios tio {};
    if (::ioctl(file.get(), TCGETS, &tio) == 0) {
      std::string stat_text;
      long long session = 0, tty_nr = 0;
      if (read_file_at(proc.get(), tid_s + "/stat", stat_text) && stat_field(stat_text, 6, session) &&
          stat_field(stat_text, 7, tty_nr) && session == req.tgid && tty_nr == 0)
        return let_target(0);
    }
  }
  if (procfs && names_supervisor(file.get())) return failed(EACCES);
  OpenOutcome out;
  out.kind = OpenOutcome::Kind::installed;
  out.fd = file.release();
  out.err = 0;
  out.cloexec = flags & O_CLOEXEC;
  return out;
}

OpenOutcome OpenEmulator::open(const OpenRequest& req) {
  if (!impl_) return failed(EPERM);
  Impl& im = *impl_;
  // 1. The open_how the kernel builds.
  const How h = build_how(req);
  const auto stop = [&](int err) {
    OpenOutcome o = early(req, h, err);
    o.cloexec = h.flags & O_CLOEXEC;
    return o;
  };
  // get_unused_fd_flags() runs after the flags and the path were checked and before any
  // lookup: with a full table nothing is looked up, created or truncated.
  if (req.table_full) return stop(EMFILE);
  // 2. Credentials and namespaces. A copy: another serving thread may drop the entry.
  std::shared_ptr<const TaskCreds> creds;
  std::optional<bool> cached_root;
  if (int e = im.credentials(*shared_, req, h.creates, creds, cached_root); e != 0) return stop(e);
  const bool other_ns = creds->ns != shared_->our_ns;
  // 3. Root, then the starting directory.
  bool same_root = false;
  Fd dir;
  if (int e = im.root_and_dir(*shared_, req, h, other_ns, cached_root, same_root, dir); e != 0)
    return stop(e);
  const int start = h.needs_dir ? dir.get() : AT_FDCWD;
  // 4. The open, in the target's context.
  bool tty_dev = false;
  struct statx fast_st {};
  bool fast_known = false;  // fast_st describes r, which is not on a procfs
  int r = -EPERM;
  if (other_ns) {
    // Another user, mount, network, IPC, UTS or cgroup namespace: an executor that joined
    // them opens it (executor.hpp), with the target's credentials as they hold there.
    Fd root(::openat(im.proc.get(), (std::to_string(req.tid) + "/root").c_str(),
                     O_PATH | O_DIRECTORY | O_CLOEXEC));
    if (!root) return stop(errno == ENOENT ? ESRCH : errno);
    opening::ExecContext ctx;
    ctx.ns = creds->ns, ctx.uid = creds->uid, ctx.gid = creds->gid;
    ctx.groups = creds->groups, ctx.cap_eff = creds->cap_eff;
    opening::ExecRequest er;
    er.tid = req.tid, er.tgid = req.tgid, er.flags = h.flags, er.mode = h.mode, er.resolve = h.resolve;
    er.umask = h.creates ? static_cast<int>(creds->umask) : -1;
    er.path = req.path;
    // The walk below speaks the system call's "fd or -errno" (emulation.cpp's own shape).
    Result<UniqueFd> opened = shared_->executors->run(ctx, root.get(), start, er, tty_dev);
    r = opened.ok() ? opened->release() : -opened.error();
  } else {
    if (h.creates) ::umask(creds->umask);  // our private fs_struct
    int e = 0;
    {
      // The target's root and credentials for the open, ours again when it ends.
      Impl::InTarget in(im);
      e = in.enter(req.tid, same_root, *creds);
      if (e == 0)
        r = im.perform(start, req.path, h.flags, h.mode, h.resolve, req.tid, req.tgid, tty_dev, &fast_st,
                       &fast_known);
    }
    if (e < 0) return stop(-e);
  }
  // 5. The result, checked.
  OpenOutcome out = im.outcome(req, h, r, tty_dev, fast_st, fast_known);
  out.cloexec = h.flags & O_CLOEXEC;
  return out;
}

}  // namespace sandbox
