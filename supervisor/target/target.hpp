// SPDX-License-Identifier: Apache-2.0
// target: what the supervisor can learn about, or do to, a target task from outside --
// /proc, pidfds, cross-process memory access, kcmp, prlimit. Thin wrappers: a Result
// (base/result.hpp) where the reason matters, std::optional where a fact may be unknown;
// no policy and no accounting here.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.hpp"

namespace sandbox::target {

struct TaskStatus {
  pid_t tgid = 0;
  pid_t ppid = 0;
  char state = '?';  // R, S, D, T, t, Z, X, ...
  uid_t ruid = 0, euid = 0, suid = 0;
  char name[16] = {};  // "Name:" (the comm, as /proc escapes it), NUL-terminated
  // "Seccomp:": 0 none, 1 strict, 2 filter; -1 if the kernel does not say (no
  // CONFIG_SECCOMP). Filters are never removed, so 0 read now means 0 at any earlier time.
  int seccomp = -1;
  int threads = 0;  // "Threads:", the size of its thread group (0 if not said)
  bool alive() const { return state != 'Z' && state != 'X' && state != 'x'; }
};
// /proc/<tid>/status of any task (threads included); nullopt if it does not exist.
std::optional<TaskStatus> status(pid_t tid);

// pidfds. PIDFD_THREAD (Linux 6.9) gives a pidfd for a single thread.
// pidfd_open and write_memory still answer "a value or -errno" (the raw system call's
// shape) for cli/run_bpf.cpp; they become Results with it (docs/design.md, "Errors").
int pidfd_open(pid_t pid, bool thread);   // fd or -errno
bool pidfd_exited(int pidfd);             // readable = the task (or group) has exited
Status pidfd_kill(int pidfd);             // SIGKILL
Status pidfd_signal(int pidfd, int sig);  // any signal

// Target memory. read_string stops at the first NUL: the string, EFAULT if unreadable
// before it, ENAMETOOLONG if no NUL within `max` bytes. read_memory: EFAULT or ESRCH.
Result<std::string> read_string(pid_t tid, std::uint64_t addr, std::size_t max);
Status read_memory(pid_t tid, std::uint64_t addr, void* buf, std::size_t len);
int write_memory(pid_t tid, std::uint64_t addr, const void* buf, std::size_t len);  // 0 or -errno

// Whether fd is open in the thread's fd table (kcmp KCMP_FILE); an error when kcmp cannot say.
Result<bool> fd_open(pid_t tid, unsigned int fd);
// The descriptor fd_open() compares with, opened at the first call and held for the
// process's life; called once at the supervisor's start so that its fd count is steady.
int open_fd_anchor();

// Whether the task is in the supervisor's pid namespace (so pids it passes mean ours).
bool same_pid_ns(pid_t tid);

// Whether two tasks use the same address space (kcmp KCMP_VM).
Result<bool> same_vm(pid_t a, pid_t b);

// Reading /proc through a live thread. A process's /proc/<tgid>/ files describe its
// leader, which may be a zombie (pthread_exit) with no mm, no maps and no fd table while
// other threads run; /proc/<tgid>/task/<tid>/ describes that thread. Every per-process
// read (maps, status counters, stat layout, fds) should go through a live thread.
// A live (not zombie/dead) thread of `tgid`: `prefer` if it is one, else the first found
// in /proc/<tgid>/task; nullopt if none.
std::optional<pid_t> live_thread(pid_t tgid, pid_t prefer = 0);
// "/proc/<tgid>/task/<tid>" for that live thread, or "" if the process has none.
std::string live_task_dir(pid_t tgid, pid_t prefer = 0);

struct Limit {
  std::uint64_t cur = ~0ULL;  // soft; RLIM_INFINITY = ~0
  std::uint64_t max = ~0ULL;  // hard
  bool finite() const { return cur != ~0ULL; }
  bool max_finite() const { return max != ~0ULL; }
};
// Limits are per thread group: any thread id of the process names them.
Limit rlimit(pid_t tid, int resource);
// RLIMIT_AS and RLIMIT_DATA together: what brk and mmap are checked against.
struct MemoryLimits {
  Limit as, data;
};

// Data/brk layout from /proc/<tid>/stat (fields 45-47) of any live thread of the process.
struct Layout {
  std::uint64_t start_data = 0, end_data = 0, start_brk = 0;
};
std::optional<Layout> layout(pid_t tid);
// What tells one image from the next: the layout (start_brk is randomised) and the
// executable's path (/proc/<tid>/exe). Equal before and after an execve: it failed (or, with
// ASLR off, the same program ran again at the same layout).
struct ImageMark {
  Layout layout;
  std::string exe;
  bool operator==(const ImageMark& o) const {
    return layout.start_data == o.layout.start_data && layout.end_data == o.layout.end_data &&
           layout.start_brk == o.layout.start_brk && exe == o.exe;
  }
};
std::optional<ImageMark> image_mark(pid_t tid);
// A guess of the page-aligned program break from /proc/<tid>/maps: the end of the last
// [heap] mapping, or start_brk if there is none. Only a guess: munmap/mprotect split or
// trim the heap, and mremap or a merged neighbour extend it, without moving the break.
std::optional<std::uint64_t> heap_end(pid_t tid, std::uint64_t start_brk);
// Pages of [addr, addr+len) covered by mappings (count_vma_pages_range), from
// /proc/<tid>/maps; nullopt if unreadable.
std::optional<std::uint64_t> mapped_pages(pid_t tid, std::uint64_t addr, std::uint64_t len);
// Whether any mapping starts before `end` and ends after `start` (a vma found by
// find_vma_intersection, or by brk's look-ahead); nullopt if unreadable.
std::optional<bool> range_mapped(pid_t tid, std::uint64_t start, std::uint64_t end);

// Every mapping of the thread's mm from /proc/<tid>/maps, or with `flags` from
// /proc/<tid>/smaps (slower: it walks page tables) with VmFlags' "ac" (VM_ACCOUNT).
// nullopt if unreadable or longer than any mm can be (vm.max_map_count's ceiling).
struct Mapping {
  std::uint64_t start = 0, end = 0;
  bool is_private = true, writable = false, accounted = false;
  bool anonymous = false;  // inode 0: anonymous memory, the heap, a stack
};
std::optional<std::vector<Mapping>> mappings(pid_t tid, bool flags);

struct VmCounters {
  std::uint64_t total_pages = 0, data_pages = 0, locked_pages = 0;
};
// mm->total_vm and mm->data_vm from /proc/<tid>/status of a live thread.
std::optional<VmCounters> vm_counters(pid_t tid);

// Whether the thread's effective capability set holds `cap` (CapEff of /proc/<tid>/status);
// nullopt if unreadable.
std::optional<bool> has_capability(pid_t tid, int cap);

// Host facts read once: vm.mmap_min_addr, and the user address space size (TASK_SIZE: 47
// bits, or 56 with 5-level paging, found by probing).
struct AddressSpaceFacts {
  std::uint64_t mmap_min_addr = 65536;
  std::uint64_t task_size = (std::uint64_t{1} << 47) - 4096;
  // stack_guard_gap in bytes: the kernel command line's stack_guard_gap= (pages), else 256 pages.
  std::uint64_t stack_guard_gap = std::uint64_t{256} << 12;
};
AddressSpaceFacts address_space_facts();
// vm.max_map_count now (root may change it at any time); nullopt if unreadable.
std::optional<std::uint64_t> max_map_count();

// The machine's overcommit policy (read once) for predicting ENOMEM.
struct Overcommit {
  int mode = 0;                      // vm.overcommit_memory
  std::uint64_t ram_swap_pages = 0;  // totalram + total swap, in pages
};
Overcommit overcommit();

// Direct children of this process (all its threads), for cleaning up after a run.
std::vector<pid_t> own_children();
// Direct children of process `pid` (all its threads; 0: this process), as /proc lists them.
std::vector<pid_t> children_of(pid_t pid);

// The parsers of the /proc texts above, pure (no I/O). A target controls parts of these
// texts -- its comm (in status and stat), its maps' file names -- so each takes any bytes
// and answers nullopt rather than guess; test/fuzz/fuzz_proc.cpp fuzzes them.
std::optional<TaskStatus> parse_status(std::string_view status);
std::optional<VmCounters> parse_vm_counters(std::string_view status);
std::optional<bool> parse_capability(std::string_view status, int cap);
// Fields 45-47 of /proc/<tid>/stat, counted after the comm's last ')'.
std::optional<Layout> parse_stat_layout(std::string_view stat);
// The line of /proc/<tid>/limits that starts with `name` ("Max data size").
std::optional<Limit> parse_limit(std::string_view limits, std::string_view name);
// One line of /proc/<tid>/maps: its range and its pathname field ("" for anonymous).
struct MapsLine {
  std::uint64_t start = 0, end = 0;
  std::string_view name;  // points into the line
};
std::optional<MapsLine> parse_maps_line(std::string_view line);

}  // namespace sandbox::target
