// SPDX-License-Identifier: Apache-2.0
#include "observe/systemd.hpp"

#include <fcntl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstddef>
#include <cstdlib>
#include <cstring>

#include "base/unique_fd.hpp"

namespace sandbox::systemd {
namespace {

bool parse_int(const char* s, long& out) {
  if (!s || !*s) return false;
  const char* end = s + std::strlen(s);
  auto [p, ec] = std::from_chars(s, end, out);
  return ec == std::errc() && p == end;
}

}  // namespace

std::vector<ListenFd> listen_fds() {
  std::vector<ListenFd> out;
  long pid = 0, n = 0;
  const bool ours = parse_int(std::getenv("LISTEN_PID"), pid) && pid == ::getpid() &&
                    parse_int(std::getenv("LISTEN_FDS"), n) && n > 0 && n <= 1024;
  std::string names = std::getenv("LISTEN_FDNAMES") ? std::getenv("LISTEN_FDNAMES") : "";
  ::unsetenv("LISTEN_PID");
  ::unsetenv("LISTEN_FDS");
  ::unsetenv("LISTEN_FDNAMES");
  if (!ours) return out;
  for (long i = 0; i < n; ++i) {
    ListenFd l;
    l.fd = kListenFdsStart + static_cast<int>(i);
    const auto colon = names.find(':');
    l.name = names.empty() ? "unknown" : names.substr(0, colon);
    names = colon == std::string::npos ? "" : names.substr(colon + 1);
    if (::fcntl(l.fd, F_SETFD, FD_CLOEXEC) != 0) continue;  // not open: skip it
    sockaddr_storage ss{};
    socklen_t len = sizeof ss;
    if (::getsockname(l.fd, reinterpret_cast<sockaddr*>(&ss), &len) == 0) l.family = ss.ss_family;
    int acc = 0;
    socklen_t alen = sizeof acc;
    l.listening = ::getsockopt(l.fd, SOL_SOCKET, SO_ACCEPTCONN, &acc, &alen) == 0 && acc != 0;
    out.push_back(std::move(l));
  }
  return out;
}

Status notify(std::string_view state) {
  const char* path = std::getenv("NOTIFY_SOCKET");
  if (!path || !*path) return {};
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  const std::size_t len = std::strlen(path);
  if ((path[0] != '/' && path[0] != '@') || len >= sizeof addr.sun_path) return Error{EINVAL};
  std::memcpy(addr.sun_path, path, len);
  if (path[0] == '@') addr.sun_path[0] = '\0';  // abstract namespace
  const auto alen = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + len + (path[0] == '@' ? 0 : 1));
  UniqueFd fd(::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  if (!fd) return Error::from_errno();
  const ssize_t n = ::sendto(fd.get(), state.data(), state.size(), MSG_NOSIGNAL,
                             reinterpret_cast<const sockaddr*>(&addr), alen);
  if (n < 0) return Error::from_errno();
  if (static_cast<std::size_t>(n) != state.size()) return Error{EMSGSIZE};
  return {};
}

}  // namespace sandbox::systemd
