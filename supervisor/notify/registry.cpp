// SPDX-License-Identifier: Apache-2.0
// The registry: processes, threads, address spaces, pidfds and descriptor budgets; which job a
// process is in; sweep() retires the state of tasks that have exited.
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
#include <functional>
#include <string>
#include <vector>

#include "base/log.hpp"
#include "notify/supervisor.hpp"
#include "notify/supervisor_detail.hpp"

namespace sandbox {
namespace {

enum WatchKind : std::uint64_t { kProcess = 1, kThreadNode = 2 };
std::uint64_t watch_key(WatchKind k, Pid pid) {
  return (k << 32) | static_cast<std::uint32_t>(pid);
}

}  // namespace

JobId Supervisor::adopt_root(Pid pid, const NotifyChannel* channel) {
  std::lock_guard lk(mu_);
  roots_.push_back(pid);
  // The job's identity; start_job() gives it its quotas once they are known.
  JobSpec spec;
  spec.root = pid;
  const JobId job = jobs_.create(spec);
  if (channel) channel_jobs_[channel] = job;
  job_use_[job].root = pid;
  // The tenant: whose uid the root runs as (read before its pidfd, so for a reused pid it
  // names the wrong uid only for a process that is gone; ensure_proc then fails).
  if (const auto st = target::status(pid)) job_use_[job].owner = st->ruid;
  if (ProcState* p = ensure_proc(pid, nullptr, job)) p->job = job;
  // Our own child (`sandbox run`'s CMD): as a subreaper we inherit its orphans, and they
  // stay in its job. (A `serve` root is someone else's child; its orphans go elsewhere.)
  if (const auto st = target::status(pid); st && st->ppid == self_ && orphan_job_ == 0) orphan_job_ = job;
  return job;
}

bool Supervisor::in_scope(Pid tgid) {
  return job_of(tgid) != 0;
}

JobId Supervisor::job_of(Pid tgid) {
  return ancestor_job(tgid, Ancestry::nested, parent_from_proc);
}

JobId Supervisor::ancestor_job(Pid pid, Ancestry how, const std::function<Pid(Pid)>& parent_of,
                               std::unordered_map<Pid, JobId>* memo) const {
  // The supervisor itself is never in scope (the contract limits scope to CMD and its
  // descendants); a process whose parent is the supervisor is either a root (known) or an
  // orphan reparented to us. A parent link of a live process names a live process, so
  // the walk never crosses a reused pid; it ends at a process we know (pidfd-tracked).
  // Delegation: the descendants of a launcher are in the nested job it asked for. Safe
  // because a process of that job cannot get a parent outside it while the launcher lives:
  // the nested job's root is the launcher's child, clone(CLONE_PARENT) gives a child its
  // caller's own parent, orphans go to the nearest subreaper (the launcher is one), and the
  // launcher's end kills the nested job (end_nested).
  const Pid start = pid;
  std::vector<Pid> path;
  JobId found = 0;
  for (int depth = 0; pid > 1 && depth < 4096; ++depth) {
    if (memo) {
      if (const auto m = memo->find(pid); m != memo->end()) {
        found = m->second;
        break;
      }
      path.push_back(pid);
    }
    if (pid == self_) {
      found = pid == start ? 0 : orphan_job_;
      break;
    }
    if (const auto it = procs_.find(pid); it != procs_.end() && it->second.job != 0) {
      const auto l = launchers_.find(pid);
      found = how == Ancestry::nested && pid != start && l != launchers_.end() ? l->second : it->second.job;
      break;
    }
    pid = parent_of(pid);
  }
  if (memo)
    for (Pid p : path) (*memo)[p] = found;
  return found;
}

Supervisor::ProcState* Supervisor::ensure_proc(Pid tgid, const target::TaskStatus* known, JobId job,
                                               int* why) {
  if (auto it = procs_.find(tgid); it != procs_.end()) return &it->second;
  // The job first, while the process is not known yet (else job_of would find it).
  if (job == 0) job = job_of(tgid);
  // A nested job uses its top job's budget: delegating cannot multiply a tenant's share.
  const JobId budget = jobs_.top(job);
  JobUse* use = job ? &job_use_[budget] : nullptr;
  TenantUse* tenant = use ? &tenant_use_[use->owner] : nullptr;
  if (tenant && tenant_fds(*tenant) >= tenant_budget_ && use->procs < job_budget_) {
    // The job is within its share, its tenant is not: the same refusal, named for the uid.
    if (why) *why = EAGAIN;
    if (!tenant->refusing) {
      tenant->refusing = true;
      log::printf(log::Level::warn,
                  "sandbox: uid %u holds %zu processes and %zu joins, its share of the supervisor's "
                  "descriptors across its jobs (RLIMIT_NOFILE %llu): pid %d and further new processes of "
                  "this uid are refused (EAGAIN) until some exit",
                  static_cast<unsigned>(use->owner), tenant->procs, tenant->joins,
                  static_cast<unsigned long long>(fd_limit_), tgid);
    }
    return nullptr;
  }
  if (use && use->procs >= job_budget_) {
    if (why) *why = EAGAIN;
    if (!use->refusing) {
      use->refusing = true;
      log::printf(
          log::Level::warn,
          "sandbox: job of root pid %d holds %zu processes, its share of the supervisor's descriptors "
          "(one pidfd per process, RLIMIT_NOFILE %llu): pid %d and further new processes of this job "
          "are refused (EAGAIN) until some exit",
          use->root, use->procs, static_cast<unsigned long long>(fd_limit_), tgid);
    }
    return nullptr;
  }
  // pidfd first: from here on, a reuse of this pid is visible as the pidfd's exit.
  const int fd = target::pidfd_open(tgid, false);
  if (fd < 0) {
    if (why) *why = fd == -EMFILE || fd == -ENFILE ? EAGAIN : ENOSYS;
    if (fd == -EMFILE || fd == -ENFILE)
      log::printf(log::Level::warn,
                  "sandbox: pidfd_open(%d): %s (RLIMIT_NOFILE %llu): its calls are refused (EAGAIN)", tgid,
                  std::strerror(-fd), static_cast<unsigned long long>(fd_limit_));
    return nullptr;
  }
  if (use) ++use->procs, ++tenant->procs;
  ProcState p;
  p.tgid = tgid;
  p.job = job;
  p.budget = budget;
  p.pidfd.reset(fd);
  // Read after the pidfd, so the uids are this process's (a reuse would show as its exit);
  // a `known` status comes from a thread blocked in our notification, alive all along.
  const auto st = known ? std::optional<target::TaskStatus>(*known) : target::status(tgid);
  if (st) {
    p.ruid = st->ruid, p.suid = st->suid, p.ppid = st->ppid;
    std::memcpy(p.comm, st->name, sizeof p.comm);
  }
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.u64 = watch_key(kProcess, tgid);
  ::epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, fd, &ev);
  return &procs_.emplace(tgid, std::move(p)).first->second;
}

