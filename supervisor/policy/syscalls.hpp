// SPDX-License-Identifier: Apache-2.0
// syscalls: the single table of handled system calls.
//
// Every row says which syscall (x86-64 number), which handler answers it, which policy
// switch turns it off, and an optional argument condition checked in BPF. The seccomp
// filter, the dispatch array of the notify loop and the names in logs are all built from
// this table; adding a syscall is one row. The five ABI operations have no fixed number:
// the policy places them (451-455 by default) or turns them off.
#pragma once

#include <linux/filter.h>

#include <array>
#include <cerrno>
#include <cstdint>
#include <optional>
#include <span>
#include <string_view>
#include <vector>

#include "policy/policy.hpp"

namespace sandbox {

enum class Op : std::uint8_t {
  none = 0,  // not handled (never notified)
  brk,
  mmap,
  munmap,    // the commit rule only: credits
  mprotect,  // the commit rule only: mprotect, pkey_mprotect (a reservation made writable)
  mremap,    // the commit rule only
  open,
  openat,
  openat2,
  creat,
  close,
  exit,
  exit_group,
  execve,
  credentials,    // set*id, setgroups, capset: the open emulation's cached credentials go stale
  root_change,    // chroot, pivot_root, setns, unshare: its cached roots may go stale
  rlimit_change,  // setrlimit, prlimit64 with a new value: cached memory limits go stale
  vm_clone,       // clone(CLONE_VM without CLONE_THREAD), clone3, vfork: an mm may become shared
  abi_register,
  abi_fetch,
  abi_deregister,
  abi_resource_cap,
  abi_resource_reset,
  deny_enosys,  // answered in BPF with ENOSYS (io_uring_setup unless the policy allows it)
  deny_eperm,   // answered in BPF with EPERM (prctl(PR_SET_MM))
};

// Which policy switch governs a row.
enum class Family : std::uint8_t {
  memory_brk,
  memory_mmap,    // the kernel rule's: anonymous private mmap only
  memory_commit,  // the commit rule's: every mmap, munmap, mprotect, mremap (docs/memory.md)
  memory_rlimit,
  memory_share,  // what the memory handlers need to know which processes share an mm
  files_open,
  files_close,
  always,
  abi,
  io_uring
};

struct ArgCondition {  // notify only when the argument passes this test
  enum class Test : std::uint8_t {
    masked_eq,  // (args[arg] & mask) == value
    ne,         // args[arg] != value
  };
  std::uint8_t arg;
  Test test;
  std::uint64_t mask;
  std::uint64_t value;
};

struct SyscallDef {
  std::string_view name;
  int nr;  // x86-64 number; -1 for ABI rows (placed by the policy)
  Op op;
  Family family;
  std::optional<ArgCondition> only_if;
};

// The table itself (x86-64).
std::span<const SyscallDef> syscall_table();

inline constexpr int kMaxSyscallNr = 1024;  // ABI numbers must lie below this

// nr -> Op for one policy: what the notify loop dispatches on.
struct Dispatch {
  std::array<Op, kMaxSyscallNr> ops{};
  Op at(std::uint64_t nr) const { return nr < ops.size() ? ops[nr] : Op::none; }
};
// Dispatches the rows of both heap rules (a `serve` joins jobs of either); the filter of
// each notifies only its own.
Dispatch build_dispatch(const Policy& policy);

// Name of a handled syscall for logs ("brk", "register", ...), or "syscall" if unknown.
std::string_view op_name(Op op);

// One enabled row as a filter rule under a policy: what build_filter installs and what
// `sandbox oci-profile` prints as an OCI linux.seccomp rule (docs/containers.md).
struct FilterRule {
  enum class Action : std::uint8_t { notify, errno_enosys, errno_eperm };
  const SyscallDef* def;
  int nr;  // the row's number (ABI rows: where the policy placed them)
  Action action;
  int errno_value() const {  // for the errno actions
    return action == Action::errno_enosys ? ENOSYS : action == Action::errno_eperm ? EPERM : 0;
  }
};
std::vector<FilterRule> filter_rules(const Policy& policy);

// The BPF program for one policy: notify on the table's rows (with their argument
// conditions), ENOSYS for denied rows, ALLOW for everything else, and kill the process for
// any other architecture (i386 via int 0x80, x32), so no call bypasses the table.
// Throws std::runtime_error naming the libseccomp call that failed.
std::vector<sock_filter> build_filter(const Policy& policy);

}  // namespace sandbox
