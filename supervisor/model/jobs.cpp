// SPDX-License-Identifier: Apache-2.0
#include "model/jobs.hpp"

#include <algorithm>
#include <cerrno>
#include <limits>

namespace sandbox {
namespace {

std::uint64_t sat_add(std::uint64_t a, std::uint64_t b) {
  return a > std::numeric_limits<std::uint64_t>::max() - b ? std::numeric_limits<std::uint64_t>::max()
                                                           : a + b;
}
std::uint64_t sub_floor(std::uint64_t a, std::uint64_t b) {
  return a > b ? a - b : 0;
}
// argv[0] as kept for the report: at most this many bytes.
constexpr std::size_t kMaxArgv0 = 255;
// The tighter of two quotas (nullopt: unlimited).
std::optional<std::uint64_t> tighter(std::optional<std::uint64_t> a, std::optional<std::uint64_t> b) {
  return a && b ? std::optional(std::min(*a, *b)) : a ? a : b;
}

}  // namespace

std::string_view to_string(Scope s) {
  return s == Scope::job ? "job" : "process";
}

std::optional<Scope> parse_scope(std::string_view s) {
  if (s == "job") return Scope::job;
  if (s == "process") return Scope::process;
  return std::nullopt;
}

std::string_view to_string(Ending e) {
  switch (e) {
    case Ending::running: return "running";
    case Ending::exit: return "exit";
    case Ending::signal: return "signal";
    case Ending::killed: return "killed";
    case Ending::unknown: return "unknown";
  }
  return "unknown";
}

JobId Jobs::create(const JobSpec& spec) {
  const JobId id = next_++;
  Job& j = jobs_[id];
  j.spec = spec;
  j.id = id;
  j.counting = spec.track || spec.heap_quota_bytes || spec.file_quota;
  return id;
}

std::vector<Jobs::Job*> Jobs::chain(JobId job) {
  std::vector<Job*> out;
  for (auto j = jobs_.find(job); j != jobs_.end() && out.size() < kMaxDepth + 1;
       j = jobs_.find(j->second.spec.parent))
    out.push_back(&j->second);
  return out;
}

std::vector<const Jobs::Job*> Jobs::chain(JobId job) const {
  std::vector<const Job*> out;
  for (auto j = jobs_.find(job); j != jobs_.end() && out.size() < kMaxDepth + 1;
       j = jobs_.find(j->second.spec.parent))
    out.push_back(&j->second);
  return out;
}

bool Jobs::counting_chain(JobId job) const {
  for (const Job* j : chain(job))
    if (j->counting) return true;
  return false;
}

JobId Jobs::create_child(JobId parent, JobSpec spec) {
  if (!jobs_.contains(parent) || chain(parent).size() >= kMaxDepth) return 0;
  // Tighter only: the child gets at most what its ancestors have left now; the ancestors'
  // own quotas keep holding for the child's usage whatever it gets.
  spec.parent = parent;
  spec.heap_quota_bytes = tighter(spec.heap_quota_bytes, left(parent, Resource::heap));
  spec.file_quota = tighter(spec.file_quota, left(parent, Resource::files));
  return create(spec);
}

std::optional<std::uint64_t> Jobs::left(JobId job, Resource resource) const {
  std::optional<std::uint64_t> out;
  for (const Job* j : chain(job)) {
    const auto& quota = resource == Resource::heap ? j->spec.heap_quota_bytes : j->spec.file_quota;
    const std::uint64_t used = resource == Resource::heap ? j->usage.heap : j->usage.files;
    if (quota) out = tighter(out, sub_floor(*quota, used));
  }
  return out;
}

JobId Jobs::parent(JobId job) const {
  const auto j = jobs_.find(job);
  return j == jobs_.end() ? 0 : j->second.spec.parent;
}

bool Jobs::within(JobId job, JobId ancestor) const {
  if (job == 0 || ancestor == 0) return false;
  for (const Job* j : chain(job))
    if (j->id == ancestor) return true;
  return false;
}

JobId Jobs::top(JobId job) const {
  const auto c = chain(job);
  return c.empty() ? job : c.back()->id;
}

void Jobs::move(Pid tgid, JobId to) {
  const auto m = members_.find(tgid);
  if (m == members_.end()) return enter(to, tgid);
  if (m->second.job == to || !jobs_.contains(to)) return;
  Member& mem = m->second;
  const auto from = chain(mem.job), into = chain(to);
  for (Job* j : from) {
    if (std::find(into.begin(), into.end(), j) != into.end()) continue;  // a common ancestor keeps it
    j->usage = {sub_floor(j->usage.heap, mem.share.heap), sub_floor(j->usage.files, mem.share.files)};
    if (j->live > 0) --j->live;
  }
  for (Job* j : into) {
    if (std::find(from.begin(), from.end(), j) != from.end()) continue;
    j->usage = {sat_add(j->usage.heap, mem.share.heap), sat_add(j->usage.files, mem.share.files)};
    ++j->live, ++j->processes;
    j->peak_heap = std::max(j->peak_heap, j->usage.heap);
    j->peak_files = std::max(j->peak_files, j->usage.files);
  }
  mem.job = to;
  ++changes_;
}

bool Jobs::configure(JobId job, const JobSpec& spec) {
  const auto j = jobs_.find(job);
  if (j == jobs_.end()) return false;
  j->second.spec = spec;
  j->second.counting = spec.track || spec.heap_quota_bytes || spec.file_quota;
  return true;
}

void Jobs::remove(JobId job) {
  std::vector<JobId> gone;
  for (const auto& [id, j] : jobs_)
    if (within(id, job)) gone.push_back(id);
  for (const JobId id : gone) {
    std::erase_if(members_, [id](const auto& kv) { return kv.second.job == id; });
    jobs_.erase(id);
  }
}

void Jobs::enter(JobId job, Pid tgid) {
  const auto j = jobs_.find(job);
  if (j == jobs_.end()) return;
  if (const auto m = members_.find(tgid); m != members_.end()) {
    if (m->second.job == job) return;
    leave(tgid, Ending::unknown, -1);
  }
  members_.emplace(tgid, Member{job, {}, 0, {}});
  for (Job* level : chain(job)) ++level->processes, ++level->live;  // it takes part in every level
}

JobId Jobs::job_of(Pid tgid) const {
  const auto m = members_.find(tgid);
  return m == members_.end() ? 0 : m->second.job;
}

std::optional<Usage> Jobs::share(Pid tgid) const {
  const auto m = members_.find(tgid);
  if (m == members_.end()) return std::nullopt;
  return m->second.share;
}

bool Jobs::counting(Pid tgid) const {
  const auto m = members_.find(tgid);
  if (m == members_.end()) return false;
  return counting_chain(m->second.job);
}

Usage Jobs::totals_with(const Job& j, const Member& m, Usage share) {
  return {sat_add(sub_floor(j.usage.heap, m.share.heap), share.heap),
          sat_add(sub_floor(j.usage.files, m.share.files), share.files),
          sat_add(sub_floor(j.usage.reserved, m.share.reserved), share.reserved)};
}

std::optional<JobViolation> Jobs::over(const Job& j, Usage t) {
  if (j.spec.heap_quota_bytes && t.heap > *j.spec.heap_quota_bytes)
    return JobViolation{0, 0, Resource::heap, t.heap, *j.spec.heap_quota_bytes, t, j.live, j.spec.heap_rule};
  if (j.spec.file_quota && t.files > *j.spec.file_quota)
    return JobViolation{0, 0, Resource::files, t.files, *j.spec.file_quota, t, j.live, j.spec.heap_rule};
  return std::nullopt;
}

std::optional<JobViolation> Jobs::check(Pid tgid, const Delta& d) const {
  const auto m = members_.find(tgid);
  if (m == members_.end() || !counting_chain(m->second.job)) return std::nullopt;
  const Usage share = counted(m->second.share, d);
  // Innermost first: a call that crosses a nested job's quota kills that job only; one that
  // stays under it but crosses an ancestor's kills the ancestor (and all nested in it).
  for (const Job* j : chain(m->second.job)) {
    if (auto v = over(*j, totals_with(*j, m->second, share))) {
      v->job = j->id, v->pid = tgid;
      return v;
    }
  }
  return std::nullopt;
}

void Jobs::apply(Pid tgid, const Delta& d) {
  const auto m = members_.find(tgid);
  if (m == members_.end() || !counting_chain(m->second.job)) return;
  Member& mem = m->second;
  const Usage share = counted(mem.share, d);
  if (share.heap != mem.share.heap || share.files != mem.share.files) ++changes_;
  for (Job* job : chain(mem.job)) {  // the share counts in its job and every ancestor
    job->usage = totals_with(*job, mem, share);
    job->peak_heap = std::max(job->peak_heap, job->usage.heap);
    job->peak_files = std::max(job->peak_files, job->usage.files);
  }
  mem.share = share;
  mem.peak_files = std::max(mem.peak_files, share.files);
  mem.peak_heap = std::max(mem.peak_heap, share.heap);
}

HeapRule Jobs::rule(Pid tgid) const {
  const auto m = members_.find(tgid);
  if (m == members_.end()) return HeapRule::kernel;
  const auto c = chain(m->second.job);  // the outermost job's rule: its filter notifies what that rule needs
  return c.empty() ? HeapRule::kernel : c.back()->spec.heap_rule;
}

bool Jobs::keeps_history(JobId job) const {
  for (const Job* j : chain(job))  // any level of the chain: a process is in each level's report
    if (j->spec.keep_history) return true;
  return false;
}

void Jobs::name(Pid tgid, std::string_view argv0) {
  const auto m = members_.find(tgid);
  if (m == members_.end() || !keeps_history(m->second.job)) return;
  m->second.argv0.assign(argv0.substr(0, kMaxArgv0));
}

void Jobs::leave(Pid tgid, Ending how, int code) {
  const auto m = members_.find(tgid);
  if (m == members_.end()) return;
  const Member mem = std::move(m->second);
  members_.erase(m);
  ++changes_;  // live processes at least
  for (Job* job : chain(mem.job)) {
    job->usage = {sub_floor(job->usage.heap, mem.share.heap), sub_floor(job->usage.files, mem.share.files),
                  sub_floor(job->usage.reserved, mem.share.reserved)};
    if (job->live > 0) --job->live;
    if (!job->spec.keep_history) continue;
    const Ending end = how == Ending::unknown && job->killed ? Ending::killed : how;
    job->ended.push_back(
        ProcessRecord{tgid, mem.argv0, mem.peak_heap, mem.peak_files, end, end == how ? code : -1});
  }
}

void Jobs::reaped(Pid pid, Ending how, int code) {
  for (auto& [id, job] : jobs_) {
    for (auto r = job.ended.rbegin(); r != job.ended.rend(); ++r) {
      if (r->pid != pid) continue;
      if (r->end == Ending::unknown) r->end = how, r->code = code;
      break;
    }
  }
}

void Jobs::mark_killed(const JobViolation& v) {
  for (auto& [id, j] : jobs_)
    if (!j.killed && within(id, v.job)) j.killed = v;
}

bool Jobs::killed(JobId job) const {
  const auto j = jobs_.find(job);
  return j != jobs_.end() && j->second.killed.has_value();
}

std::vector<Pid> Jobs::members(JobId job) const {
  std::vector<Pid> out;
  for (const auto& [pid, m] : members_)
    if (m.job == job) out.push_back(pid);
  std::sort(out.begin(), out.end());
  return out;
}

int Jobs::cap(JobId job, bool bad, std::optional<std::uint64_t> heap_bytes,
              std::optional<std::uint64_t> files, std::optional<JobViolation>& enforce) {
  enforce.reset();
  const auto j = jobs_.find(job);
  if (j == jobs_.end()) return ESRCH;
  if (bad) return EINVAL;
  Job& jb = j->second;
  if (jb.spec.heap_quota_bytes || jb.spec.file_quota) return ENFILE;
  if (jb.spec.parent != 0) {  // a nested job: tighter than what its ancestors have left, never looser
    heap_bytes = tighter(heap_bytes, left(jb.spec.parent, Resource::heap));
    files = tighter(files, left(jb.spec.parent, Resource::files));
  }
  jb.spec.heap_quota_bytes = heap_bytes;
  jb.spec.file_quota = files;
  ++changes_;
  if (heap_bytes || files) jb.counting = true;  // from now on, as a node counts from its registration
  enforce = over(jb, jb.usage);
  if (enforce) enforce->job = job, enforce->pid = jb.spec.root;
  return 0;
}

bool Jobs::owner(JobId job, std::uint32_t& uid, Pid& root) const {
  const auto j = jobs_.find(job);
  if (j == jobs_.end()) return false;
  uid = j->second.spec.owner, root = j->second.spec.root;
  return true;
}

int Jobs::reset(JobId job) {
  const auto j = jobs_.find(job);
  if (j == jobs_.end()) return ESRCH;
  j->second.spec.heap_quota_bytes.reset();
  j->second.spec.file_quota.reset();
  ++changes_;
  return 0;
}

JobView Jobs::view(JobId id, const Job& j) const {
  JobView v;
  v.id = id;
  v.root = j.spec.root;
  v.owner = j.spec.owner;
  v.scope = j.spec.scope;
  v.heap_rule = j.spec.heap_rule;
  v.counting = j.counting;
  v.usage = j.usage;
  v.peak_heap = j.peak_heap;
  v.peak_files = j.peak_files;
  v.processes = j.processes;
  v.live = j.live;
  v.heap_quota_bytes = j.spec.heap_quota_bytes;
  v.file_quota = j.spec.file_quota;
  v.killed = j.killed;
  v.parent = j.spec.parent;
  return v;
}

int Jobs::fetch(JobId job, JobView& out) const {
  const auto j = jobs_.find(job);
  if (j == jobs_.end()) return ESRCH;
  out = view(job, j->second);
  return 0;
}

std::vector<JobView> Jobs::list() const {
  std::vector<JobView> out;
  out.reserve(jobs_.size());
  for (const auto& [id, j] : jobs_) out.push_back(view(id, j));
  std::sort(out.begin(), out.end(), [](const JobView& a, const JobView& b) { return a.id < b.id; });
  return out;
}

std::vector<ProcessRecord> Jobs::history(JobId job) const {
  std::vector<ProcessRecord> out;
  const auto j = jobs_.find(job);
  if (j == jobs_.end()) return out;
  out = j->second.ended;
  std::vector<Pid> live;  // its own processes and those of the jobs nested in it
  for (const auto& [pid, m] : members_)
    if (within(m.job, job)) live.push_back(pid);
  std::sort(live.begin(), live.end());
  for (const Pid pid : live) {
    const Member& m = members_.at(pid);
    out.push_back(ProcessRecord{pid, m.argv0, m.peak_heap, m.peak_files, Ending::running, -1});
  }
  return out;
}

}  // namespace sandbox
