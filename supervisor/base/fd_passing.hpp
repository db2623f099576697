// SPDX-License-Identifier: Apache-2.0
// fd_passing: the descriptors that came with a message (SCM_RIGHTS), taken the one way --
// each owned at once, so none leaks whatever the caller keeps.
#pragma once

#include <sys/socket.h>

#include <cstring>

#include "base/unique_fd.hpp"

namespace sandbox {

// Calls take(UniqueFd) for every descriptor in `mh`'s SCM_RIGHTS messages, in order;
// what take does not keep is closed. Returns whether the kernel dropped some for want of
// control space (MSG_CTRUNC: it closed those itself).
template <typename Take>
bool take_received_fds(const msghdr& mh, Take&& take) {
  for (cmsghdr* c = CMSG_FIRSTHDR(&mh); c != nullptr; c = CMSG_NXTHDR(const_cast<msghdr*>(&mh), c)) {
    if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
    const std::size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
    for (std::size_t i = 0; i < count; ++i) {
      int fd = -1;
      std::memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof fd);
      take(UniqueFd(fd));
    }
  }
  return (mh.msg_flags & MSG_CTRUNC) != 0;
}

}  // namespace sandbox
