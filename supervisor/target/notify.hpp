// SPDX-License-Identifier: Apache-2.0
// notify: the seccomp notification fd -- receive, respond, id_valid, addfd.
//
// Handlers talk to the kernel edge only through NotifyChannel, so tests can feed
// notifications and check the exact response bytes (see test/unit/supervisor_test.cpp).
// The channel's calls answer as the ioctls do: 0 / a result >= 0, or -errno (the raw
// system call's shape; cli/run_bpf.cpp drives a SeccompListener the same way). ENOENT from respond/addfd is
// normal: the target thread died or was interrupted, and nothing it did is to be accounted.
#pragma once

#include <linux/seccomp.h>

#include <cstdint>

#include "base/result.hpp"
#include "base/unique_fd.hpp"

namespace sandbox {

class NotifyChannel {
 public:
  virtual ~NotifyChannel() = default;
  // Blocks for the next notification: 0, or -errno (-EINTR when woken to stop,
  // -ENOENT when the target left before we took it: just receive again).
  virtual int receive(seccomp_notif& n) = 0;
  virtual int respond(const seccomp_notif_resp& r) = 0;
  // True while notification `id` is still pending: the target thread is still blocked in
  // that call, so what was read from its memory or /proc belongs to it.
  virtual bool id_valid(std::uint64_t id) = 0;
  // Installs a file in the target; with SECCOMP_ADDFD_FLAG_SEND this also answers the
  // notification with the new fd number. Returns the target's fd number or -errno.
  virtual int add_fd(const seccomp_notif_addfd& a) = 0;
  // True once no task uses the filter any more: nothing will ever be received again.
  virtual bool hung_up() = 0;
  // Waits up to `timeout_ms` for a notification (or a hang-up) to receive: 1 ready, 0 not
  // in time. A test double is always ready.
  virtual int wait_ready(int timeout_ms) {
    (void)timeout_ms;
    return 1;
  }
  // Whether several threads may call receive() at once (each notification then goes to
  // one of them). A test double answers false and is served by one thread.
  virtual bool concurrent() const { return false; }
};

class SeccompListener final : public NotifyChannel {
 public:
  explicit SeccompListener(UniqueFd fd) : fd_(std::move(fd)) {}
  // SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP (Linux 6.6): the target and the supervisor wake
  // each other on the same CPU, which halves a round trip on small machines. Returns
  // false (and changes nothing) on kernels without it.
  bool enable_sync_wakeup();
  int fd() const { return fd_.get(); }

  int receive(seccomp_notif& n) override;
  int respond(const seccomp_notif_resp& r) override;
  bool id_valid(std::uint64_t id) override;
  int add_fd(const seccomp_notif_addfd& a) override;
  bool hung_up() override;
  int wait_ready(int timeout_ms) override;
  bool concurrent() const override { return true; }

 private:
  UniqueFd fd_;
};

// Checks that this kernel's notification structures match the ones compiled in; the
// failure's message is a one-line explanation.
Status check_notify_sizes();

}  // namespace sandbox
