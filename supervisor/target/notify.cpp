// SPDX-License-Identifier: Apache-2.0
#include "target/notify.hpp"

#include <poll.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#ifndef SECCOMP_IOCTL_NOTIF_SET_FLAGS
#define SECCOMP_IOCTL_NOTIF_SET_FLAGS SECCOMP_IOW(4, __u64)
#endif
#ifndef SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP
#define SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP (1UL << 0)
#endif

namespace sandbox {

bool SeccompListener::enable_sync_wakeup() {
  return ::ioctl(fd_.get(), SECCOMP_IOCTL_NOTIF_SET_FLAGS, SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP) == 0;
}

int SeccompListener::receive(seccomp_notif& n) {
  std::memset(&n, 0, sizeof n);  // the kernel insists on a zeroed buffer
  return ::ioctl(fd_.get(), SECCOMP_IOCTL_NOTIF_RECV, &n) == 0 ? 0 : -errno;
}

int SeccompListener::wait_ready(int timeout_ms) {
  pollfd p{fd_.get(), POLLIN, 0};
  return ::poll(&p, 1, timeout_ms) == 0 ? 0 : 1;  // an error or a signal: let RECV say
}

int SeccompListener::respond(const seccomp_notif_resp& r) {
  return ::ioctl(fd_.get(), SECCOMP_IOCTL_NOTIF_SEND, &r) == 0 ? 0 : -errno;
}

bool SeccompListener::id_valid(std::uint64_t id) {
  return ::ioctl(fd_.get(), SECCOMP_IOCTL_NOTIF_ID_VALID, &id) == 0;
}

int SeccompListener::add_fd(const seccomp_notif_addfd& a) {
  // ADDFD waits (interruptibly) for the target to install the file; interrupted, it has
  // taken its request back (nothing installed), so asking again is exact.
  for (;;) {
    const int rc = ::ioctl(fd_.get(), SECCOMP_IOCTL_NOTIF_ADDFD, &a);
    if (rc >= 0) return rc;
    if (errno != EINTR) return -errno;
  }
}

bool SeccompListener::hung_up() {
  pollfd p{fd_.get(), POLLIN, 0};
  return ::poll(&p, 1, 0) > 0 && (p.revents & POLLHUP) && !(p.revents & POLLIN);
}

Status check_notify_sizes() {
  seccomp_notif_sizes sizes{};
  if (::syscall(SYS_seccomp, SECCOMP_GET_NOTIF_SIZES, 0, &sizes) != 0)
    return Error::from_errno(
        "seccomp(SECCOMP_GET_NOTIF_SIZES) failed: kernel without seccomp user notification?");
  if (sizes.seccomp_notif != sizeof(seccomp_notif) ||
      sizes.seccomp_notif_resp != sizeof(seccomp_notif_resp) || sizes.seccomp_data != sizeof(seccomp_data))
    return Error{EPROTO, "this kernel's seccomp notification structures differ from the ones compiled in"};
  return {};
}

}  // namespace sandbox
