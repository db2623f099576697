// SPDX-License-Identifier: Apache-2.0
#include "notify/reply.hpp"

#include <fcntl.h>

#include <cerrno>
#include <utility>

namespace sandbox {

seccomp_notif_resp Reply::response(std::uint64_t id) const {
  switch (kind_) {
    case Kind::proceed: return {id, 0, 0, SECCOMP_USER_NOTIF_FLAG_CONTINUE};
    case Kind::value: return {id, value_, 0, 0};
    default: return {id, 0, -error_, 0};
  }
}

bool Reply::send(NotifyChannel& ch, std::uint64_t id) {
  bool taken = false;
  int fd = 0;
  switch (kind_) {
    case Kind::none: return false;
    case Kind::install_fd: {
      seccomp_notif_addfd a{};
      a.id = id;
      a.flags = SECCOMP_ADDFD_FLAG_SEND;
      a.srcfd = static_cast<std::uint32_t>(file_.get());
      a.newfd_flags = cloexec_ ? O_CLOEXEC : 0;
      fd = ch.add_fd(a);
      taken = fd >= 0;
      // Not installed: the target gone (ENOENT, nothing to answer), else refused (EMFILE:
      // its own RLIMIT_NOFILE), answered with that errno. Nothing is committed either way.
      if (!taken && fd != -ENOENT) (void)ch.respond({id, 0, fd, 0});
      file_.reset();
      break;
    }
    default: taken = ch.respond(response(id)) == 0; break;
  }
  if (taken)
    commit(fd);
  else
    drop();
  return taken;
}

void Reply::commit(int fd) {
  if (auto f = std::exchange(commit_, nullptr)) f(fd);
  undo_ = nullptr;
}

void Reply::drop() {
  if (auto f = std::exchange(undo_, nullptr)) f();
  commit_ = nullptr;
}

}  // namespace sandbox
