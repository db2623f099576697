// SPDX-License-Identifier: Apache-2.0
// policy: the JSON policy file format (schema in policies/README.md) and its parser.
// A policy says which quotas a run imposes, where the five ABI calls live (or that
// they are off), and which handled syscalls are notified. Command-line flags override it.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>

#include "base/size.hpp"
#include "model/commit.hpp"

namespace sandbox {

// Names of the ABI operations, in table order (register .. resource_reset).
inline constexpr std::array<std::string_view, 5> kAbiOpNames = {"register", "fetch", "deregister",
                                                                "resource_cap", "resource_reset"};
inline constexpr std::array<int, 5> kDefaultAbiNumbers = {451, 452, 453, 454, 455};

struct Policy {
  // Quotas imposed from outside on the launched command (nullopt: no quota).
  std::optional<std::uint64_t> heap_quota_bytes;
  std::optional<std::uint64_t> file_quota;
  // What the heap counters count: the kernel patch's rule, or Linux's commit charge
  // (docs/memory.md). The commit rule also has munmap, mprotect and mremap notified.
  HeapRule heap_rule = HeapRule::kernel;
  // Register the launched command from its first instruction even without a quota.
  bool track = false;
  // A process of the job may ask for a nested job (a `sandbox run` or `sandbox-shim` inside;
  // docs/jobs.md, delegation). false: refused, as before (EBUSY's one line, exit 126).
  bool delegate = true;
  // The five operations as system calls inside the target.
  bool abi_enabled = true;
  std::array<int, 5> abi_numbers = kDefaultAbiNumbers;
  // Per handled syscall family: notified (and so accounted) or not.
  bool notify_brk = true;
  bool notify_mmap = true;
  bool notify_open = true;  // open, openat, openat2, creat
  bool notify_close = true;
  // exit and exit_group are always notified: the supervisor must see threads end to keep
  // its per-thread state from outliving a tid.
  // io_uring bypasses seccomp: denied (ENOSYS) unless allowed, and then unaccounted.
  bool allow_io_uring = false;
};

// Thrown for a malformed policy; what() is one line naming the JSON path of the fault,
// e.g. `policy.json: $.heap_quota: expected a size like "100M" or a number of MiB`.
struct PolicyError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// Parses a policy document. `origin` names it in error messages (a file name).
Policy parse_policy(std::string_view json_text, std::string_view origin);
// Reads and parses a policy file; unreadable files are a PolicyError too.
Policy load_policy_file(const std::string& path);

}  // namespace sandbox
