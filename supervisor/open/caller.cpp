// SPDX-License-Identifier: Apache-2.0
#include "open/caller.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstdio>
#include <cstring>
#include <string_view>

#include "base/unique_fd.hpp"
#include "target/target.hpp"

namespace sandbox::opening {
namespace {

constexpr std::uint64_t kPage = 4096;

// Whether the mapping holding `addr` can be read by the kernel on the task's behalf
// (x86-64, no protection keys: any of r, w, x); false if unmapped or PROT_NONE.
Result<bool> kernel_readable(pid_t tid, std::uint64_t addr) {
  char path[64];
  std::snprintf(path, sizeof path, "/proc/%d/maps", tid);
  FILE* f = std::fopen(path, "re");
  if (!f) return Error{errno == ENOENT ? ESRCH : errno};
  char line[512];
  bool out = false;
  while (std::fgets(line, sizeof line, f)) {
    std::string_view s(line);
    const std::size_t dash = s.find('-'), sp = s.find(' ');
    if (dash == std::string_view::npos || sp == std::string_view::npos || sp < dash || s.size() < sp + 4)
      continue;
    std::uint64_t start = 0, end = 0;
    std::from_chars(s.data(), s.data() + dash, start, 16);
    std::from_chars(s.data() + dash + 1, s.data() + sp, end, 16);
    if (addr < start || addr >= end) continue;
    out = s[sp + 1] == 'r' || s[sp + 2] == 'w' || s[sp + 3] == 'x';
    break;
  }
  std::fclose(f);
  return out;
}

// One piece within a page.
Status read_piece(pid_t tid, std::uint64_t addr, void* buf, std::size_t len) {
  iovec local{buf, len};
  iovec remote{reinterpret_cast<void*>(addr), len};
  // process_vm_readv reads what the target could read from user mode (VM_READ). It may wait
  // for a userfaultfd handler, as the target's own copy_from_user() would: we are not on a
  // thread anyone else waits for.
  const ssize_t n = ::process_vm_readv(tid, &local, 1, &remote, 1, 0);
  if (n == static_cast<ssize_t>(len)) return {};
  if (n < 0 && errno == ESRCH) return Error{ESRCH};
  // Not readable from user mode: a PROT_WRITE-only or PROT_EXEC-only page is still read by
  // the kernel (x86 page tables have no write-only or execute-only user pages).
  const Result<bool> readable = kernel_readable(tid, addr);
  if (!readable.ok() || !*readable) return Error{readable.error() == ESRCH ? ESRCH : EFAULT};
  char path[64];
  std::snprintf(path, sizeof path, "/proc/%d/mem", tid);
  // /proc/<tid>/mem needs PTRACE_MODE_ATTACH: the supervisor is root. Its reads use FOLL_FORCE
  // (reaching pages without VM_READ; PROT_NONE was refused just above) and never wait for a
  // userfaultfd handler (they fail instead: EFAULT, as an unresolvable fault).
  UniqueFd mem(::open(path, O_RDONLY | O_CLOEXEC));
  if (!mem) return Error{errno == ENOENT ? ESRCH : EFAULT};
  const ssize_t m = ::pread(mem.get(), buf, len, static_cast<off_t>(addr));
  if (m != static_cast<ssize_t>(len)) return Error{EFAULT};
  return {};
}

}  // namespace

Status read_user(pid_t tid, std::uint64_t addr, void* buf, std::size_t len) {
  auto* out = static_cast<unsigned char*>(buf);
  while (len > 0) {
    if (addr + len < addr) return Error{EFAULT};
    const std::size_t want = std::min<std::uint64_t>(len, kPage - (addr % kPage));
    if (Status read = read_piece(tid, addr, out, want); !read.ok()) return read;
    out += want, addr += want, len -= want;
  }
  return {};
}

Result<std::string> read_user_string(pid_t tid, std::uint64_t addr, std::size_t max) {
  std::string out;
  char chunk[kPage];
  while (out.size() < max) {
    const std::size_t want = std::min<std::uint64_t>(kPage - (addr % kPage), max - out.size());
    if (Status read = read_piece(tid, addr, chunk, want); !read.ok()) return read.failure();
    if (const void* nul = std::memchr(chunk, 0, want)) {
      out.append(chunk, static_cast<const char*>(nul) - chunk);
      return out;
    }
    out.append(chunk, want);
    addr += want;
  }
  return Error{ENAMETOOLONG};
}

Result<bool> fd_table_has_room(pid_t tid, std::optional<std::uint64_t>& limit_known, bool& fresh) {
  fresh = false;
  auto read_limit = [&]() -> Status {
    // RLIMIT_NOFILE is per process; prlimit accepts any thread id of it.
    struct rlimit rl {};
    if (::prlimit(tid, RLIMIT_NOFILE, nullptr, &rl) != 0) return Error::from_errno();
    limit_known = std::min<std::uint64_t>(rl.rlim_cur, 1u << 30);
    fresh = true;
    return {};
  };
  if (!limit_known)
    if (Status read = read_limit(); !read.ok()) return read.failure();
  for (;;) {
    const std::uint64_t limit = *limit_known;
    // The common case in one call: the highest allowed descriptor is free. target::fd_open
    // (kcmp) reads the thread's own table (CLONE_FILES and unshare(CLONE_FILES) included).
    bool free_found = false;
    for (std::uint64_t fd = limit; fd-- > 0 && fd + 3 >= limit;) {
      const Result<bool> open = target::fd_open(tid, static_cast<unsigned int>(fd));
      if (!open.ok()) return open.failure();
      if (!*open) {
        free_found = true;
        break;
      }
    }
    // A free slot below a cached limit that is now higher is still free; one that is now
    // lower is the documented case of a limit lowered from outside (docs/design.md).
    if (free_found) return true;
    if (fresh) break;
    // Full or crowded by the cached limit: decide on the limit as it is now.
    if (Status read = read_limit(); !read.ok()) return read.failure();
  }
  const std::uint64_t limit = *limit_known;
  if (limit == 0) return false;
  // Crowded near the limit: count the open descriptors below it.
  char path[64];
  std::snprintf(path, sizeof path, "/proc/%d/fd", tid);
  DIR* d = ::opendir(path);
  if (!d) return Error{errno == ENOENT ? ESRCH : errno};
  std::uint64_t below = 0;
  while (const dirent* e = ::readdir(d)) {
    std::uint64_t fd = 0;
    const char* end = e->d_name + std::strlen(e->d_name);
    if (auto [p, ec] = std::from_chars(e->d_name, end, fd); ec == std::errc() && p == end && fd < limit)
      ++below;
  }
  ::closedir(d);
  return below < limit;
}

}  // namespace sandbox::opening
