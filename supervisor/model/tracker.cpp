// SPDX-License-Identifier: Apache-2.0
#include "model/tracker.hpp"

#include <cerrno>

#include "bpf/rules.h"

namespace sandbox {

std::string_view to_string(Resource r) {
  return r == Resource::heap ? "heap" : "files";
}

// The rules themselves are bpf/rules.h, the same C the BPF engine's programs are built from:
// one definition of how a change moves a counter and when a quota is crossed.
Usage counted(Usage u, const Delta& d) {
  return {tl_heap_after(u.heap, d.heap_bytes, d.heap_credit), tl_files_after(u.files, d.files),
          tl_saturating_add(u.reserved, d.reserved)};
}

int Tracker::register_node(Pid pid, Actor /*actor*/) {
  if (pid < 1) return EINVAL;
  const auto task = tasks_.live_task(pid);
  if (!task) return ESRCH;
  if (nodes_.contains(pid)) return ENFILE;
  Node n;
  n.pid = pid;
  n.tgid = task->tgid;
  nodes_.emplace(pid, n);
  return 0;
}

int Tracker::fetch(Pid pid, Node& out) const {
  if (pid < 1) return EINVAL;
  const auto it = nodes_.find(pid);
  if (it == nodes_.end()) return EINVAL;
  out = it->second;
  return 0;
}

int Tracker::deregister(Pid pid, Actor actor) {
  if (pid < 1) return EINVAL;
  const auto it = nodes_.find(pid);
  if (it == nodes_.end()) return ESRCH;
  // Stricter than the kernel: a quota imposed from outside cannot be dropped from inside.
  if (actor == Actor::target && it->second.imposed_from_outside) return EPERM;
  nodes_.erase(it);
  return 0;
}

int Tracker::resource_cap(Pid pid, std::int64_t heap_mib, std::int64_t files, Actor actor,
                          std::optional<Violation>& enforce) {
  std::optional<std::uint64_t> heap;
  if (heap_mib >= 0) heap = tl_heap_quota_bytes(heap_mib);  // 2^44 MiB and above: never exceeded
  return cap_impl(pid, heap_mib < -1, heap, files, actor, enforce);
}

int Tracker::resource_cap_bytes(Pid pid, std::int64_t heap_bytes, std::int64_t files, Actor actor,
                                std::optional<Violation>& enforce) {
  std::optional<std::uint64_t> heap;
  if (heap_bytes >= 0) heap = static_cast<std::uint64_t>(heap_bytes);
  return cap_impl(pid, heap_bytes < -1, heap, files, actor, enforce);
}

int Tracker::cap_impl(Pid pid, bool bad_heap, std::optional<std::uint64_t> heap, std::int64_t files,
                      Actor actor, std::optional<Violation>& enforce) {
  enforce.reset();
  if (pid < 1 || !tasks_.live_task(pid)) return ESRCH;
  const auto it = nodes_.find(pid);
  if (it == nodes_.end()) return EINVAL;
  if (bad_heap || files < -1) return EINVAL;
  Node& n = it->second;
  if (n.quotas_set()) return ENFILE;
  n.heap_quota_bytes = heap;
  n.file_quota = files >= 0 ? std::optional<std::uint64_t>(static_cast<std::uint64_t>(files)) : std::nullopt;
  n.imposed_from_outside = actor == Actor::outside && n.quotas_set();
  enforce = over_quota(n, n.heapsize, n.openfile_count);  // enforced at once
  return 0;
}

int Tracker::resource_reset(Pid pid, Actor actor) {
  if (pid < 1 || !tasks_.live_task(pid)) return ESRCH;
  const auto it = nodes_.find(pid);
  if (it == nodes_.end()) return EINVAL;
  if (actor == Actor::target && it->second.imposed_from_outside) return EPERM;
  it->second.heap_quota_bytes.reset();
  it->second.file_quota.reset();
  it->second.imposed_from_outside = false;
  return 0;
}

std::optional<Violation> Tracker::over_quota(const Node& n, std::uint64_t heap, std::uint64_t files) {
  if (n.heap_quota_bytes && tl_over(heap, *n.heap_quota_bytes))
    return Violation{n.pid, n.tgid, Resource::heap, heap, *n.heap_quota_bytes};
  if (n.file_quota && tl_over(files, *n.file_quota))
    return Violation{n.pid, n.tgid, Resource::files, files, *n.file_quota};
  return std::nullopt;
}

bool Tracker::tracked(Pid tid, Pid tgid) const {
  return !nodes_.empty() && (nodes_.contains(tgid) || (tid != tgid && nodes_.contains(tid)));
}

std::optional<Violation> Tracker::check(Pid tid, Pid tgid, const Delta& d) const {
  const Pid keys[] = {tgid, tid};
  for (int i = 0; i < (tid == tgid ? 1 : 2); ++i) {
    const auto it = nodes_.find(keys[i]);
    if (it == nodes_.end()) continue;
    const Node& n = it->second;
    const Usage after = counted({n.heapsize, n.openfile_count, n.heap_reserved}, d);
    if (auto v = over_quota(n, after.heap, after.files)) {
      v->tgid = tgid;  // the caller's whole process dies, whichever of its nodes crossed
      v->reserved = after.reserved;
      return v;
    }
  }
  return std::nullopt;
}

void Tracker::apply(Pid tid, Pid tgid, const Delta& d) {
  ++changes_;
  const Pid keys[] = {tgid, tid};
  for (int i = 0; i < (tid == tgid ? 1 : 2); ++i) {
    const auto it = nodes_.find(keys[i]);
    if (it == nodes_.end()) continue;
    Node& n = it->second;
    const Usage after = counted({n.heapsize, n.openfile_count, n.heap_reserved}, d);
    n.heapsize = after.heap, n.openfile_count = after.files, n.heap_reserved = after.reserved;
  }
}

void Tracker::thread_exited(Pid tid, Pid tgid) {
  if (tid != tgid) nodes_.erase(tid);
}

void Tracker::process_exited(Pid tgid) {
  std::erase_if(nodes_, [tgid](const auto& kv) { return kv.second.tgid == tgid; });
  nodes_.erase(tgid);
}

const Node* Tracker::find(Pid pid) const {
  const auto it = nodes_.find(pid);
  return it == nodes_.end() ? nullptr : &it->second;
}

std::vector<Node> Tracker::nodes() const {
  std::vector<Node> out;
  out.reserve(nodes_.size());
  for (const auto& [pid, n] : nodes_) out.push_back(n);
  return out;
}

}  // namespace sandbox
