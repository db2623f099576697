// SPDX-License-Identifier: Apache-2.0
// The Supervisor's lifetime and the joins of `sandbox serve` (listeners handed over, maintained, killed).
#include "notify/supervisor.hpp"

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
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "base/log.hpp"
#include "base/proc.hpp"
#include "notify/supervisor_detail.hpp"

namespace sandbox {
namespace {

// Descriptors kept for everything but per-process pidfds: listeners, open emulators,
// control sessions, files being opened for targets.
constexpr std::uint64_t kFdReserve = 64;
constexpr std::uint64_t kMinJobBudget = 16;
// What a join holds besides its pidfds (the listener, the open emulator's descriptors),
// counted in its tenant's share.
constexpr std::size_t kJoinFds = 4;

}  // namespace

Supervisor::Supervisor(Options options)
    : opt_(std::move(options)),
      dispatch_(build_dispatch(opt_.policy)),
      overcommit_(target::overcommit()),
      facts_(target::address_space_facts()),
      directory_(std::make_unique<Directory>(*this)),
      tracker_(*directory_),
      epoll_(::epoll_create1(EPOLL_CLOEXEC)),
      self_(::getpid()) {
  fd_limit_ = proc::raise_nofile_limit();
  (void)target::open_fd_anchor();
  const std::uint64_t pool = fd_limit_ > kFdReserve ? fd_limit_ - kFdReserve : 0;
  job_budget_ = std::max<std::uint64_t>(kMinJobBudget, pool / std::max(1u, opt_.job_shares));
  // A tenant (uid) may hold two jobs' shares across all its jobs: one uid starting many jobs
  // leaves at least half of the pool to the others.
  tenant_budget_ = std::max<std::uint64_t>(job_budget_, std::min<std::uint64_t>(pool, 2 * job_budget_));
}

std::size_t Supervisor::tenant_fds(const TenantUse& t) const {
  return t.procs + t.joins * kJoinFds;
}

Supervisor::~Supervisor() {
  for (auto& j : joined_) j.stop.store(true);
  for (auto& j : joined_) finish(j.thread, j.done);
}

// ---- sandbox serve: joined targets --------------------------------------------------

std::vector<sock_filter> Supervisor::filter_program() {
  std::lock_guard lk(mu_);
  if (filter_.empty()) filter_ = build_filter(opt_.policy);
  return filter_;
}

std::vector<sock_filter> Supervisor::filter_program_for(HeapRule rule) {
  if (rule == opt_.policy.heap_rule) return filter_program();
  std::lock_guard lk(mu_);
  if (other_filter_.empty()) {
    Policy p = opt_.policy;
    p.heap_rule = rule;
    other_filter_ = build_filter(p);
  }
  return other_filter_;
}

OpResult Supervisor::join(const Caller& c, JoinRequest req) {
  UniqueFd fd(req.listener_fd);
  if (!fd) return {EBADF, "join: no seccomp listener fd was passed"};
  // A supervised process cannot make a listener of its own (the kernel allows one per
  // filter chain); any it sends was made outside, and would start a job the caller's own
  // quotas do not cover. Refused -- and so is a caller we cannot prove is not one of ours
  // (unclassified: under a seccomp filter and not known), or joining would move a process
  // of a job into a new job whose quotas it chose.
  if (c.unclassified())
    return {EPERM,
            "join: the joining process ran under a seccomp filter when it connected, so it cannot be told "
            "from a process of a job here; join from a process without a filter (docs/security.md)"};
  if (c.inside) return {EPERM, "join: the caller already runs under this supervisor"};
  // The listener decides which process is supervised, the pid only which node to create:
  // a client may only join itself, so it cannot get nodes or quotas on someone else.
  if (req.pid != c.pid) return {EPERM, "join: pid " + std::to_string(req.pid) + " is not the caller"};
  Policy q;
  q.track = req.track;
  q.heap_quota_bytes = req.heap_quota_bytes;
  q.file_quota = req.file_quota;
  // The joiner installed the filter of the rule it asks for (filter_program_for): a rule
  // other than the server policy's is its choice, like its own tighter quotas.
  q.heap_rule = req.heap_rule.value_or(opt_.policy.heap_rule);
  return attach(std::move(fd), req.pid, q, req.scope, "");
}

OpResult Supervisor::attach(UniqueFd fd, Pid pid, const Policy& asked, Scope scope,
                            const std::string& container) {
  // The server's policy is the operator's: each of its quotas applies, and a joining
  // target (or a container's metadata) may only tighten it (the smaller of the two), never
  // loosen or drop it.
  const auto tighter = [](std::optional<std::uint64_t> a, std::optional<std::uint64_t> b) {
    return a && b ? std::optional(std::min(*a, *b)) : a ? a : b;
  };
  Policy q;
  q.track = asked.track || opt_.policy.track;
  q.heap_quota_bytes = tighter(asked.heap_quota_bytes, opt_.policy.heap_quota_bytes);
  q.file_quota = tighter(asked.file_quota, opt_.policy.file_quota);
  // A join costs a few descriptors (listener, open emulator, pidfds): refused with the real
  // cause when they are not there, rather than half-served.
  if (const std::uint64_t used = proc::count_open_fds(); used + kFdReserve / 2 > fd_limit_)
    return {EMFILE, "join: the supervisor is out of file descriptors (" + std::to_string(used) +
                        " open, RLIMIT_NOFILE " + std::to_string(fd_limit_) + "); try again later"};
  // Per tenant: a uid's joins and processes draw on one budget (two jobs' shares), so one uid
  // joining many times cannot take what the others need.
  if (const auto st = target::status(pid)) {
    std::lock_guard lk(mu_);
    const TenantUse& t = tenant_use_[st->ruid];
    if (tenant_fds(t) + kJoinFds > tenant_budget_)
      return {EMFILE, "join: uid " + std::to_string(st->ruid) + " holds its share of the supervisor's " +
                          "descriptors (" + std::to_string(t.procs) + " processes, " +
                          std::to_string(t.joins) + " joins, of " + std::to_string(tenant_budget_) +
                          "); try again when some have ended"};
  }
  auto listener = std::make_unique<SeccompListener>(std::move(fd));
  listener->enable_sync_wakeup();
  if (const JobId in = job_by_ancestry(pid); in != 0)
    return {EPERM, "join: pid " + std::to_string(pid) + " is in job " + std::to_string(in) +
                       " already; a process cannot leave its job"};
  adopt_root(pid, listener.get());
  // Quotas imposed at join are outside quotas: the target cannot lift them.
  if (auto r = impose(pid, q); !r.ok()) return r;
  JobSpec spec;
  spec.root = pid;
  spec.scope = scope;
  spec.track = q.track;
  spec.heap_rule = asked.heap_rule;
  if (scope == Scope::job) spec.heap_quota_bytes = q.heap_quota_bytes, spec.file_quota = q.file_quota;
  const JobId job = start_job(*listener, spec);
  std::lock_guard lk(mu_);
  if (!container.empty()) job_containers_[job] = container;
  if (JobUse& u = job_use_[job]; !u.joined) {
    u.joined = true;
    ++tenant_use_[u.owner].joins;  // given back in maintain(), when the join ends
  }
  Joined& j = joined_.emplace_back();
  j.listener = std::move(listener);
  sigset_t all, old;
  sigfillset(&all);
  ::pthread_sigmask(SIG_BLOCK, &all, &old);  // the thread unblocks only its stop signal
  j.thread = std::thread([this, &j] {
    serve(*j.listener, j.stop);
    j.done.store(true);
  });
  ::pthread_sigmask(SIG_SETMASK, &old, nullptr);
  Event joined{Event::Kind::joined, pid, pid};
  joined.job = job;
  joined.container = container;
  hub_.emit(joined);
  OpResult done;
  done.job = job;
  return done;
}

void Supervisor::maintain() {
  std::list<Joined> finished;
  {
    const auto lk = swept();
    // Nested jobs whose launcher has ended and whose processes are all gone.
    for (auto it = nested_.begin(); it != nested_.end();) {
      JobView v;
      const bool gone = jobs_.fetch(it->first, v) != 0;
      if (gone || (!launchers_.contains(it->second) && v.live == 0)) {
        if (!gone) jobs_.remove(it->first);
        job_imposer_.erase(it->first);
        it = nested_.erase(it);
      } else {
        ++it;
      }
    }
    for (auto it = joined_.begin(); it != joined_.end();) {
      // Hung up: no task uses the filter any more; its thread may block in RECV forever.
      if (it->listener->hung_up() || it->done.load() || it->stop.load()) {
        it->stop.store(true);
        if (const auto cj = channel_jobs_.find(it->listener.get()); cj != channel_jobs_.end()) {
          if (const auto u = job_use_.find(cj->second); u != job_use_.end() && u->second.joined) {
            u->second.joined = false;
            TenantUse& t = tenant_use_[u->second.owner];
            if (t.joins > 0) --t.joins;
            if (tenant_fds(t) < tenant_budget_) t.refusing = false;
          }
          hub_.release(EventHub::usage_key(cj->second));  // its last usage, while the job is still known
          hub_.forget(EventHub::usage_key(cj->second));
          jobs_.remove(cj->second);  // each join is one job: it ends with its listener
          job_imposer_.erase(cj->second);
          job_containers_.erase(cj->second);
          channel_jobs_.erase(cj);
        }
        auto next = std::next(it);
        finished.splice(finished.end(), joined_, it);
        it = next;
      } else {
        ++it;
      }
    }
  }
  for (auto& j : finished) finish(j.thread, j.done);
}

std::uint64_t Supervisor::notifications() const {
  std::lock_guard lk(mu_);
  return notifications_;
}

std::size_t Supervisor::listeners() const {
  std::lock_guard lk(mu_);
  return joined_.size();
}

void Supervisor::kill_all() {
  {
    const auto lk = swept();
    // Known processes by pidfd; their unknown descendants by walking /proc (in scope).
    for (auto& [tgid, p] : procs_) target::pidfd_kill(p.pidfd.get());
    proc::for_each_pid([&](Pid pid) {
      if (pid == self_ || !in_scope(pid)) return;
      if (const int fd = target::pidfd_open(pid, false); fd >= 0) {
        target::pidfd_kill(fd);
        ::close(fd);
      }
    });
  }
  for (auto& j : joined_) j.stop.store(true);
  maintain();
}

}  // namespace sandbox
