// SPDX-License-Identifier: Apache-2.0
// The event hub: subscribers, the stamping and fan-out of events, and usage events (raw for
// the trace, coalesced for watchers).
#include <dirent.h>
#include <linux/audit.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "notify/supervisor.hpp"
#include "notify/supervisor_detail.hpp"

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

// Every event's time_ns is the wall-clock time of one monotonic reading: monotonic + an
// offset taken once, and taken again only when the wall clock has been stepped (by more than
// 50 ms; NTP's slewing moves both clocks alike). Two events of a node decided 100 ms apart
// on the monotonic clock are then stamped 100 ms apart exactly: reading the two clocks one
// after the other instead let a preemption between the readings shorten the gap (98.6 ms
// was seen on a busy machine), and a watcher computing rates from the stamps saw the same.
std::uint64_t wall_ns(std::uint64_t mono) {
  static std::atomic<std::int64_t> offset{0};
  std::int64_t off = offset.load(std::memory_order_relaxed);
  // The offset is checked with a fresh pair of readings, trusted only when nothing came
  // between them (under 1 ms): a preempted pair keeps the offset there is.
  const auto before = static_cast<std::int64_t>(monotonic_ns());
  const auto wall = static_cast<std::int64_t>(clock_ns(CLOCK_REALTIME));
  const auto after = static_cast<std::int64_t>(monotonic_ns());
  const std::int64_t seen = wall - before;
  if (off == 0 || (after - before < 1'000'000 && (seen - off > 50'000'000 || off - seen > 50'000'000))) {
    off = seen;
    offset.store(off, std::memory_order_relaxed);
  }
  return static_cast<std::uint64_t>(static_cast<std::int64_t>(mono) + off);
}

// A coalesced event is stamped when it is decided, with the monotonic reading that spaced
// it (emit() would stamp it later, after a variable delay).
Event decided(const Event& e, std::uint64_t mono) {
  Event s = e;
  s.time_ns = wall_ns(mono);
  return s;
}

}  // namespace

void Supervisor::emit(const Event& e, UsageTo usage) {
  if (subscribers_.empty()) return;
  // The last usage of a node that goes arrives before the news that it went.
  if ((e.kind == Event::Kind::exited || e.kind == Event::Kind::deregistered) && !usage_pending_.empty())
    release_usage(e.pid);
  // Non-root watchers see only their own targets: the uid of the event's process; an
  // inside watcher only its own job's (whatever its uid: a setuid target is not root here).
  uid_t ruid = 0, suid = 0;
  JobId job = 0;
  bool known = false;
  Event stamped = e;
  if (stamped.time_ns == 0) {  // not stamped already (a coalesced usage event is, when decided)
    stamped.time_ns = wall_ns(monotonic_ns());
  }
  if (auto it = procs_.find(e.tgid ? e.tgid : e.pid); it != procs_.end()) {
    ruid = it->second.ruid, suid = it->second.suid, job = it->second.job, known = true;
    std::memcpy(stamped.comm, it->second.comm, sizeof stamped.comm);
    if (stamped.job == 0) stamped.job = job;  // every event about a job's process names the job
  } else if (e.pid == 0 && e.job != 0) {
    // An event about a job as a whole: seen as its owner's, with the name of its root.
    std::uint32_t owner = 0;
    Pid root = 0;
    if (jobs_.owner(e.job, owner, root)) {
      ruid = suid = owner, job = e.job, known = true;
      if (const auto r = procs_.find(root); r != procs_.end())
        std::memcpy(stamped.comm, r->second.comm, sizeof stamped.comm);
    }
  }
  // A container is one job: every event about it, or about any of its processes, names it.
  if (const auto c = job_containers_.find(stamped.job ? stamped.job : job);
      stamped.container.empty() && c != job_containers_.end())
    stamped.container = c->second;
  for (auto& [id, s] : subscribers_) {
    if (e.kind == Event::Kind::usage && s.filter.raw_usage != (usage == UsageTo::raw)) continue;
    if (!s.filter.wants(stamped)) continue;
    const Caller& w = s.caller;
    if (w.inside ? (known && w.job != 0 && jobs_.within(job, w.job))
                 : (w.uid == 0 || (known && (w.uid == ruid || w.uid == suid))))
      s.fn(stamped);
  }
}

std::uint64_t Supervisor::subscribe(const Caller& c, std::function<void(const Event&)> fn) {
  return subscribe(c, WatchFilter{}, std::move(fn));
}

std::uint64_t Supervisor::subscribe(const Caller& c, const WatchFilter& f,
                                    std::function<void(const Event&)> fn) {
  std::lock_guard lk(mu_);
  const std::uint64_t id = next_subscriber_++;
  subscribers_.emplace(id, Subscriber{c, f, std::move(fn)});
  if (f.usage()) ++(f.raw_usage ? usage_raw_ : usage_coalesced_);
  return id;
}

void Supervisor::unsubscribe(std::uint64_t id) {
  std::lock_guard lk(mu_);
  const auto it = subscribers_.find(id);
  if (it == subscribers_.end()) return;
  if (it->second.filter.usage()) --(it->second.filter.raw_usage ? usage_raw_ : usage_coalesced_);
  subscribers_.erase(it);
}

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
    emit(decided(e, now), UsageTo::coalesced);
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
    if (usage_coalesced_) emit(decided(it->second.held, now), UsageTo::coalesced);
    return true;
  });
}

void Supervisor::release_usage(std::int64_t key) {
  const auto it = usage_state_.find(key);
  if (it == usage_state_.end() || !it->second.pending) return;
  it->second.pending = false;  // flush_usage() drops it from usage_pending_
  if (usage_coalesced_) emit(it->second.held, UsageTo::coalesced);
}

}  // namespace sandbox
