// SPDX-License-Identifier: Apache-2.0
#include "policy/syscalls.hpp"

#include <linux/sched.h>
#include <seccomp.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <memory>
#include <stdexcept>
#include <string>

#include "base/unique_fd.hpp"

namespace sandbox {
namespace {

constexpr std::uint64_t kAnonPrivate = MAP_ANONYMOUS | MAP_PRIVATE;
constexpr std::uint64_t kCloneVmOnly = CLONE_VM | CLONE_THREAD;  // masked: CLONE_VM set, CLONE_THREAD not

// clang-format off
constexpr SyscallDef kTable[] = {
  // name               nr                  op                      family                 condition
  {"brk",               SYS_brk,            Op::brk,                Family::memory_brk,    ArgCondition{0, ArgCondition::Test::ne, 0, 0}},
  {"mmap",              SYS_mmap,           Op::mmap,               Family::memory_mmap,   ArgCondition{3, ArgCondition::Test::masked_eq, kAnonPrivate, kAnonPrivate}},
  // The commit rule follows every mapping change (a MAP_FIXED file mapping may replace a
  // charged one): these rows replace the one above when a policy chooses it.
  {"mmap",              SYS_mmap,           Op::mmap,               Family::memory_commit, std::nullopt},
  {"munmap",            SYS_munmap,         Op::munmap,             Family::memory_commit, std::nullopt},
  {"mprotect",          SYS_mprotect,       Op::mprotect,           Family::memory_commit, std::nullopt},
  {"pkey_mprotect",     SYS_pkey_mprotect,  Op::mprotect,           Family::memory_commit, std::nullopt},
  {"mremap",            SYS_mremap,         Op::mremap,             Family::memory_commit, std::nullopt},
  {"open",              SYS_open,           Op::open,               Family::files_open,    std::nullopt},
  {"openat",            SYS_openat,         Op::openat,             Family::files_open,    std::nullopt},
  {"openat2",           SYS_openat2,        Op::openat2,            Family::files_open,    std::nullopt},
  {"creat",             SYS_creat,          Op::creat,              Family::files_open,    std::nullopt},
  {"close",             SYS_close,          Op::close,              Family::files_close,   std::nullopt},
  {"exit",              SYS_exit,           Op::exit,               Family::always,        std::nullopt},
  {"exit_group",        SYS_exit_group,     Op::exit_group,         Family::always,        std::nullopt},
  {"execve",            SYS_execve,         Op::execve,             Family::always,        std::nullopt},
  {"execveat",          SYS_execveat,       Op::execve,             Family::always,        std::nullopt},
  {"setuid",            SYS_setuid,         Op::credentials,        Family::files_open,    std::nullopt},
  {"setgid",            SYS_setgid,         Op::credentials,        Family::files_open,    std::nullopt},
  {"setreuid",          SYS_setreuid,       Op::credentials,        Family::files_open,    std::nullopt},
  {"setregid",          SYS_setregid,       Op::credentials,        Family::files_open,    std::nullopt},
  {"setresuid",         SYS_setresuid,      Op::credentials,        Family::files_open,    std::nullopt},
  {"setresgid",         SYS_setresgid,      Op::credentials,        Family::files_open,    std::nullopt},
  {"setfsuid",          SYS_setfsuid,       Op::credentials,        Family::files_open,    std::nullopt},
  {"setfsgid",          SYS_setfsgid,       Op::credentials,        Family::files_open,    std::nullopt},
  {"setgroups",         SYS_setgroups,      Op::credentials,        Family::files_open,    std::nullopt},
  {"capset",            SYS_capset,         Op::credentials,        Family::files_open,    std::nullopt},
  {"chroot",            SYS_chroot,         Op::root_change,        Family::files_open,    std::nullopt},
  {"pivot_root",        SYS_pivot_root,     Op::root_change,        Family::files_open,    std::nullopt},
  {"setns",             SYS_setns,          Op::root_change,        Family::files_open,    std::nullopt},
  {"unshare",           SYS_unshare,        Op::root_change,        Family::files_open,    std::nullopt},
  {"setrlimit",         SYS_setrlimit,      Op::rlimit_change,      Family::memory_rlimit, std::nullopt},
  {"prlimit64",         SYS_prlimit64,      Op::rlimit_change,      Family::memory_rlimit, ArgCondition{2, ArgCondition::Test::ne, 0, 0}},
  // The break and the layout are per address space: the memory handlers must hear of every
  // process that starts sharing one. clone3's flags are in memory (not checkable in BPF,
  // and a TOCTOU if read): every clone3 is taken as one that may share (threads included).
  {"clone",             SYS_clone,          Op::vm_clone,           Family::memory_share,  ArgCondition{0, ArgCondition::Test::masked_eq, kCloneVmOnly, CLONE_VM}},
  {"clone3",            SYS_clone3,         Op::vm_clone,           Family::memory_share,  std::nullopt},
  {"vfork",             SYS_vfork,          Op::vm_clone,           Family::memory_share,  std::nullopt},
  // PR_SET_MM rewrites start_brk/brk and the layout the memory handlers rely on: refused.
  {"prctl",             SYS_prctl,          Op::deny_eperm,         Family::memory_share,  ArgCondition{0, ArgCondition::Test::masked_eq, 0xffffffffu, PR_SET_MM}},
  {"io_uring_setup",    SYS_io_uring_setup, Op::deny_enosys,        Family::io_uring,      std::nullopt},
  {"register",          -1,                 Op::abi_register,       Family::abi,           std::nullopt},
  {"fetch",             -1,                 Op::abi_fetch,          Family::abi,           std::nullopt},
  {"deregister",        -1,                 Op::abi_deregister,     Family::abi,           std::nullopt},
  {"resource_cap",      -1,                 Op::abi_resource_cap,   Family::abi,           std::nullopt},
  {"resource_reset",    -1,                 Op::abi_resource_reset, Family::abi,           std::nullopt},
};
// clang-format on

// `any_rule`: for the dispatch, which serves jobs of both heap rules.
bool enabled(const SyscallDef& d, const Policy& p, bool any_rule = false) {
  const bool commit = p.heap_rule == HeapRule::commit;
  switch (d.family) {
    case Family::memory_brk: return p.notify_brk;
    case Family::memory_mmap: return p.notify_mmap && (any_rule || !commit);
    case Family::memory_commit: return p.notify_mmap && (any_rule || commit);
    // Limit changes also keep the open handler's cached RLIMIT_NOFILE honest (files.cpp).
    case Family::memory_rlimit: return p.notify_brk || p.notify_mmap || p.notify_open;
    case Family::memory_share: return p.notify_brk || p.notify_mmap;
    case Family::files_open: return p.notify_open;
    case Family::files_close: return p.notify_close;
    case Family::always: return true;
    case Family::abi: return p.abi_enabled;
    case Family::io_uring: return !p.allow_io_uring;
  }
  return false;
}

// The number a row has under this policy (ABI rows are placed by the policy).
int number_of(const SyscallDef& d, const Policy& p) {
  if (d.nr >= 0) return d.nr;
  const auto index = static_cast<std::size_t>(d.op) - static_cast<std::size_t>(Op::abi_register);
  return p.abi_numbers.at(index);
}

[[noreturn]] void fail(const char* call, int rc) {
  throw std::runtime_error(std::string(call) + ": " + std::strerror(-rc));
}

}  // namespace

std::span<const SyscallDef> syscall_table() {
  return kTable;
}

std::string_view op_name(Op op) {
  for (const auto& d : kTable)
    if (d.op == op) return d.name;
  return "syscall";
}

std::vector<FilterRule> filter_rules(const Policy& policy) {
  std::vector<FilterRule> out;
  for (const auto& d : kTable) {
    if (!enabled(d, policy)) continue;
    const auto action = d.op == Op::deny_enosys  ? FilterRule::Action::errno_enosys
                        : d.op == Op::deny_eperm ? FilterRule::Action::errno_eperm
                                                 : FilterRule::Action::notify;
    out.push_back({&d, number_of(d, policy), action});
  }
  return out;
}

Dispatch build_dispatch(const Policy& policy) {
  Dispatch out;
  for (const auto& d : kTable) {
    if (!enabled(d, policy, /*any_rule=*/true) || d.op == Op::deny_enosys || d.op == Op::deny_eperm) continue;
    const int nr = number_of(d, policy);
    if (nr >= 0 && nr < kMaxSyscallNr) out.ops[static_cast<std::size_t>(nr)] = d.op;
  }
  return out;
}

std::vector<sock_filter> build_filter(const Policy& policy) {
  struct CtxDeleter {
    void operator()(void* c) const { seccomp_release(c); }
  };
  std::unique_ptr<void, CtxDeleter> ctx(seccomp_init(SCMP_ACT_ALLOW));
  if (!ctx) throw std::runtime_error("seccomp_init: failed");
  // Another architecture (int 0x80 from a 64-bit process, x32) would bypass the table:
  // such a call kills the whole process instead.
  if (int rc = seccomp_attr_set(ctx.get(), SCMP_FLTATR_ACT_BADARCH, SCMP_ACT_KILL_PROCESS); rc < 0)
    fail("seccomp_attr_set(ACT_BADARCH)", rc);
  // A binary tree over syscall numbers instead of a linear list: a call that is not in the
  // table (getpid, read, file-backed mmap...) runs a handful of BPF instructions, not all.
  if (int rc = seccomp_attr_set(ctx.get(), SCMP_FLTATR_CTL_OPTIMIZE, 2); rc < 0)
    fail("seccomp_attr_set(CTL_OPTIMIZE)", rc);
  for (const FilterRule& r : filter_rules(policy)) {
    const std::uint32_t action = r.action == FilterRule::Action::notify
                                     ? SCMP_ACT_NOTIFY
                                     : SCMP_ACT_ERRNO(static_cast<std::uint32_t>(r.errno_value()));
    int rc = 0;
    if (r.def->only_if) {
      const ArgCondition& c = *r.def->only_if;
      const scmp_arg_cmp cmp = c.test == ArgCondition::Test::ne
                                   ? SCMP_CMP64(c.arg, SCMP_CMP_NE, c.value)
                                   : SCMP_CMP64(c.arg, SCMP_CMP_MASKED_EQ, c.mask, c.value);
      rc = seccomp_rule_add_exact_array(ctx.get(), action, r.nr, 1, &cmp);
    } else {
      rc = seccomp_rule_add_exact(ctx.get(), action, r.nr, 0);
    }
    if (rc < 0) fail("seccomp_rule_add", rc);
  }
  // libseccomp 2.5 exports BPF only to a file descriptor: go through a memfd.
  UniqueFd mem(static_cast<int>(::syscall(SYS_memfd_create, "sandbox-bpf", MFD_CLOEXEC)));
  if (!mem) throw std::runtime_error(std::string("memfd_create: ") + std::strerror(errno));
  if (int rc = seccomp_export_bpf(ctx.get(), mem.get()); rc < 0) fail("seccomp_export_bpf", rc);
  const off_t size = ::lseek(mem.get(), 0, SEEK_END);
  if (size <= 0 || size % static_cast<off_t>(sizeof(sock_filter)) != 0)
    throw std::runtime_error("seccomp_export_bpf: unexpected program size");
  std::vector<sock_filter> prog(static_cast<std::size_t>(size) / sizeof(sock_filter));
  if (::pread(mem.get(), prog.data(), static_cast<std::size_t>(size), 0) != size)
    throw std::runtime_error(std::string("pread(bpf): ") + std::strerror(errno));
  return prog;
}

}  // namespace sandbox
