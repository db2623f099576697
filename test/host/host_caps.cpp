// SPDX-License-Identifier: Apache-2.0
// host_caps: prints what this machine can do that the tests depend on, and what each
// missing capability weakens (scripts/test.sh runs it first, so a CI log says which case
// every host-dependent test ran). Exit status 0, or 1 when the host lacks what the
// supervisor cannot run without (seccomp user notification with ADDFD_FLAG_SEND).
#include "host_caps.hpp"

#include <sys/utsname.h>
#include <unistd.h>

#include <cstdio>

namespace {

void row(const char* what, bool ok, const char* yes, const char* no) {
  std::printf("host: %-28s %-4s %s\n", what, ok ? "yes" : "no", ok ? yes : no);
}

}  // namespace

int main() {
  utsname u{};
  ::uname(&u);
  std::printf("host: kernel %s %s, %d CPU(s), uid %d\n", u.release, u.machine, host::cpus(),
              static_cast<int>(::getuid()));
  const auto s = host::seccomp();
  row("seccomp user notification", s.user_notif, "", "the supervisor cannot run (Linux 5.0+)");
  row("ADDFD_FLAG_SEND", s.addfd_send, "", "tracked opens cannot be installed (Linux 5.14+)");
  row("WAIT_KILLABLE_RECV", s.wait_killable, "",
      "a signal may restart an emulated open (Linux 6.0+); counts stay exact, opens may repeat");
  row("FD_SYNC_WAKE_UP", s.sync_wakeup, "", "round trips are slower (Linux 6.6+); nothing is weakened");
  row("kcmp", host::kcmp(), "", "close() of a tracked fd is not counted (fails closed: counts stay high)");
  row("PIDFD_THREAD", host::pidfd_thread(), "",
      "a thread node's exit is seen at its exit() call only (Linux 6.9+)");
  const auto ia32 = host::ia32();
  row("32-bit emulation (int 0x80)", ia32.on, "the other-ABI test expects SIGSYS",
      "32-bit emulation unavailable on this host: the other-ABI test expects the native SIGSEGV");
  row("unprivileged user namespaces", host::userns_unprivileged(), "", "namespace tests run as root only");
  const bool kvm = ::access("/dev/kvm", R_OK | W_OK) == 0;
  row("/dev/kvm usable by this uid", kvm, "kernel/boot.sh probes it and falls back to TCG if it hangs",
      "the parity VM runs under TCG");
  return s.user_notif && s.addfd_send ? 0 : 1;
}