bool Supervisor::watch_node(Pid pid, Pid tgid) {
  // A node needs its process watched: else its exit would go unseen and a reused pid
  // could inherit the node.
  if (!ensure_proc(tgid)) return false;
  if (pid == tgid || thread_nodes_.contains(pid)) return true;
  const int fd = target::pidfd_open(pid, true);  // PIDFD_THREAD: readable when the thread exits
  if (fd < 0) return true;  // older kernel (or no fd): the thread's exit() notification removes it
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.u64 = watch_key(kThreadNode, pid);
  ::epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, fd, &ev);
  thread_nodes_.emplace(pid, std::make_pair(tgid, UniqueFd(fd)));
  return true;
}

Supervisor::ThreadState* Supervisor::learn(Pid tid, const NotifyChannel* channel, int* why) {
  if (auto it = threads_.find(tid); it != threads_.end()) return &it->second;
  const auto st = target::status(tid);
  if (!st) return nullptr;
  // A notified process runs under the filter of that listener, and a process under a
  // filter with a listener can never install another: the listener names its job exactly,
  // even for an orphan whose parent links no longer lead to the root.
  JobId job = 0;
  if (auto it = channel_jobs_.find(channel); it != channel_jobs_.end()) job = it->second;
  // ... or a job nested in it (delegation), found through the launcher (job_of); never a job
  // outside the listener's.
  if (!launchers_.empty() && !procs_.contains(st->tgid))
    if (const JobId nested = job_of(st->tgid); nested != job && jobs_.within(nested, job)) job = nested;
  // The thread's status stands for its process's when it is the leader.
  ProcState* p = ensure_proc(st->tgid, st->tgid == tid ? &*st : nullptr, job, why);
  if (!p) return nullptr;
  if (st->tgid == tid) std::memcpy(p->comm, st->name, sizeof p->comm);  // e.g. the first call after an exec
  p->threads.push_back(tid);
  return &threads_.emplace(tid, ThreadState{st->tgid, -1}).first->second;
}

