// SPDX-License-Identifier: Apache-2.0
// jobs: the job model -- quotas that cover a command and every process it starts, together.
//
// A job is what one seccomp listener supervises: `sandbox run`'s command and everything it
// starts, or one `sandbox serve` join. Every process of a job has a share: two counters kept
// by exactly the node rules of docs/semantics.md (the one accounting function, counted(), of
// tracker.hpp), whether or not anyone registered the process. The job's heap is the sum of
// the heap shares of its live processes, its files the sum of their file shares; a process
// that ends takes its share with it. A call that would put the job over a quota is a
// JobViolation: the whole job is to be killed.
//
// Jobs nest (delegation, docs/jobs.md, as cgroup v2 delegates a subtree): a job may have a
// parent. A process is a member of one job; its share counts in that job and in every
// ancestor, each level's quota holds for its own subtree, and a call that would put any
// level over its quota is refused at the innermost level it crosses: that level is killed
// with everything below it, the levels above go on. A child job's quotas are never looser
// than what its ancestors have left when it is made (Jobs::create_child clamps them).
//
// Pure like the tracker: no system calls; the supervisor feeds it events (a process's first
// call, each counted change, the end of a process) and acts on its decisions. Not
// thread-safe: the supervisor serialises access with its own lock.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "model/tracker.hpp"

namespace sandbox {

using JobId = std::uint32_t;  // 0: no job

// What a run's quotas cover: the whole job (default), or only the command's own node.
enum class Scope : std::uint8_t { job, process };
std::string_view to_string(Scope s);
std::optional<Scope> parse_scope(std::string_view s);  // "job" or "process"

// One call of process `pid` would put job `job` over a quota: its total would be `usage`
// against `limit` (bytes for heap, a count for files). `totals` are the job's totals with
// the call, `live` its live processes then.
struct JobViolation {
  JobId job = 0;
  Pid pid = 0;
  Resource resource = Resource::heap;
  std::uint64_t usage = 0;
  std::uint64_t limit = 0;
  Usage totals;
  std::uint64_t live = 0;
  HeapRule rule = HeapRule::kernel;
  std::uint64_t unmapped = 0;  // not the model's: kernel rule, heap no longer mapped (kill line)
};

// How a process ended, as far as the supervisor can tell.
enum class Ending : std::uint8_t {
  running,  // not yet
  exit,     // exit_group(code), or reaped by the supervisor with exit status `code`
  signal,   // reaped by the supervisor, killed by signal `code`
  killed,   // killed by the sandbox for a job quota
  unknown,  // ended without exit_group and reaped by someone else (a signal, or its last thread's exit)
};
std::string_view to_string(Ending e);

struct ProcessRecord {
  Pid pid = 0;
  std::string argv0;
  std::uint64_t peak_heap = 0;
  std::uint64_t peak_files = 0;
  Ending end = Ending::running;
  int code = -1;  // exit status (exit) or signal number (signal); -1 otherwise
};

struct JobSpec {
  Pid root = 0;             // the process the job was started for
  std::uint32_t owner = 0;  // the uid whose clients may act on the job (root may too)
  Scope scope = Scope::job;
  HeapRule heap_rule = HeapRule::kernel;  // what its heap counters count (docs/memory.md)
  // Quotas on the job (nullopt: unlimited). Under Scope::process the caller passes none.
  std::optional<std::uint64_t> heap_quota_bytes;
  std::optional<std::uint64_t> file_quota;
  bool track = false;         // count from the start even without quotas (reports, --track)
  JobId parent = 0;           // delegation: the job this one was made inside (0: a top job)
  bool keep_history = false;  // keep a ProcessRecord of every process (the run's report)
};

// A job as fetch, list and the run's report see it.
struct JobView {
  JobId id = 0;
  Pid root = 0;
  std::uint32_t owner = 0;
  Scope scope = Scope::job;
  HeapRule heap_rule = HeapRule::kernel;
  bool counting = false;  // calls are accounted (it has or had quotas, or is tracked)
  Usage usage;            // now: the sum over live processes
  std::uint64_t peak_heap = 0;
  std::uint64_t peak_files = 0;
  std::uint64_t processes = 0;  // how many took part (made a notified call)
  std::uint64_t live = 0;       // how many are live now
  std::optional<std::uint64_t> heap_quota_bytes;
  std::optional<std::uint64_t> file_quota;
  std::optional<JobViolation> killed;
  JobId parent = 0;       // delegation: the enclosing job (0: none)
  std::string container;  // not the model's: fetch/list label a container's job (oci listener)
};

class Jobs {
 public:
  JobId create(const JobSpec& spec);
  // Gives an existing job its spec (quotas, scope, history); false if there is no such job.
  bool configure(JobId job, const JobSpec& spec);
  // Forget a job, the jobs nested in it, and their processes (serve: once its listener is
  // gone and nothing is left).
  void remove(JobId job);

