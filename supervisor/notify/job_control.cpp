// SPDX-License-Identifier: Apache-2.0
// Jobs at the edge: which job a process is in, accounting its calls, killing a whole job,
// and the outside operations on jobs. The model (shares, totals, quotas) is jobs.*.
//
// A job is what one listener supervises. Every process whose calls come through a listener
// runs under the filter that listener belongs to, and so does everything it starts: seccomp
// filters are inherited and cannot be removed, so a process cannot leave its job by forking,
// daemonizing or being orphaned. A process enters its job at its first notified call (every
// counted call is notified, so nothing it does before is lost).
#include <dirent.h>
#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <functional>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "base/files.hpp"
#include "base/proc.hpp"
#include "notify/supervisor.hpp"
#include "notify/supervisor_detail.hpp"

namespace sandbox {
namespace {

// The first bytes of a small /proc file of `pid` (empty if unreadable). The content is the
// target's to choose: it is only ever reported, quoted, never used to decide anything.
using files::read_proc;

std::string argv0_of(Pid pid) {
  std::string s = read_proc(pid, "cmdline", 256);
  if (const auto nul = s.find('\0'); nul != std::string::npos) s.resize(nul);
  return s;
}

std::string comm_of(Pid pid) {
  std::string s = read_proc(pid, "comm", 64);
  if (!s.empty() && s.back() == '\n') s.pop_back();
  return s;
}

// Live processes by thread group, each with its parent: one /proc/<pid>/status read each.
std::unordered_map<Pid, Pid> live_parents(Pid self) {
  std::unordered_map<Pid, Pid> parent;
  proc::for_each_pid([&](Pid pid) {
    if (pid == self) return;
    if (const auto st = target::status(pid); st && st->alive() && st->tgid == pid) parent[pid] = st->ppid;
  });
  return parent;
}

// The parent links of a live_parents() snapshot, for Supervisor::ancestor_job.
std::function<Pid(Pid)> parent_in(const std::unordered_map<Pid, Pid>& parent) {
  return [&parent](Pid pid) -> Pid {
    const auto up = parent.find(pid);
    return up == parent.end() ? 0 : up->second;
  };
}

// Whether the process runs under a seccomp filter ("Seccomp:\t2" in its status): every
// member of a job does, as filters are inherited and cannot be removed.
bool under_filter(Pid pid) {
  return read_proc(pid, "status", 4096).find("\nSeccomp:\t2") != std::string::npos;
}

}  // namespace

JobId Supervisor::start_job(NotifyChannel& ch, JobSpec spec) {
  const auto lk = swept();
  if (ProcState* p = ensure_proc(spec.root)) spec.owner = p->ruid;
  // Quotas given at the start come from the supervisor's command line or policy (possibly
  // tightened by the joiner): they are the supervisor's user's to lift (see View::uid).
  const auto imposer = static_cast<uid_t>(::geteuid());
  // adopt_root() gave the listener's job its identity (scope, descriptor budget); here it
  // gets its quotas. A listener never adopted gets a job of its own.
  JobId id = 0;
  if (const auto it = channel_jobs_.find(&ch); it != channel_jobs_.end() && jobs_.configure(it->second, spec))
    id = it->second;
  else
    id = channel_jobs_[&ch] = jobs_.create(spec);
  if (spec.heap_quota_bytes || spec.file_quota) job_imposer_[id] = imposer;
  return id;
}

std::optional<Reply> Supervisor::job_gate(Call& c) {
  ProcState& p = c.proc;
  if (p.job == 0)
    if (const auto it = channel_jobs_.find(&c.ch); it != channel_jobs_.end()) p.job = it->second;
  bool first_sight = false;
  if (p.job != 0 && !p.entered) {
    p.entered = true;
    first_sight = true;
    jobs_.enter(p.job, p.tgid);
  }
  if (p.job == 0) return std::nullopt;
  if (jobs_.killed(p.job)) {
    // A straggler of a killed job (one the /proc walk could not find, e.g. an orphan
    // reparented to init under `serve`): it goes the way of the rest, and its call never
    // runs. Killed by its pidfd, which names this very process.
    target::pidfd_kill(p.pidfd.get());
    return Reply::error(EPERM);
  }
  // The commit rule: a fork child starts with its parent's charge (commit.cpp). Not when
  // its first call is an exec, which replaces that mm (fork + exec is charged once).
  if (first_sight && dispatch_.at(c.n.data.nr) != Op::execve && counted(c) && commit_rule(c) &&
      !commit_first_sight(c))
    return Reply::error(ENOMEM);  // its first mm crossed a quota: killed
  if (p.name_stale) {
    p.name_stale = false;
    if (jobs_.keeps_history(p.job)) jobs_.name(p.tgid, argv0_of(p.tgid));
  }
  return std::nullopt;
}

bool Supervisor::counted(const Call& c) const {
  return tracker_.tracked(c.tid, c.tgid) || jobs_.counting(c.tgid);
}

void Supervisor::charge(Call& c, const Delta& d) {
  tracker_.apply(c.tid, c.tgid, d);
  jobs_.apply(c.tgid, d);
}

void Supervisor::kill_job(const JobViolation& v) {
  const bool first = !jobs_.killed(v.job);
  const std::string name = first ? comm_of(v.pid) : std::string();  // before it dies
  jobs_.mark_killed(v);
  // Every member we know, through its pidfd: never by number, a pid may have been reused.
  // First all are stopped, parents before children, then all are killed: no member can
  // see another one die and react to it (a shell printing "Killed", a supervisor of its
  // own restarting a worker) before its own end.
  // The jobs nested in it go with it (delegation).
  std::vector<std::pair<int, int>> members;  // (depth in the job, pidfd)
  for (auto& [tgid, p] : procs_) {
    if (!jobs_.within(p.job, v.job)) continue;
    int depth = 0;
    for (Pid up = p.ppid; depth < 4096; ++depth) {
      const auto it = procs_.find(up);
      if (it == procs_.end() || !jobs_.within(it->second.job, v.job)) break;
      up = it->second.ppid;
    }
    members.emplace_back(depth, p.pidfd.get());
  }
  std::sort(members.begin(), members.end());
  for (const auto& [depth, fd] : members) target::pidfd_signal(fd, SIGSTOP);
  for (const auto& [depth, fd] : members) target::pidfd_kill(fd);
  kill_job_descendants(v.job);
  if (!first) return;
  ++(v.resource == Resource::heap ? kills_heap_ : kills_files_);
  // The trace gives the process whose call crossed a track of its own, even if that call
  // was its first counted one (its share before the call).
  publish_member_usage(v.pid, false);
  Event e{Event::Kind::killed, v.pid, v.pid};
  e.job = v.job;
  e.job_violation = v;
  e.name = name;
  hub_.emit(e);
}

void Supervisor::kill_job_descendants(JobId job) {
  // Processes of the job that have made no notified call yet (just forked, or busy
  // computing) are found by their parent links: a process descends from a member, from the
  // job's root, or (sandbox run, a subreaper) from the supervisor itself. Repeated until a
  // pass finds nobody new, so a child forked during a pass is caught by the next; one
  // forked later still dies at its first notified call (job_gate).
  std::unordered_set<Pid> done;
  for (const auto& [tgid, p] : procs_)
    if (jobs_.within(p.job, job)) done.insert(tgid);
  for (int pass = 0; pass < 64; ++pass) {
    const std::unordered_map<Pid, Pid> parent = live_parents(self_);
    const auto parent_of = parent_in(parent);
    bool found = false;
    for (const auto& [pid, ppid] : parent) {
      if (done.contains(pid) || !jobs_.within(ancestor_job(pid, Ancestry::nested, parent_of), job)) continue;
      done.insert(pid);
      found = true;
      const int fd = target::pidfd_open(pid, false);
      if (fd < 0) continue;
      // Checked after the pidfd is open: if `pid` still has the parent we resolved, the
      // pidfd names a process of the job (a reused pid with that parent descends from the
      // job too); if not, it is left alone.
      if (const auto st = target::status(pid); st && st->alive() && st->ppid == ppid) target::pidfd_kill(fd);
      ::close(fd);
    }
    if (!found) break;
  }
}

JobId Supervisor::job_by_ancestry(Pid pid) {
  const auto lk = swept();
  return ancestor_job(pid, Ancestry::own, parent_from_proc);
}

std::vector<std::pair<Pid, std::string>> Supervisor::live_members(JobId job) {
  const auto lk = swept();
  const std::unordered_map<Pid, Pid> parent = live_parents(self_);
  // The job of a live process: its own if known, else its nearest known ancestor's; a child
  // of ours is an orphan of the run's job (or one of our executors: no filter, left out).
  std::unordered_map<Pid, JobId> memo;
  const auto parent_of = parent_in(parent);
  std::vector<std::pair<Pid, std::string>> out;
  for (const auto& [pid, ppid] : parent) {
    if (ancestor_job(pid, Ancestry::own, parent_of, &memo) != job || !under_filter(pid)) continue;
    out.emplace_back(pid, comm_of(pid));
  }
  std::sort(out.begin(), out.end());
  return out;
}

// ---- queries and outside operations ----------------------------------------------------

JobView Supervisor::job_view(JobId job) {
  const auto lk = swept();
  JobView v;
  jobs_.fetch(job, v);
  return v;
}

std::vector<ProcessRecord> Supervisor::job_history(JobId job) {
  const auto lk = swept();
  return jobs_.history(job);
}

bool Supervisor::job_killed(JobId job) {
  std::lock_guard lk(mu_);
  return jobs_.killed(job);
}

void Supervisor::reaped(Pid pid, int status) {
  const auto lk =
      swept();  // the process's pidfd has reported its end: its share has left, its record is there
  if (WIFEXITED(status)) jobs_.reaped(pid, Ending::exit, WEXITSTATUS(status));
  if (WIFSIGNALED(status)) jobs_.reaped(pid, Ending::signal, WTERMSIG(status));
}

OpResult Supervisor::authorize_job(const Caller& c, JobId job) {
  JobView v;
  // An inside caller sees its own job and the jobs nested in it (delegation), read-only;
  // any other is as if it did not exist (as with nodes), whatever its uid: a root tenant
  // is not root here. Changes from inside are refused in authorize_job_change.
  if (jobs_.fetch(job, v) != 0) return {ESRCH, "job " + std::to_string(job) + ": no such job"};
  if (auto n = nested_rights(c, job); !n.ok()) return n;
  if (c.inside) return {};
  if (c.uid == 0 || c.uid == v.owner) return {};
  return {EPERM, "job " + std::to_string(job) + " belongs to uid " + std::to_string(v.owner)};
}

OpResult Supervisor::authorize_job_change(const Caller& c, JobId job) {
  if (auto a = authorize_job(c, job); !a.ok()) return a;
  // The system-call ABI has no job operation: a process of the job may read its job's
  // quotas and usage, never set, replace or lift them -- whoever set them, node or job.
  if (c.inside)
    return {EPERM, "job " + std::to_string(job) +
                       ": a job's quotas are set from outside only; a process of the job cannot change them"};
  return job_imposed_by_other(c, job);
}

OpResult Supervisor::fetch_job(const Caller& c, JobId job, JobView& out) {
  return with_job(c, job, JobRight::read, [&]() -> OpResult {
    jobs_.fetch(job, out);
    if (const auto it = job_containers_.find(job); it != job_containers_.end()) out.container = it->second;
    return {};
  });
}

OpResult Supervisor::cap_job(const Caller& c, JobId job, std::optional<std::uint64_t> heap_bytes,
                             std::optional<std::uint64_t> files) {
  return with_job(c, job, JobRight::change, [&] { return set_job_quotas(c, job, heap_bytes, files, false); });
}

OpResult Supervisor::replace_job(const Caller& c, JobId job, std::optional<std::uint64_t> heap_bytes,
                                 std::optional<std::uint64_t> files) {
  // reset_job then cap_job under one lock: no notification is decided between them.
  return with_job(c, job, JobRight::change, [&] {
    jobs_.reset(job);
    return set_job_quotas(c, job, heap_bytes, files, true);  // cannot fail: reset leaves nothing to refuse
  });
}

OpResult Supervisor::set_job_quotas(const Caller& c, JobId job, std::optional<std::uint64_t> heap_bytes,
                                    std::optional<std::uint64_t> files, bool replace) {
  std::optional<JobViolation> enforce;
  const int rc = jobs_.cap(job, false, heap_bytes, files, enforce);
  if (rc == ENFILE) return {ENFILE, "job " + std::to_string(job) + ": quotas already set"};
  if (rc != 0) return {rc, "job " + std::to_string(job)};
  if (!replace || heap_bytes || files)
    job_imposer_[job] = c.uid;
  else
    job_imposer_.erase(job);  // a replace with no quotas lifts them
  Event e{Event::Kind::quota_set, 0, 0};
  e.job = job;
  e.heap_quota_bytes = heap_bytes, e.file_quota = files;
  hub_.emit(e);
  if (enforce) kill_job(*enforce);  // enforced at once, as for a node
  return {};
}

OpResult Supervisor::reset_job(const Caller& c, JobId job) {
  return with_job(c, job, JobRight::change, [&]() -> OpResult {
    jobs_.reset(job);
    job_imposer_.erase(job);
    Event e{Event::Kind::quota_reset, 0, 0};
    e.job = job;
    hub_.emit(e);
    return {};
  });
}

std::vector<JobView> Supervisor::list_jobs(const Caller& c) {
  const auto lk = swept();
  std::vector<JobView> out;
  for (const JobView& v : jobs_.list())
    // inside: its own job and the jobs nested in it
    if (c.inside ? jobs_.within(v.id, c.job) : (c.uid == 0 || c.uid == v.owner)) {
      out.push_back(v);
      if (const auto it = job_containers_.find(v.id); it != job_containers_.end())
        out.back().container = it->second;
    }
  return out;
}

// ---- delegation -------------------------------------------------------------------------

OpResult Supervisor::nested_rights(const Caller& c, JobId job) const {
  if (!c.inside || jobs_.within(job, c.job)) return {};
  return {ESRCH, "job " + std::to_string(job) + ": no such job"};
}

OpResult Supervisor::job_records(const Caller& c, JobId job, std::vector<ProcessRecord>& out) {
  return with_job(c, job, JobRight::read, [&]() -> OpResult {
    out = jobs_.history(job);
    return {};
  });
}

void Supervisor::end_nested(JobId job) {
  JobView now;
  if (jobs_.fetch(job, now) != 0 || jobs_.killed(job)) return;
  if (now.live > 0) {  // no quota was crossed: recorded so stragglers die at their first call
    JobViolation v;
    v.job = job;
    jobs_.mark_killed(v);
  }
  for (auto& [tgid, p] : procs_)
    if (jobs_.within(p.job, job)) target::pidfd_kill(p.pidfd.get());
  kill_job_descendants(job);
}

OpResult Supervisor::delegate(const Caller& c, const DelegateRequest& req, JobView& out) {
  const std::string what = "delegate: pid " + std::to_string(req.pid);
  Policy node;  // the nested root's own node, capped from outside as `sandbox run` caps CMD's
  {
    const auto lk = swept();
    // An outside process is under no filter of ours: it can start a supervisor of its own.
    if (!c.inside || c.job == 0)
      return {EPERM, "delegate: only a process under this supervisor may ask for a nested job"};
    if (!opt_.policy.delegate)
      return {EPERM, "delegate: nested jobs are forbidden by the supervisor's policy (\"delegate\": false)"};
    // The caller: pinned at connect (identify); still in the job it was classified in.
    if (job_of(c.pid) != c.job)
      return {EPERM, "delegate: the caller is no longer in job " + std::to_string(c.job)};
    if (const auto l = launchers_.find(c.pid); l != launchers_.end())
      return {EBUSY, "delegate: the caller already launches job " + std::to_string(l->second)};
    // Only the caller's direct child: then its parent links, and those of everything it
    // starts, lead through the caller (the launcher) while it lives (see job_of). A
    // grandchild's would lead through a process that stays in the outer job.
    const auto before = target::status(req.pid);
    if (req.pid <= 1 || !before || before->tgid != req.pid || before->ppid != c.pid)
      return {EPERM, what + " is not a child of the caller"};
    ProcState* caller = ensure_proc(c.pid, nullptr, c.job);
    ProcState* p = ensure_proc(req.pid, nullptr, c.job);
    if (!caller || !p)
      return {EAGAIN, what + ": cannot be watched now (the job's descriptor budget); try again"};
    // Read after both pidfds were opened, and neither has exited: the pidfd names the
    // caller's child (a reused pid would be the caller's child too).
    const auto now = target::status(req.pid);
    if (!now || now->ppid != c.pid || target::pidfd_exited(p->pidfd.get()) ||
        target::pidfd_exited(caller->pidfd.get()))
      return {EPERM, what + " is not a child of the caller"};
    if (p->job != c.job) return {EPERM, what + " is in job " + std::to_string(p->job) + ", not the caller's"};
    if (launchers_.contains(req.pid)) return {EBUSY, what + " launches a nested job itself"};
    JobSpec spec;
    spec.root = req.pid;
    spec.owner = p->ruid;
    spec.track = req.track || req.history;
    spec.keep_history = req.history;
    spec.scope = req.scope;
    // --scope process: the quotas hold for the child's node only (below); the job gets what
    // its ancestors have left, as a nested job asking for no quota does.
    if (req.scope == Scope::job)
      spec.heap_quota_bytes = req.heap_quota_bytes, spec.file_quota = req.file_quota;
    const JobId job = jobs_.create_child(c.job, spec);  // clamped: tighter only
    if (job == 0) return {EMLINK, "delegate: jobs nested deeper than " + std::to_string(Jobs::kMaxDepth)};
    // The child moves with its share; everything it starts is found through the launcher.
    p->job = job;
    if (p->entered) jobs_.move(req.pid, job);
    launchers_[c.pid] = job;
    nested_[job] = c.pid;
    // Quotas asked by a process of the outer job: the nested job's processes cannot lift
    // them (they are inside, with no rights over quotas set from outside their job).
    job_imposer_[job] = c.uid;
    jobs_.fetch(job, out);
    // The node's quotas: what was asked, tighter only than what the ancestors have left
    // (under --scope job, the nested job's own quotas are exactly that).
    const auto tighter = [](std::optional<std::uint64_t> a, std::optional<std::uint64_t> b) {
      return a && b ? std::optional(std::min(*a, *b)) : a ? a : b;
    };
    node.heap_quota_bytes = tighter(req.heap_quota_bytes, out.heap_quota_bytes);
    node.file_quota = tighter(req.file_quota, out.file_quota);
    Event e{Event::Kind::joined, req.pid, req.pid};
    e.job = job;
    hub_.emit(e);
  }
  if (auto r = impose(req.pid, node); !r.ok()) return r;
  OpResult done;
  done.job = out.id;
  return done;
}

}  // namespace sandbox
