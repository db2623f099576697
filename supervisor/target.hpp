// target: what the supervisor can learn about, or do to, a target task from outside --
// /proc, pidfds, cross-process memory access, kcmp, prlimit. Thin wrappers, errors as
// -errno; no policy and no accounting here.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace sandbox::target {

struct TaskStatus {
  pid_t tgid = 0;
  pid_t ppid = 0;
  char state = '?';  // R, S, D, T, t, Z, X, ...
  uid_t ruid = 0, euid = 0, suid = 0;
  bool alive() const { return state != 'Z' && state != 'X' && state != 'x'; }
};
// /proc/<tid>/status of any task (threads included); nullopt if it does not exist.
std::optional<TaskStatus> status(pid_t tid);

// pidfds. PIDFD_THREAD (Linux 6.9) gives a pidfd for a single thread.
int pidfd_open(pid_t pid, bool thread);  // fd or -errno
bool pidfd_exited(int pidfd);            // readable = the task (or group) has exited
int pidfd_kill(int pidfd);               // SIGKILL; 0 or -errno

// Target memory. read_string stops at the first NUL; -EFAULT if unreadable before it,
// -ENAMETOOLONG if no NUL within `max` bytes.
int read_string(pid_t tid, std::uint64_t addr, std::size_t max, std::string& out);
int read_memory(pid_t tid, std::uint64_t addr, void* buf, std::size_t len);
int write_memory(pid_t tid, std::uint64_t addr, const void* buf, std::size_t len);

// Whether fd is open in the thread's fd table: 1, 0, or -errno (kcmp KCMP_FILE).
int fd_open(pid_t tid, unsigned int fd);

struct Limit {
  std::uint64_t cur = ~0ULL;  // RLIM_INFINITY
  bool finite() const { return cur != ~0ULL; }
};
Limit rlimit(pid_t pid, int resource);
// RLIMIT_AS and RLIMIT_DATA together: what brk and mmap are checked against.
struct MemoryLimits {
  Limit as, data;
};

// Data/brk layout from /proc/<pid>/stat (fields 45-47).
struct Layout {
  std::uint64_t start_data = 0, end_data = 0, start_brk = 0;
};
std::optional<Layout> layout(pid_t pid);
// Page-aligned program break: end of the [heap] mapping, or start_brk if there is none.
std::optional<std::uint64_t> heap_end(pid_t pid, std::uint64_t start_brk);
// Whether [addr, addr+len) overlaps any mapping, from /proc/<pid>/maps; nullopt if unreadable.
std::optional<bool> range_mapped(pid_t pid, std::uint64_t addr, std::uint64_t len);

struct VmCounters {
  std::uint64_t total_pages = 0, data_pages = 0, locked_pages = 0;
};
std::optional<VmCounters> vm_counters(pid_t pid);

// The machine's overcommit policy (read once) for predicting ENOMEM.
struct Overcommit {
  int mode = 0;                      // vm.overcommit_memory
  std::uint64_t ram_swap_pages = 0;  // totalram + total swap, in pages
};
Overcommit overcommit();

// Direct children of this process (all its threads), for cleaning up after a run.
std::vector<pid_t> own_children();

}  // namespace sandbox::target
