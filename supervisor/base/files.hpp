// SPDX-License-Identifier: Apache-2.0
// files: reading a small file (most of them under /proc) whole, the one way: open with
// O_CLOEXEC, read until end of file or the cap, retry EINTR. Nothing here follows a path a
// target chose: callers pass their own paths, or a dirfd they opened themselves.
#pragma once

#include <fcntl.h>
#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "base/result.hpp"

namespace sandbox::files {

// Reads up to `cap` bytes of `path` (relative to `dirfd`) into `buf`: what was read (a view of
// `buf`), or the errno of the open or the read.
Result<std::string_view> read_small(int dirfd, const char* path, char* buf, std::size_t cap);
inline Result<std::string_view> read_small(const char* path, char* buf, std::size_t cap) {
  return read_small(AT_FDCWD, path, buf, cap);
}

// The file's text, at most `max` bytes of it; nullopt if it cannot be opened or read.
std::optional<std::string> read_text(int dirfd, const std::string& path,
                                     std::size_t max = std::size_t{1} << 20);
inline std::optional<std::string> read_text(const std::string& path, std::size_t max = std::size_t{1} << 20) {
  return read_text(AT_FDCWD, path, max);
}

// /proc/<pid>/<file>, at most `max` bytes; "" if the process is gone or the file unreadable.
std::string read_proc(pid_t pid, const char* file, std::size_t max);

// The first number in a file (a sysctl such as /proc/sys/fs/nr_open); nullopt if none.
std::optional<std::uint64_t> read_number(const char* path);

}  // namespace sandbox::files