  // Delegation. A job nested in `parent` (0 if there is no such job): spec.parent is set,
  // and its quotas are clamped to what every ancestor has left now (quota minus usage; an
  // unlimited request gets that), so they are equal or tighter, never looser. The child
  // counts when it has quotas or is tracked; its usage counts in its ancestors regardless.
  JobId create_child(JobId parent, JobSpec spec);
  // What is left of `resource` under `job` and all its ancestors: the least quota minus
  // usage over the chain (0 when over); nullopt when no level has a quota.
  std::optional<std::uint64_t> left(JobId job, Resource resource) const;
  JobId parent(JobId job) const;
  // `job` is `ancestor` or nested (at any depth) in it.
  bool within(JobId job, JobId ancestor) const;
  // The outermost job of `job`'s chain (itself for a top job).
  JobId top(JobId job) const;
  // A process goes to job `to` (its job or one nested in it: a delegation's root), with its
  // share: the levels it leaves lose the share, the levels it reaches gain it (common
  // ancestors keep it). A process in no job simply enters `to`.
  void move(Pid tgid, JobId to);

  // A process belongs to the job whose listener its calls come through, from its first
  // notified call on; it cannot leave. Idempotent; a process already in another job is
  // moved (its old entry can only be a stale one whose end was missed).
  void enter(JobId job, Pid tgid);
  JobId job_of(Pid tgid) const;
  // The process's own share of its job's totals; nullopt for a process in no job.
  std::optional<Usage> share(Pid tgid) const;
  // True when the process's calls must be accounted for its job.
  bool counting(Pid tgid) const;
  // Would `d` by process `tgid` put its job, or any job it is nested in, over a quota? The
  // innermost level crossed is the one named (and to be killed). apply() commits it.
  std::optional<JobViolation> check(Pid tgid, const Delta& d) const;
  void apply(Pid tgid, const Delta& d);
  // The process's argv[0] (for the report; kept only by jobs with history).
  void name(Pid tgid, std::string_view argv0);
  bool keeps_history(JobId job) const;  // the job or an ancestor keeps history
  // The heap rule of the process's job (its outermost job's: the filter is that job's; kernel
  // for a process in no job).
  HeapRule rule(Pid tgid) const;
  // The process ended: its share leaves the job's totals. For a killed job, an `unknown`
  // ending is recorded as `killed`. No-op for a process in no job.
  void leave(Pid tgid, Ending how, int code);
  // The supervisor reaped `pid` (its own child): make an `unknown` record exact.
  void reaped(Pid pid, Ending how, int code);

  // The job is being killed for `v`, and with it every job nested in it; the first
  // violation is the one each remembers.
  void mark_killed(const JobViolation& v);
  bool killed(JobId job) const;
  std::vector<Pid> members(JobId job) const;
  // Who may see the job (its owner) and the process it was started for; false if none.
  bool owner(JobId job, std::uint32_t& uid, Pid& root) const;

  // Outside operations, with the node operations' rules: ESRCH for no such job; EINVAL for
  // a quota below -1 (the caller passes `bad`); ENFILE when quotas are already set. cap()
  // starts counting and reports a violation to enforce at once.
  int cap(JobId job, bool bad, std::optional<std::uint64_t> heap_bytes, std::optional<std::uint64_t> files,
          std::optional<JobViolation>& enforce);
  int reset(JobId job);
  int fetch(JobId job, JobView& out) const;
  std::vector<JobView> list() const;
  // Every process of a job with history: ended ones in the order they ended, then the
  // live ones (Ending::running).
  std::vector<ProcessRecord> history(JobId job) const;
  std::size_t size() const { return jobs_.size(); }
  // Bumped whenever a job's totals or quotas change (cheap: for usage events, compare before
  // and after a call).
  std::uint64_t changes() const { return changes_; }
  std::size_t members() const { return members_.size(); }

 private:
  struct Job {
    JobSpec spec;  // spec.parent: the enclosing job
    JobId id = 0;
    bool counting = false;
    Usage usage;
    std::uint64_t peak_heap = 0, peak_files = 0, processes = 0, live = 0;
    std::optional<JobViolation> killed;
    std::vector<ProcessRecord> ended;  // keep_history only
  };
  struct Member {
    JobId job = 0;
    Usage share;
    std::uint64_t peak_heap = 0;  // its share's highest (the commit rule's goes down too)
    std::uint64_t peak_files = 0;
    std::string argv0;  // keep_history only
  };
  static std::optional<JobViolation> over(const Job& j, Usage totals);
  static Usage totals_with(const Job& j, const Member& m, Usage share);
  JobView view(JobId id, const Job& j) const;
  // The job and its ancestors, innermost first (bounded: a chain is at most kMaxDepth long).
  std::vector<Job*> chain(JobId job);
  std::vector<const Job*> chain(JobId job) const;
  bool counting_chain(JobId job) const;

 public:
  static constexpr int kMaxDepth = 32;  // nesting deeper than this is refused (create_child: 0)

 private:
  std::unordered_map<JobId, Job> jobs_;
  std::unordered_map<Pid, Member> members_;
  JobId next_ = 1;
  std::uint64_t changes_ = 0;
};

}  // namespace sandbox
