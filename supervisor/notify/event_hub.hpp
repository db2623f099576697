// SPDX-License-Identifier: Apache-2.0
// The event hub: who watches (subscribers and their filters), the stamping and fan-out of
// events to those allowed to see them, and usage events -- raw for the trace, coalesced for
// watchers (at most one per node or job per kUsageIntervalNs; the last value always
// arrives). What an event is about (its process's uids, job, name, container) is not the
// hub's: it asks its Source, the registry's side of the supervisor.
//
// Locking. The hub has its own lock, mu_. Lock order, acyclic: Supervisor::mu_ before
// EventHub::mu_, never the other way (the hub never calls into the supervisor but through
// Source, which takes no lock). Every call but subscribe(), unsubscribe() and the counters
// is made with the supervisor's lock held, since the Source reads the supervisor's state;
// subscribe() and unsubscribe() take only mu_. A subscriber's callback runs with both
// locks held: it must take neither (the server's posts a copy to its io thread).
#pragma once

#include <sys/types.h>

#include <atomic>
#include <cstdint>
#include <functional>
#include <mutex>
#include <unordered_map>
#include <vector>

#include "control/control.hpp"
#include "model/tracker.hpp"

namespace sandbox {

class EventHub {
 public:
  static constexpr std::uint64_t kUsageIntervalNs = 100'000'000;
  // Which usage subscribers an Event::Kind::usage goes to.
  enum class UsageTo { none, raw, coalesced };
  // Whose an event is, for the rights check: non-root watchers see only their own targets
  // (the uids of the event's process), an inside watcher only its own job's.
  struct Owner {
    bool known = false;
    uid_t ruid = 0, suid = 0;
    JobId job = 0;
  };
  class Source {
   public:
    // Fills in what the event lacks (its process's name, its job, its container) and says
    // whose it is. Called with the supervisor's lock held.
    virtual Owner stamp(Event& e) const = 0;
    // Job `job` is `outer` or nested in it.
    virtual bool within(JobId job, JobId outer) const = 0;

   protected:
    ~Source() = default;
  };

  explicit EventHub(const Source& source) : source_(source) {}
  EventHub(const EventHub&) = delete;
  EventHub& operator=(const EventHub&) = delete;

  std::uint64_t subscribe(const Caller& c, const WatchFilter& f, std::function<void(const Event&)> fn);
  void unsubscribe(std::uint64_t id);
  // Read without the lock (a hint: a subscriber may come or go right after).
  bool any() const { return subscribers_count_.load(std::memory_order_relaxed) != 0; }
  bool usage_wanted() const { return raw_usage_wanted() || usage_coalesced_.load() != 0; }
  bool raw_usage_wanted() const { return usage_raw_.load(std::memory_order_relaxed) != 0; }

  // To every subscriber that wants it and may see it, stamped with the time and the comm.
  void emit(const Event& e, UsageTo usage = UsageTo::none);
  // A usage event of node or job `key` (usage_key): raw at once, coalesced when the
  // interval allows (always if !hold_allowed), else held back for flush().
  void usage(std::int64_t key, const Event& e, bool hold_allowed);
  // The held-back usage events whose interval is over.
  void flush();
  // A node or job is going (exit, deregister, a join's end): its held-back usage event goes
  // out first; forget() drops its coalescing state.
  void release(std::int64_t key);
  void forget(std::int64_t key);

  // Keys of the coalescing state: a node's pid, or a job (negative, so the two never collide).
  static std::int64_t usage_key(JobId job) { return -static_cast<std::int64_t>(job) - 1; }
  static Event usage_event(const Node& n);

 private:
  struct Subscriber {
    Caller caller;
    WatchFilter filter;
    std::function<void(const Event&)> fn;
  };
  struct UsageState {           // per node, for coalescing usage events
    std::uint64_t last_ns = 0;  // CLOCK_MONOTONIC of the last one sent
    bool pending = false;       // a change is held back: `held`
    Event held;                 // the newest usage event not yet sent
  };
  // The same, mu_ held.
  void emit_locked(const Event& e, UsageTo usage);
  void release_locked(std::int64_t key);

  const Source& source_;
  mutable std::mutex mu_;
  std::unordered_map<std::uint64_t, Subscriber> subscribers_;
  std::uint64_t next_subscriber_ = 1;
  // Counts of subscribers (all, raw usage, coalesced usage), changed under mu_, read without.
  std::atomic<std::size_t> subscribers_count_{0}, usage_raw_{0}, usage_coalesced_{0};
  std::unordered_map<std::int64_t, UsageState> usage_state_;  // keyed by usage_key()
  std::vector<std::int64_t> usage_pending_;
};

}  // namespace sandbox