void Supervisor::drop_threads(ProcState& p) {
  for (Pid t : p.threads) threads_.erase(t);
  p.threads.clear();
}

void Supervisor::forget_process(Pid tgid) {
  auto it = procs_.find(tgid);
  if (it != procs_.end()) {
    if (auto u = job_use_.find(it->second.budget); u != job_use_.end()) {
      if (u->second.procs > 0) --u->second.procs;
      if (u->second.procs < job_budget_) u->second.refusing = false;
      TenantUse& t = tenant_use_[u->second.owner];
      if (t.procs > 0) --t.procs;
      if (tenant_fds(t) < tenant_budget_) t.refusing = false;
    }  // kept when empty (a few bytes per job): a later orphan of the job is still named by its root
    drop_threads(it->second);
    procs_.erase(it);  // closes the pidfd, which also leaves the epoll set
  }
  hub_.forget(tgid);
  for (auto t = thread_nodes_.begin(); t != thread_nodes_.end();) {
    if (t->second.first == tgid) hub_.forget(t->first);
    t = t->second.first == tgid ? thread_nodes_.erase(t) : std::next(t);
  }
  std::erase(roots_, tgid);  // a later process with this pid is not ours by that title
  // Each serving thread caches credentials by tid: none may outlive the process.
  for (OpenEmulator* e : emulators_) e->forget_process(tgid);
}

void Supervisor::sweep() {
  epoll_event evs[64];
  for (;;) {
    const int n = ::epoll_wait(epoll_.get(), evs, 64, 0);
    if (n <= 0) return;
    for (int i = 0; i < n; ++i) {
      const auto kind = evs[i].data.u64 >> 32;
      const auto pid = static_cast<Pid>(evs[i].data.u64 & 0xffffffffu);
      if (kind == kProcess) {
        if (const auto l = launchers_.find(pid); l != launchers_.end()) {
          const JobId nested = l->second;
          launchers_.erase(l);
          end_nested(nested);
        }
        const bool had_node = tracker_.find(pid) != nullptr;
        tracker_.process_exited(pid);
        const JobId job = jobs_.job_of(pid);
        jobs_.leave(pid, Ending::unknown, -1);
        if (job != 0 && hub_.usage_wanted()) publish_job_usage(job);
        if (job != 0 && !had_node) publish_member_usage(pid, true);
        if (had_node) hub_.emit({Event::Kind::exited, pid, pid});
        forget_process(pid);
      } else if (auto t = thread_nodes_.find(pid); t != thread_nodes_.end()) {
        const Pid tgid = t->second.first;
        tracker_.thread_exited(pid, tgid);
        thread_nodes_.erase(t);
        hub_.forget(pid);
        hub_.emit({Event::Kind::exited, pid, tgid});
      }
    }
    if (n < 64) return;
  }
}

}  // namespace sandbox
