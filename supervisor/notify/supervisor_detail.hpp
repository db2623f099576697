// SPDX-License-Identifier: Apache-2.0
// Private to the supervisor's files (notify/*.cpp): the task directory the tracker asks.
#pragma once

#include <optional>

#include "model/tracker.hpp"
#include "notify/supervisor.hpp"
#include "target/target.hpp"

namespace sandbox {

// A live process's parent, from /proc (0: gone), for Supervisor::ancestor_job.
inline Pid parent_from_proc(Pid pid) {
  const auto st = target::status(pid);
  return st ? st->ppid : 0;
}

// "Is pid a live task in the sandbox's scope?" answered from /proc. A task is in scope
// when its process is one we have seen a notification from, or descends from a root we
// launched (orphans are reparented to us: `sandbox run` makes the supervisor a subreaper).
// While `view` is set (a target's own call), only the tasks of that job are in scope: the
// tracker's answers for anything else are those for a task that does not exist.
class Supervisor::Directory final : public TaskDirectory {
 public:
  explicit Directory(Supervisor& s) : s_(s) {}
  std::optional<TaskFacts> live_task(Pid pid) override {
    if (pid < 1) return std::nullopt;
    const auto st = target::status(pid);
    if (!st || !st->alive()) return std::nullopt;
    const JobId job = s_.job_of(st->tgid);
    if (job == 0 || (view && *view != job)) return std::nullopt;
    return TaskFacts{st->tgid};
  }
  std::optional<JobId> view;

 private:
  Supervisor& s_;
};

template <typename D>
struct ViewGuard {
  D& d;
  ViewGuard(D& dir, std::optional<JobId> job) : d(dir) { d.view = job; }
  ~ViewGuard() { d.view.reset(); }
};

}  // namespace sandbox
