// SPDX-License-Identifier: Apache-2.0
// The supervisor seen from outside over time: usage events (raw for the trace, coalesced
// for watchers) and the metrics snapshot. Members of Supervisor, run with mu_ held unless
// they take it themselves.
#include <string.h>
#include <time.h>

#include "base/proc.hpp"
#include "notify/supervisor.hpp"
#include "observe/metrics.hpp"

namespace sandbox {
namespace {

std::uint64_t clock_ns(clockid_t clock) {
  timespec t{};
  ::clock_gettime(clock, &t);
  return static_cast<std::uint64_t>(t.tv_sec) * 1'000'000'000u + static_cast<std::uint64_t>(t.tv_nsec);
}
std::uint64_t monotonic_ns() {
  return clock_ns(CLOCK_MONOTONIC);
}
// A coalesced event is stamped when it is decided, right after the monotonic clock that
// spaced it was read (emit() would stamp it later, after a variable delay), so the stamps
// of one node's events are as far apart as the decisions were.
Event decided(const Event& e) {
  Event s = e;
  s.time_ns = clock_ns(CLOCK_REALTIME);
  return s;
}

}  // namespace

Event Supervisor::usage_event(const Node& n) const {
  Event e{Event::Kind::usage, n.pid, n.tgid};
  e.heap_bytes = n.heapsize;
  e.open_files = n.openfile_count;
  e.heap_quota_bytes = n.heap_quota_bytes;
  e.file_quota = n.file_quota;
  return e;
}

void Supervisor::publish_usage(Pid tid, Pid tgid) {
  const Pid keys[] = {tgid, tid};
  for (int i = 0; i < (tid == tgid ? 1 : 2); ++i)
    if (const Node* n = tracker_.find(keys[i])) publish_usage_event(n->pid, usage_event(*n), true);
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
  publish_usage_event(usage_key(job), e, v.live != 0);
}

void Supervisor::publish_member_usage(Pid tgid, bool ended) {
  if (usage_raw_ == 0 || tracker_.find(tgid) != nullptr) return;  // a node has usage events of its own
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
  emit(e, UsageTo::raw);
}

void Supervisor::publish_usage_event(std::int64_t key, const Event& e, bool hold_allowed) {
  if (usage_raw_) emit(e, UsageTo::raw);
  if (!usage_coalesced_) return;
  // At most one event per node (or job) per interval; a change inside it is held back and
  // sent by flush_usage() with the values of that moment, so the last value always arrives.
  const std::uint64_t now = monotonic_ns();
  UsageState& u = usage_state_[key];
  if (!hold_allowed || now - u.last_ns >= kUsageIntervalNs) {
    u.last_ns = now;
    u.pending = false;  // flush_usage() drops it from usage_pending_
    emit(decided(e), UsageTo::coalesced);
  } else {
    u.held = e;
    if (!u.pending) usage_pending_.push_back(key);
    u.pending = true;
  }
}

void Supervisor::flush_usage() {
  std::lock_guard lk(mu_);
  // Exits that no notification has noticed yet (a killed process, an idle target's end)
  // are reported now, not at the next call: a cheap epoll_wait of zero timeout.
  if (!subscribers_.empty()) sweep();
  if (usage_pending_.empty()) return;
  const std::uint64_t now = monotonic_ns();
  std::erase_if(usage_pending_, [&](std::int64_t key) {
    const auto it = usage_state_.find(key);
    if (it == usage_state_.end() || !it->second.pending) return true;  // the node is gone
    if (now - it->second.last_ns < kUsageIntervalNs) return false;     // not yet
    it->second.pending = false;
    it->second.last_ns = now;
    if (usage_coalesced_) emit(decided(it->second.held), UsageTo::coalesced);
    return true;
  });
}

void Supervisor::release_usage(std::int64_t key) {
  const auto it = usage_state_.find(key);
  if (it == usage_state_.end() || !it->second.pending) return;
  it->second.pending = false;  // flush_usage() drops it from usage_pending_
  if (usage_coalesced_) emit(it->second.held, UsageTo::coalesced);
}

observe::MetricsSnapshot Supervisor::metrics_snapshot(const Caller& c) {
  observe::MetricsSnapshot s;
  std::lock_guard lk(mu_);
  sweep();
  const View v = view_of(c);
  for (const Node& n : tracker_.nodes()) {
    // What `list` shows this caller: root every node, another user their own targets
    // (kill(2)'s rule), a caller inside the sandbox its own job's.
    if (!authorize(c, n.pid).ok() || !visible(v, n.tgid)) continue;
    const auto p = procs_.find(n.tgid);
    observe::MetricsSnapshot::Node m;
    m.pid = n.pid;
    m.tgid = n.tgid;
    if (p != procs_.end()) {
      m.uid = p->second.ruid;
      m.comm.assign(p->second.comm, strnlen(p->second.comm, sizeof p->second.comm));
    }
    if (p != procs_.end() && p->second.job != 0) {
      m.job = std::to_string(p->second.job);
      if (const auto ct = job_containers_.find(p->second.job); ct != job_containers_.end())
        m.container = ct->second;
    }
    m.heap_bytes = n.heapsize;
    m.open_files = n.openfile_count;
    m.heap_quota_bytes = n.heap_quota_bytes;
    m.file_quota = n.file_quota;
    s.nodes.push_back(std::move(m));
  }
  // Jobs as list shows them: root every job, another user their own, a caller inside the
  // sandbox only its own job.
  for (const JobView& j : jobs_.list()) {
    if (c.inside ? c.job != j.id : (c.uid != 0 && c.uid != j.owner)) continue;
    observe::MetricsSnapshot::Job m;
    m.job = std::to_string(j.id);
    m.root = j.root;
    m.uid = j.owner;
    if (const auto ct = job_containers_.find(j.id); ct != job_containers_.end()) m.container = ct->second;
    if (const auto p = procs_.find(j.root); p != procs_.end())
      m.comm.assign(p->second.comm, strnlen(p->second.comm, sizeof p->second.comm));
    m.processes = j.live;
    m.counting = j.counting;
    m.heap_bytes = j.usage.heap;
    m.open_files = j.usage.files;
    m.heap_quota_bytes = j.heap_quota_bytes;
    m.file_quota = j.file_quota;
    s.jobs.push_back(std::move(m));
  }
  // Counters are the supervisor's, not any one target's: every outside caller sees them;
  // a caller inside the sandbox does not learn about other tenants' activity.
  if (c.inside) return s;
  for (std::size_t nr = 0; nr < by_nr_.size(); ++nr) {
    if (by_nr_[nr] == 0) continue;
    std::string name;
    for (const SyscallDef& d : syscall_table())
      if (d.nr == static_cast<int>(nr)) name = std::string(d.name);
    if (name.empty()) name = std::string(op_name(dispatch_.at(nr)));  // an ABI number
    s.notifications.emplace_back(std::move(name), by_nr_[nr]);
  }
  s.kills = {{"heap", kills_heap_}, {"files", kills_files_}};
  s.errors = {{"unattributed", unattributed_}};
  s.listeners = emulators_.size();  // one per thread serving a listener
  return s;
}

std::string Supervisor::metrics_text(const Caller& c, observe::MetricsFormat f, bool per_target) {
  observe::MetricsSnapshot s = metrics_snapshot(c);
  s.version = SANDBOX_VERSION;
  s.supervisor_fds = proc::count_open_fds();
  s.supervisor_threads = proc::count_threads();
  s.per_target = per_target;
  return observe::format_metrics(s, f);
}

OpResult Supervisor::metrics(const Caller& c, bool openmetrics, std::string& out) {
  out = metrics_text(
      c, openmetrics ? observe::MetricsFormat::openmetrics : observe::MetricsFormat::prometheus, true);
  return {};
}

}  // namespace sandbox
