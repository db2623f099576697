// SPDX-License-Identifier: Apache-2.0
#include "base/files.hpp"

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstdio>

#include "base/unique_fd.hpp"

namespace sandbox::files {

Result<std::string_view> read_small(int dirfd, const char* path, char* buf, std::size_t cap) {
  UniqueFd fd(::openat(dirfd, path, O_RDONLY | O_CLOEXEC));
  if (!fd) return Error::from_errno();
  std::size_t total = 0;
  while (total < cap) {
    const ssize_t n = ::read(fd.get(), buf + total, cap - total);
    if (n < 0) {
      if (errno == EINTR) continue;
      return Error::from_errno();
    }
    if (n == 0) break;
    total += static_cast<std::size_t>(n);
  }
  return std::string_view(buf, total);
}

std::optional<std::string> read_text(int dirfd, const std::string& path, std::size_t max) {
  UniqueFd fd(::openat(dirfd, path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) return std::nullopt;
  std::string out;
  char buf[4096];
  while (out.size() < max) {
    const ssize_t n = ::read(fd.get(), buf, std::min(sizeof buf, max - out.size()));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return std::nullopt;
    if (n == 0) break;
    out.append(buf, static_cast<std::size_t>(n));
  }
  return out;
}

std::string read_proc(pid_t pid, const char* file, std::size_t max) {
  char path[64];
  std::snprintf(path, sizeof path, "/proc/%d/%s", static_cast<int>(pid), file);
  std::string out(max, '\0');
  const auto text = read_small(path, out.data(), max);
  out.resize(text.ok() ? text->size() : 0);
  return out;
}

std::optional<std::uint64_t> read_number(const char* path) {
  char buf[64];
  const auto text = read_small(path, buf, sizeof buf);
  if (!text.ok() || text->empty()) return std::nullopt;
  const char* p = text->data();
  const char* end = p + text->size();
  while (p < end && (*p == ' ' || *p == '\t')) ++p;
  std::uint64_t v = 0;
  if (std::from_chars(p, end, v).ec != std::errc{}) return std::nullopt;
  return v;
}

}  // namespace sandbox::files
