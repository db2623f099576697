// ABI family: the five operations as system calls inside a target (451-455 by default),
// answered entirely by the supervisor with the kernel patch's return values.
#include <cerrno>

#include "../supervisor.hpp"

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

void Supervisor::on_abi(Call& c, Op op) {
  // pid_t arguments are ints: the kernel truncates the 64-bit register, and so do we.
  const auto pid = static_cast<Pid>(static_cast<std::int32_t>(c.arg(op == Op::abi_fetch ? 1 : 0)));
  int rc = 0;
  switch (op) {
    case Op::abi_register:
      rc = tracker_.register_node(pid, Actor::target);
      if (rc == 0) {
        const Pid tgid = tracker_.find(pid)->tgid;
        watch_node(pid, tgid);
        emit({Event::Kind::registered, pid, tgid});
      }
      break;
    case Op::abi_fetch: {
      Node n;
      rc = tracker_.fetch(pid, n);
      if (rc != 0) break;
      const PerProcResource out{n.pid, 0, n.heapsize, n.openfile_count};
      // Checked just before writing: the caller is still blocked in this call, so its pid
      // still names it (a reuse would need the task killed and reaped first).
      if (!c.ch.id_valid(c.n.id)) return;
      if (target::write_memory(c.tid, c.arg(0), &out, sizeof out) < 0) rc = EINVAL;
      break;
    }
    case Op::abi_deregister: {
      const Node* n = tracker_.find(pid);
      const Pid tgid = n ? n->tgid : 0;
      rc = tracker_.deregister(pid, Actor::target);
      if (rc == 0) {
        thread_nodes_.erase(pid);
        emit({Event::Kind::deregistered, pid, tgid});
      }
      break;
    }
    case Op::abi_resource_cap: {
      std::optional<Violation> enforce;
      rc = tracker_.resource_cap(pid, static_cast<std::int64_t>(c.arg(1)),
                                 static_cast<std::int64_t>(c.arg(2)), Actor::target, enforce);
      if (rc == 0) {
        const Node* n = tracker_.find(pid);
        Event e{Event::Kind::quota_set, pid, n->tgid};
        e.heap_quota_bytes = n->heap_quota_bytes, e.file_quota = n->file_quota;
        emit(e);
      }
      if (enforce) kill_for(*enforce);  // enforced at once, as in the kernel
      break;
    }
    case Op::abi_resource_reset:
      rc = tracker_.resource_reset(pid, Actor::target);
      if (rc == 0) emit({Event::Kind::quota_reset, pid, tracker_.find(pid)->tgid});
      break;
    default: rc = ENOSYS;
  }
  if (rc != 0)
    reply_error(c, rc);
  else
    reply_value(c, 0);
}

}  // namespace sandbox
