// SPDX-License-Identifier: Apache-2.0
#include "base/proc.hpp"

#include <dirent.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cstdlib>
#include <string>
#include <string_view>

#include "base/files.hpp"

namespace sandbox::proc {

void for_each_pid(const std::function<void(pid_t)>& fn) {
  DIR* d = ::opendir("/proc");
  if (!d) return;
  while (const dirent* e = ::readdir(d)) {
    const pid_t pid = std::atoi(e->d_name);  // 0 for the entries that are not processes
    if (pid > 1) fn(pid);
  }
  ::closedir(d);
}

std::uint64_t count_open_fds() {
  std::uint64_t n = 0;
  if (DIR* d = ::opendir("/proc/self/fd")) {
    while (const dirent* e = ::readdir(d))
      if (e->d_name[0] != '.') ++n;
    ::closedir(d);
    if (n > 0) --n;  // the directory's own descriptor
  }
  return n;
}

std::uint64_t count_threads() {
  const std::string text = files::read_proc(::getpid(), "status", 4096);
  const std::size_t at = text.find("\nThreads:");
  if (at == std::string::npos) return 0;
  return std::strtoull(text.c_str() + at + 9, nullptr, 10);
}

std::uint64_t raise_nofile_limit() {
  rlimit rl{};
  if (::getrlimit(RLIMIT_NOFILE, &rl) != 0) return 1024;
  rlim_t want = rl.rlim_max;
  if (want == RLIM_INFINITY) {
    const std::optional<std::uint64_t> nr_open = files::read_number("/proc/sys/fs/nr_open");
    want = nr_open && *nr_open ? static_cast<rlim_t>(*nr_open) : rl.rlim_cur;
  }
  if (want > rl.rlim_cur) {
    const rlim_t old = rl.rlim_cur;
    rl.rlim_cur = want;
    if (::setrlimit(RLIMIT_NOFILE, &rl) != 0) rl.rlim_cur = old;
  }
  return rl.rlim_cur;
}

}  // namespace sandbox::proc
