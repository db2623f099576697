// SPDX-License-Identifier: Apache-2.0
// systemd: socket activation and readiness notification, by the documented protocols
// (sd_listen_fds(3), sd_notify(3)), without libsystemd.
//
//   listen_fds()  the sockets the service manager passed: LISTEN_PID must be this process
//                 (else they were meant for another one, e.g. our parent, and are ignored),
//                 LISTEN_FDS of them from fd 3 on, named by LISTEN_FDNAMES when given. The
//                 variables are removed so nothing we start inherits them, and the fds are
//                 made close-on-exec.
//   notify()      one datagram with a state ("READY=1", "STOPPING=1") to $NOTIFY_SOCKET, a
//                 path or an abstract name ('@' for the leading NUL); nothing when unset.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "base/result.hpp"

namespace sandbox::systemd {

inline constexpr int kListenFdsStart = 3;

struct ListenFd {
  int fd = -1;
  std::string name;  // from LISTEN_FDNAMES, else "unknown" (as systemd says)
  int family = 0;    // AF_UNIX, AF_INET, AF_INET6 (getsockname), 0 if not a socket
  bool listening = false;
};
std::vector<ListenFd> listen_fds();

// Sent (or NOTIFY_SOCKET unset: not run by a service manager), or the errno: EINVAL for a
// NOTIFY_SOCKET that is neither absolute nor abstract, EMSGSIZE for a datagram cut short.
Status notify(std::string_view state);

}  // namespace sandbox::systemd
