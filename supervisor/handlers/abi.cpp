// SPDX-License-Identifier: Apache-2.0
// ABI family: the five operations as system calls inside a target (451-455 by default),
// answered entirely by the supervisor with the kernel patch's return values.
#include <cerrno>

#include "notify/supervisor.hpp"

namespace sandbox {
namespace {

// struct per_proc_resource of the kernel patch, as the target sees it (24 bytes).
struct PerProcResource {
  std::int32_t pid;
  std::uint32_t pad;
  std::uint64_t heapsize;
  std::uint64_t openfile_count;
};
static_assert(sizeof(PerProcResource) == 24);

}  // namespace

Reply Supervisor::on_abi(Call& c, Op op) {
  // pid_t arguments are ints: the kernel truncates the 64-bit register, and so do we.
  const auto pid = static_cast<Pid>(static_cast<std::int32_t>(c.arg(op == Op::abi_fetch ? 1 : 0)));
  // A target sees only its own job (its launch): another tenant's processes are as
  // invisible to it as tasks outside the filter -- the rights its user would have over the
  // socket from inside, never more. A process whose job is unknown sees nothing.
  const View v{Actor::target, c.proc.job};
  int rc = 0;
  switch (op) {
    case Op::abi_register: rc = op_register(v, pid); break;
    case Op::abi_fetch: {
      Node n;
      rc = op_fetch(v, pid, n);
      if (rc != 0) break;
      const PerProcResource out{n.pid, 0, n.heapsize, n.openfile_count};
      // Checked just before writing: the caller is still blocked in this call, so its pid
      // still names it (a reuse would need the task killed and reaped first).
      if (!c.ch.id_valid(c.n.id)) return Reply::none();
      if (target::write_memory(c.tid, c.arg(0), &out, sizeof out) < 0) rc = EINVAL;
      break;
    }
    case Op::abi_deregister: rc = op_deregister(v, pid); break;
    case Op::abi_resource_cap:
      rc = op_cap(v, pid, [&](Actor a, std::optional<Violation>& enforce) {
        return tracker_.resource_cap(pid, static_cast<std::int64_t>(c.arg(1)),
                                     static_cast<std::int64_t>(c.arg(2)), a, enforce);
      });
      break;
    case Op::abi_resource_reset: rc = op_reset(v, pid); break;
    default: rc = ENOSYS;
  }
  return rc != 0 ? Reply::error(rc) : Reply::value(0);
}

}  // namespace sandbox
