// SPDX-License-Identifier: Apache-2.0
// host_caps: what this machine can do, found out rather than assumed. The tests ask it
// before they assert a property that depends on the host (32-bit emulation, seccomp
// notification features, kcmp, pidfds, user namespaces, the CPU count), assert the
// strongest property that holds there, and say which case they ran. `host_caps` (the
// program, test/host/host_caps.cpp) prints the same table at the start of the test command.
//
// No test framework in here: the program and the integration tests share it.
#pragma once

#include <fcntl.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sched.h>
#include <signal.h>
#include <stddef.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <string>
#include <vector>

#include "child.hpp"  // run_child: the probes below run in forked children

#ifndef SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV
#define SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV (1UL << 5)
#endif
#ifndef SECCOMP_IOCTL_NOTIF_SET_FLAGS
#define SECCOMP_IOCTL_NOTIF_SET_FLAGS SECCOMP_IOW(4, __u64)
#endif
#ifndef SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP
#define SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP (1UL << 0)
#endif
#ifndef SECCOMP_ADDFD_FLAG_SEND
#define SECCOMP_ADDFD_FLAG_SEND (1UL << 1)
#endif
#ifndef PIDFD_THREAD
#define PIDFD_THREAD O_EXCL
#endif

namespace host {

// i386 system calls through `int 0x80` (IA32 emulation). Off on kernels built without it
// and where the host switches it off (ia32_emulation=0): there the instruction raises
// SIGSEGV before any system call, so a seccomp filter never sees it.
struct Ia32 {
  bool on = false;
  int native_status = -1;  // how a native `int 0x80` getpid ended: 0, or 128+SIGSEGV
};
inline Ia32 ia32() {
  const int st = run_child([] {
    const rlimit no_core{0, 0};  // an expected SIGSEGV leaves no core file behind
    ::setrlimit(RLIMIT_CORE, &no_core);
    long r;
    __asm__ volatile("int $0x80" : "=a"(r) : "a"(20) : "memory");  // i386 getpid
    return r == ::getpid() ? 0 : 3;
  });
  return {st == 0, st};
}

// The seccomp notification features the supervisor uses, probed in a child that installs
// a filter notifying on nothing it will call again.
struct Seccomp {
  bool user_notif = false;     // SECCOMP_FILTER_FLAG_NEW_LISTENER (5.0)
  bool wait_killable = false;  // SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV (6.0)
  bool addfd_send = false;     // SECCOMP_ADDFD_FLAG_SEND (5.14)
  bool sync_wakeup = false;    // SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP (6.6)
};
inline Seccomp seccomp() {
  const int bits = run_child([] {
    if (::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) return 64;
    // Notify on getppid (not called from here on), allow everything else.
    sock_filter f[] = {
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, nr)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_getppid, 0, 1),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_USER_NOTIF),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
    };
    sock_fprog prog{static_cast<unsigned short>(sizeof f / sizeof f[0]), f};
    int out = 0;
    long fd = ::syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER,
                        SECCOMP_FILTER_FLAG_NEW_LISTENER | SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV, &prog);
    if (fd >= 0) {
      out |= 1 | 2;
    } else {
      fd = ::syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_NEW_LISTENER, &prog);
      if (fd < 0) return 0;
      out |= 1;
    }
    // ADDFD checks its flags before it looks up the notification: an unknown id gives
    // ENOENT where SEND is understood, EINVAL where it is not.
    seccomp_notif_addfd a{};
    a.id = 0x7fffffff;
    a.srcfd = 0;
    a.flags = SECCOMP_ADDFD_FLAG_SEND;
    if (::ioctl(static_cast<int>(fd), SECCOMP_IOCTL_NOTIF_ADDFD, &a) < 0 && errno == ENOENT) out |= 4;
    if (::ioctl(static_cast<int>(fd), SECCOMP_IOCTL_NOTIF_SET_FLAGS, SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP) == 0)
      out |= 8;
    return out;
  });
  Seccomp s;
  if (bits < 0 || bits >= 64) return s;
  s.user_notif = bits & 1, s.wait_killable = bits & 2, s.addfd_send = bits & 4, s.sync_wakeup = bits & 8;
  return s;
}

// kcmp(2) (CONFIG_KCMP): the supervisor uses it to tell an open fd from a closed one.
inline bool kcmp() {
  const pid_t self = ::getpid();
  return ::syscall(SYS_kcmp, self, self, 0 /* KCMP_FILE */, 0, 0) == 0 || errno != ENOSYS;
}

// pidfd_open with PIDFD_THREAD (6.9): a pidfd that is readable when one thread exits.
inline bool pidfd_thread() {
  const long fd = ::syscall(SYS_pidfd_open, ::gettid(), PIDFD_THREAD);
  if (fd < 0) return false;
  ::close(static_cast<int>(fd));
  return true;
}

// Can an unprivileged process make a user namespace (Debian: kernel.unprivileged_userns_clone)?
inline bool userns_unprivileged() {
  const int st = run_child([] {
    if (::getuid() == 0 && (::setgid(65534) != 0 || ::setuid(65534) != 0)) return 2;
    return ::unshare(CLONE_NEWUSER) == 0 ? 0 : 1;
  });
  return st == 0;
}

inline int cpus() {
  cpu_set_t set;
  CPU_ZERO(&set);
  return ::sched_getaffinity(0, sizeof set, &set) == 0 ? CPU_COUNT(&set) : 1;
}

}  // namespace host
