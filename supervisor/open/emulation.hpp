// SPDX-License-Identifier: Apache-2.0
// open_emulation: performs a target's open/openat/openat2/creat inside the supervisor,
// exactly as the kernel would have done it for the target thread, so the supervisor knows
// the result before the target sees it. The file is then installed in the target with
// SECCOMP_IOCTL_NOTIF_ADDFD + SECCOMP_ADDFD_FLAG_SEND (by the caller), which makes
// "only successful opens count" exact and closes the TOCTOU window on the path: the
// kernel never reads the path from target memory again.
//
// What "as the target" means: the target thread's fsuid/fsgid/supplementary groups and
// effective capabilities, its cwd and root, its umask for O_CREAT/O_TMPFILE, its dirfd
// (taken with pidfd_getfd), and /proc/self, /proc/thread-self, /dev/fd, /dev/std* resolving
// to the target, not to the supervisor. Owned by the notify thread: init() unshares that
// thread's fs_struct (CLONE_FS) so per-call umask changes stay private to it.
#pragma once

#include <linux/openat2.h>
#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.hpp"

namespace sandbox {

enum class OpenSyscall { open, openat, openat2, creat };

struct OpenRequest {
  pid_t tid = 0;   // calling thread, in the supervisor's pid namespace
  pid_t tgid = 0;  // its process
  // A pidfd of the process, used for dirfd only when the caller is the leader; -1: the
  // emulator opens a pidfd of the calling thread itself (its own fd table, which matters
  // after unshare(CLONE_FILES) and once the leader has exited).
  int pidfd = -1;
  OpenSyscall call = OpenSyscall::openat;
  int dirfd = -100;  // AT_FDCWD or a target fd number (open/creat: AT_FDCWD)
  std::string path;  // read from target memory by the caller
  // Raw arguments as the target passed them: for open/openat/creat flags+mode (resolve 0);
  // for openat2 the open_how the target passed (already size-checked by the caller).
  std::uint64_t flags = 0;
  std::uint64_t mode = 0;
  std::uint64_t resolve = 0;
  // The caller's fd table has no free slot below its RLIMIT_NOFILE: the kernel fails with
  // EMFILE before any lookup (get_unused_fd_flags() comes first), so nothing is opened.
  bool table_full = false;
};

struct OpenOutcome {
  enum class Kind {
    installed,   // fd is a supervisor-side file to install in the target; the open succeeded
    error,       // the open failed for the target with errno `err` (answer it, count nothing)
    let_target,  // cannot be emulated exactly (e.g. /dev/tty); the target should open it
                 // itself (CONTINUE); `err` == 0 predicts success, else predicted errno
  };
  Kind kind = Kind::error;
  int fd = -1;  // valid for installed; O_CLOEXEC in the supervisor
  int err = 0;
  bool cloexec = false;  // the target asked for O_CLOEXEC (pass to ADDFD newfd_flags)
};

// The procfs files of the caller's own thread group that the kernel opens for it without a
// ptrace check, and whose meaning does not depend on who opened them (emulation.cpp, "Own
// procfs files"). `where` is the directory's place below the procfs root ({"123"},
// {"123", "task", "124"}, {"123", "fdinfo"}, ...), `name` the file in it. Pure.
bool own_ptrace_checked_file(const std::vector<std::string>& where, std::string_view name);

// generic_permission() of fs/namei.c (6.1) for a file that is not a directory, owned by
// uid:gid with permission bits `mode`, opened by fsuid:fsgid with `groups` and effective
// capabilities `cap_eff`; `may` is a mask of 4 (read) and 2 (write). Pure.
bool dac_permits(std::uint32_t uid, std::uint32_t gid, std::uint32_t mode, std::uint32_t fsuid,
                 std::uint32_t fsgid, const std::vector<gid_t>& groups, std::uint64_t cap_eff, int may);

class OpenEmulator {
 public:
  // What every emulator of one supervisor shares: the per-thread credential cache and the
  // per-process root cache, so an invalidation reaches every serving thread at once.
  struct Shared;
  static std::shared_ptr<Shared> make_shared_state();
  OpenEmulator();
  explicit OpenEmulator(std::shared_ptr<Shared> shared);
  OpenEmulator(const OpenEmulator&) = delete;
  OpenEmulator& operator=(const OpenEmulator&) = delete;
  ~OpenEmulator();

  // Must be called once on the thread that will call open(); the errno of the step that
  // failed. It unshares that thread's fs_struct (CLONE_FS): its umask and root become private.
  Status init();
  // Beyond the kernel's own errors, two answers are the emulator's: ESRCH (the thread
  // is gone; the caller's response will fail anyway) and EPERM (fail closed: the target
  // is in another mount namespace, or another pid namespace's procfs needs "self").
  // Needs CAP_SETUID/SETGID/SYS_PTRACE/SYS_CHROOT (the supervisor runs as root).
  OpenOutcome open(const OpenRequest& req);

  // Cache invalidation hooks (called by the handlers when a target thread may have
  // changed credentials, cwd, root or mount namespace, or exited). They act on the state
  // shared by all emulators of the supervisor, and may be called from any thread.
  void invalidate_thread(pid_t tid);
  void forget_process(pid_t tgid);
  // A task called chroot, pivot_root, setns or unshare: from now on every open checks the
  // target's root afresh (it is cached per process until then). Roots change so rarely in
  // a sandbox that giving up the cache for good is simpler than tracking when they did.
  void root_may_change();

 private:
  struct Impl;
  std::shared_ptr<Shared> shared_;
  std::unique_ptr<Impl> impl_;
};

}  // namespace sandbox
