// SPDX-License-Identifier: Apache-2.0
// What the supervisor tells its event hub (event_hub.hpp): who subscribes, the usage of the
// nodes and jobs a call changed, and whose an event is (HubSource, read by the hub with the
// supervisor's lock held).
#include <cstring>
#include <functional>
#include <mutex>
#include <optional>

#include "notify/supervisor.hpp"
#include "notify/supervisor_detail.hpp"

namespace sandbox {

EventHub::Owner Supervisor::HubSource::stamp(Event& e) const {
  EventHub::Owner o;
  if (auto it = s.procs_.find(e.tgid ? e.tgid : e.pid); it != s.procs_.end()) {
    o.ruid = it->second.ruid, o.suid = it->second.suid, o.job = it->second.job, o.known = true;
    std::memcpy(e.comm, it->second.comm, sizeof e.comm);
    if (e.job == 0) e.job = o.job;  // every event about a job's process names the job
  } else if (e.pid == 0 && e.job != 0) {
    // An event about a job as a whole: seen as its owner's, with the name of its root.
    std::uint32_t owner = 0;
    Pid root = 0;
    if (s.jobs_.owner(e.job, owner, root)) {
      o.ruid = o.suid = owner, o.job = e.job, o.known = true;
      if (const auto r = s.procs_.find(root); r != s.procs_.end())
        std::memcpy(e.comm, r->second.comm, sizeof e.comm);
    }
  }
  // A container is one job: every event about it, or about any of its processes, names it.
  if (const auto c = s.job_containers_.find(e.job ? e.job : o.job);
      e.container.empty() && c != s.job_containers_.end())
    e.container = c->second;
  return o;
}

bool Supervisor::HubSource::within(JobId job, JobId outer) const {
  return s.jobs_.within(job, outer);
}

std::uint64_t Supervisor::subscribe(const Caller& c, std::function<void(const Event&)> fn) {
  return hub_.subscribe(c, WatchFilter{}, std::move(fn));
}

std::uint64_t Supervisor::subscribe(const Caller& c, const WatchFilter& f,
                                    std::function<void(const Event&)> fn) {
  return hub_.subscribe(c, f, std::move(fn));
}

void Supervisor::unsubscribe(std::uint64_t id) {
  hub_.unsubscribe(id);
}

void Supervisor::flush_usage() {
  std::lock_guard lk(mu_);
  // Exits that no notification has noticed yet (a killed process, an idle target's end)
  // are reported now, not at the next call: a cheap epoll_wait of zero timeout.
  if (hub_.any()) sweep();
  hub_.flush();
}

void Supervisor::publish_usage(Pid tid, Pid tgid) {
  const Pid keys[] = {tgid, tid};
  for (int i = 0; i < (tid == tgid ? 1 : 2); ++i)
    if (const Node* n = tracker_.find(keys[i])) hub_.usage(n->pid, EventHub::usage_event(*n), true);
}

void Supervisor::publish_job_usage(JobId job) {
  JobView v;
  if (job == 0 || jobs_.fetch(job, v) != 0 || !v.counting) return;
  Event e{Event::Kind::usage, 0, 0};
  e.job = job;
  e.heap_bytes = v.usage.heap;
  e.open_files = v.usage.files;
  e.heap_quota_bytes = v.heap_quota_bytes;
  e.file_quota = v.file_quota;
  hub_.usage(EventHub::usage_key(job), e, v.live != 0);
}

void Supervisor::publish_member_usage(Pid tgid, bool ended) {
  if (!hub_.raw_usage_wanted() || tracker_.find(tgid) != nullptr)
    return;  // a node has usage events of its own
  Event e{Event::Kind::usage, tgid, tgid};
  e.member = true;
  e.member_ended = ended;
  if (!ended) {
    const std::optional<Usage> share = jobs_.share(tgid);
    if (!share) return;
    e.heap_bytes = share->heap;
    e.open_files = share->files;
  } else {
    e.heap_bytes = 0;
    e.open_files = 0;
  }
  hub_.emit(e, EventHub::UsageTo::raw);
}

}  // namespace sandbox
