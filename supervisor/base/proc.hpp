// SPDX-License-Identifier: Apache-2.0
// proc: what this process and the system's process table say about themselves, read once
// here: the pids in /proc, our own descriptors and threads, and RLIMIT_NOFILE raised.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <functional>

namespace sandbox::proc {

// Calls fn(pid) for every process in /proc but init (pid 1); the scan is a snapshot as the
// kernel lists it (a process may be gone, or a new one missed, by the time fn runs).
void for_each_pid(const std::function<void(pid_t)>& fn);

// Descriptors this process holds open now (/proc/self/fd, not counting the one that reads it).
std::uint64_t count_open_fds();
// Threads of this process ("Threads:" of /proc/self/status); 0 if unreadable.
std::uint64_t count_threads();

// RLIMIT_NOFILE's soft limit raised to its hard limit (capped by fs.nr_open when the hard
// limit is infinite); returns the limit now in force (1024 if it cannot be read). Failure
// to raise is harmless: the caller serves fewer at once.
std::uint64_t raise_nofile_limit();

}  // namespace sandbox::proc
