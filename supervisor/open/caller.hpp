// SPDX-License-Identifier: Apache-2.0
// caller: what an open needs to learn from the calling thread before it is performed --
// its memory, read as the kernel's own copy_from_user() would read it, and whether its
// fd table has a free slot. Called without the supervisor's lock (a read may wait: a
// userfaultfd-registered page waits for its handler, as the target's own fault would).
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>

#include "base/result.hpp"

namespace sandbox::opening {

// Reads `len` bytes at `addr` of thread `tid`; fails with EFAULT or ESRCH. A page the target
// itself could read from kernel mode is read, whatever its VM_READ bit says: on x86-64
// without protection keys that is every mapping with any of PROT_READ, PROT_WRITE or
// PROT_EXEC (process_vm_readv needs VM_READ; /proc/<tid>/mem, used as the fallback,
// reaches the others). PROT_NONE pages fail with EFAULT, as they do for the kernel.
Status read_user(pid_t tid, std::uint64_t addr, void* buf, std::size_t len);
// getname(): stops at the first NUL; EFAULT if unreadable before it, ENAMETOOLONG if
// there is no NUL within `max` bytes, ESRCH if the thread is gone.
Result<std::string> read_user_string(pid_t tid, std::uint64_t addr, std::size_t max);

// Whether thread `tid`'s fd table has a free descriptor below its RLIMIT_NOFILE, as
// get_unused_fd_flags() would find one; an error when it cannot be told.
// `limit` is the process's soft RLIMIT_NOFILE as the caller last knew it (nullopt: not
// known); it is read when unknown, and read again before any answer other than "room",
// so a stale value can cost a read but never give a wrong "full". On return it holds the
// last value read (or the one passed in) and `fresh` says whether it was read here.
Result<bool> fd_table_has_room(pid_t tid, std::optional<std::uint64_t>& limit, bool& fresh);

}  // namespace sandbox::opening
