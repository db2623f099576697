// SPDX-License-Identifier: Apache-2.0
// tracker: the pure accounting and quota model -- the contract of docs/semantics.md.
//
// Events in, decisions out: the five operations with their error numbers, attribution of
// heap and file changes to leader and thread nodes, quota decisions and exit. No system
// calls here; the one window on the world is TaskDirectory ("is this a live task in the
// sandbox's scope, and what is its process?"), answered over /proc by the edge and faked in
// tests. Not thread-safe: the supervisor serialises access with its own lock.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "model/commit.hpp"

namespace sandbox {

using Pid = std::int32_t;

struct TaskFacts {
  Pid tgid = 0;  // the thread group (process) the task belongs to
};

class TaskDirectory {
 public:
  virtual ~TaskDirectory() = default;
  // A live (not exited, not zombie) task with this id inside the sandbox's scope.
  virtual std::optional<TaskFacts> live_task(Pid pid) = 0;
};

// Who asks: a target's own system call, or the outside (CLI, policy, socket client).
enum class Actor { target, outside };

enum class Resource { heap, files };
std::string_view to_string(Resource r);

// One quota crossed: node `node` (of process `tgid`) would hold `usage` against `limit`
// (bytes for heap, a count for files). The process `tgid` is to be killed.
struct Violation {
  Pid node = 0;
  Pid tgid = 0;
  Resource resource = Resource::heap;
  std::uint64_t usage = 0;
  std::uint64_t limit = 0;
  // Not the model's: the edge fills them in for the kill line (docs/memory.md). Under the
  // kernel rule, how much of `usage` were reservations (PROT_NONE or MAP_NORESERVE) and
  // how much is no longer mapped.
  HeapRule rule = HeapRule::kernel;
  std::uint64_t reserved = 0;
  std::uint64_t unmapped = 0;
};

struct Node {
  Pid pid = 0;
  Pid tgid = 0;
  std::uint64_t heapsize = 0;                     // bytes; kernel rule: page-aligned growth, never decreases
  std::uint64_t heap_reserved = 0;                // kernel rule: the part of heapsize mapped as reservations
  std::uint64_t openfile_count = 0;               // successful opens minus successful closes, >= 0
  std::optional<std::uint64_t> heap_quota_bytes;  // nullopt: unlimited
  std::optional<std::uint64_t> file_quota;        // nullopt: unlimited
  bool imposed_from_outside = false;              // a quota set by the outside: the target cannot lift it
  std::string container;                          // not the model's: list() labels a container's root
  HeapRule heap_rule = HeapRule::kernel;          // not the model's: its job's rule (fetch, list)
  bool quotas_set() const { return heap_quota_bytes || file_quota; }
};

// A change made by one call: heap growth in bytes, and +1 / -1 / 0 open files. Under the
// commit rule a call may also credit heap bytes back (munmap); under the kernel rule
// `heap_credit` is always 0 and `reserved` says how much of the growth is a reservation.
struct Delta {
  std::uint64_t heap_bytes = 0;
  int files = 0;
  std::uint64_t heap_credit = 0;
  std::uint64_t reserved = 0;
};

// Two counters under the node rules of docs/semantics.md.
struct Usage {
  std::uint64_t heap = 0;      // bytes; kernel rule: never decreases (saturates); commit: never below 0
  std::uint64_t files = 0;     // never below 0
  std::uint64_t reserved = 0;  // kernel rule: the part of heap that was reservations
};
// The one accounting function: `u` after the change `d`. Nodes (Tracker) and each process's
// share of a job (Jobs) both count with it, so a job counts every process exactly as a
// leader node on that process would.
Usage counted(Usage u, const Delta& d);

class Tracker {
 public:
  explicit Tracker(TaskDirectory& tasks) : tasks_(tasks) {}

  // The five operations. Each returns 0 or a positive errno, checked in the order of the
  // contract table. resource_cap may also report the violation it enforces at once.
  int register_node(Pid pid, Actor actor);
  int fetch(Pid pid, Node& out) const;
  int deregister(Pid pid, Actor actor);
  int resource_cap(Pid pid, std::int64_t heap_mib, std::int64_t files, Actor actor,
                   std::optional<Violation>& enforce);
  int resource_reset(Pid pid, Actor actor);
  // resource_cap with the heap quota in bytes (the CLI accepts K suffixes); -1 unlimited.
  int resource_cap_bytes(Pid pid, std::int64_t heap_bytes, std::int64_t files, Actor actor,
                         std::optional<Violation>& enforce);

  // Accounting for a call made by thread `tid` of process `tgid`: node tgid and, when
  // tid != tgid, node tid. check() says whether applying `d` would put a node over its
  // quota (the first such node); apply() commits it once the call has taken effect.
  std::optional<Violation> check(Pid tid, Pid tgid, const Delta& d) const;
  void apply(Pid tid, Pid tgid, const Delta& d);
  // True when a change by this thread would touch any node (fast path for the edge).
  bool tracked(Pid tid, Pid tgid) const;

  // Exit: a thread node goes when its thread exits; a leader node (and every thread node
  // of the process) when the whole process exits.
  void thread_exited(Pid tid, Pid tgid);
  void process_exited(Pid tgid);

  const Node* find(Pid pid) const;
  std::vector<Node> nodes() const;
  std::size_t size() const { return nodes_.size(); }
  // How many times apply() has run: a cheap "did any counter change?" for observers.
  std::uint64_t changes() const { return changes_; }

 private:
  static std::optional<Violation> over_quota(const Node& n, std::uint64_t heap, std::uint64_t files);
  // The checks and effect shared by both resource_cap forms: `bad_heap` says the heap
  // quota given was below -1.
  int cap_impl(Pid pid, bool bad_heap, std::optional<std::uint64_t> heap, std::int64_t files, Actor actor,
               std::optional<Violation>& enforce);

  TaskDirectory& tasks_;
  std::unordered_map<Pid, Node> nodes_;
  std::uint64_t changes_ = 0;
};

}  // namespace sandbox
