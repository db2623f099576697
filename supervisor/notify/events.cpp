// SPDX-License-Identifier: Apache-2.0
// The event hub (event_hub.hpp): subscribers, the stamping and fan-out of events, and usage
// events (raw for the trace, coalesced for watchers).
#include <time.h>

#include <atomic>
#include <cstdint>
#include <string>
#include <vector>

#include "notify/event_hub.hpp"

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

void EventHub::emit(const Event& e, UsageTo usage) {
  std::lock_guard lk(mu_);
  emit_locked(e, usage);
}

void EventHub::emit_locked(const Event& e, UsageTo usage) {
  if (subscribers_.empty()) return;
  // The last usage of a node that goes arrives before the news that it went.
  if ((e.kind == Event::Kind::exited || e.kind == Event::Kind::deregistered) && !usage_pending_.empty())
    release_locked(e.pid);
  Event stamped = e;
  if (stamped.time_ns == 0) {  // not stamped already (a coalesced usage event is, when decided)
    stamped.time_ns = wall_ns(monotonic_ns());
  }
  // Non-root watchers see only their own targets: the uid of the event's process; an
  // inside watcher only its own job's (whatever its uid: a setuid target is not root here).
  const Owner o = source_.stamp(stamped);
  for (auto& [id, s] : subscribers_) {
    if (e.kind == Event::Kind::usage && s.filter.raw_usage != (usage == UsageTo::raw)) continue;
    if (!s.filter.wants(stamped)) continue;
    const Caller& w = s.caller;
    if (w.inside ? (o.known && w.job != 0 && source_.within(o.job, w.job))
                 : (w.uid == 0 || (o.known && (w.uid == o.ruid || w.uid == o.suid))))
      s.fn(stamped);
  }
}

std::uint64_t EventHub::subscribe(const Caller& c, const WatchFilter& f,
                                  std::function<void(const Event&)> fn) {
  std::lock_guard lk(mu_);
  const std::uint64_t id = next_subscriber_++;
  subscribers_.emplace(id, Subscriber{c, f, std::move(fn)});
  ++subscribers_count_;
  if (f.usage()) ++(f.raw_usage ? usage_raw_ : usage_coalesced_);
  return id;
}

void EventHub::unsubscribe(std::uint64_t id) {
  std::lock_guard lk(mu_);
  const auto it = subscribers_.find(id);
  if (it == subscribers_.end()) return;
  if (it->second.filter.usage()) --(it->second.filter.raw_usage ? usage_raw_ : usage_coalesced_);
  --subscribers_count_;
  subscribers_.erase(it);  // its callback is not running: emit holds mu_ while it calls
}

Event EventHub::usage_event(const Node& n) {
  Event e{Event::Kind::usage, n.pid, n.tgid};
  e.heap_bytes = n.heapsize;
  e.open_files = n.openfile_count;
  e.heap_quota_bytes = n.heap_quota_bytes;
  e.file_quota = n.file_quota;
  return e;
}

void EventHub::usage(std::int64_t key, const Event& e, bool hold_allowed) {
  std::lock_guard lk(mu_);
  if (usage_raw_) emit_locked(e, UsageTo::raw);
  if (!usage_coalesced_) return;
  // At most one event per node (or job) per interval; a change inside it is held back and
  // sent by flush() with the values of that moment, so the last value always arrives.
  const std::uint64_t now = monotonic_ns();
  UsageState& u = usage_state_[key];
  if (!hold_allowed || now - u.last_ns >= kUsageIntervalNs) {
    u.last_ns = now;
    u.pending = false;  // flush() drops it from usage_pending_
    emit_locked(decided(e, now), UsageTo::coalesced);
  } else {
    u.held = e;
    if (!u.pending) usage_pending_.push_back(key);
    u.pending = true;
  }
}

void EventHub::flush() {
  std::lock_guard lk(mu_);
  if (usage_pending_.empty()) return;
  const std::uint64_t now = monotonic_ns();
  std::erase_if(usage_pending_, [&](std::int64_t key) {
    const auto it = usage_state_.find(key);
    if (it == usage_state_.end() || !it->second.pending) return true;  // the node is gone
    if (now - it->second.last_ns < kUsageIntervalNs) return false;     // not yet
    it->second.pending = false;
    it->second.last_ns = now;
    if (usage_coalesced_) emit_locked(decided(it->second.held, now), UsageTo::coalesced);
    return true;
  });
}

void EventHub::release(std::int64_t key) {
  std::lock_guard lk(mu_);
  release_locked(key);
}

void EventHub::release_locked(std::int64_t key) {
  const auto it = usage_state_.find(key);
  if (it == usage_state_.end() || !it->second.pending) return;
  it->second.pending = false;  // flush() drops it from usage_pending_
  if (usage_coalesced_) emit_locked(it->second.held, UsageTo::coalesced);
}

void EventHub::forget(std::int64_t key) {
  std::lock_guard lk(mu_);
  usage_state_.erase(key);
}

}  // namespace sandbox
