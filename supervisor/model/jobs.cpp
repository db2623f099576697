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
  j.counting = spec.track || spec.heap_quota_bytes || spec.file_quota;
  return id;
}

bool Jobs::configure(JobId job, const JobSpec& spec) {
  const auto j = jobs_.find(job);
  if (j == jobs_.end()) return false;
  j->second.spec = spec;
  j->second.counting = spec.track || spec.heap_quota_bytes || spec.file_quota;
  return true;
}

void Jobs::remove(JobId job) {
  std::erase_if(members_, [job](const auto& kv) { return kv.second.job == job; });
  jobs_.erase(job);
}

void Jobs::enter(JobId job, Pid tgid) {
  const auto j = jobs_.find(job);
  if (j == jobs_.end()) return;
  if (const auto m = members_.find(tgid); m != members_.end()) {
    if (m->second.job == job) return;
    leave(tgid, Ending::unknown, -1);
  }
  members_.emplace(tgid, Member{job, {}, 0, {}});
  ++j->second.processes;
  ++j->second.live;
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
  const auto j = jobs_.find(m->second.job);
  return j != jobs_.end() && j->second.counting;
}

Usage Jobs::totals_with(const Job& j, const Member& m, Usage share) {
  return {sat_add(sub_floor(j.usage.heap, m.share.heap), share.heap),
          sat_add(sub_floor(j.usage.files, m.share.files), share.files)};
}

std::optional<JobViolation> Jobs::over(const Job& j, Usage t) {
  if (j.spec.heap_quota_bytes && t.heap > *j.spec.heap_quota_bytes)
    return JobViolation{0, 0, Resource::heap, t.heap, *j.spec.heap_quota_bytes, t, j.live};
  if (j.spec.file_quota && t.files > *j.spec.file_quota)
    return JobViolation{0, 0, Resource::files, t.files, *j.spec.file_quota, t, j.live};
  return std::nullopt;
}

std::optional<JobViolation> Jobs::check(Pid tgid, const Delta& d) const {
  const auto m = members_.find(tgid);
  if (m == members_.end()) return std::nullopt;
  const auto j = jobs_.find(m->second.job);
  if (j == jobs_.end() || !j->second.counting) return std::nullopt;
  auto v = over(j->second, totals_with(j->second, m->second, counted(m->second.share, d)));
  if (v) v->job = m->second.job, v->pid = tgid;
  return v;
}

void Jobs::apply(Pid tgid, const Delta& d) {
  const auto m = members_.find(tgid);
  if (m == members_.end()) return;
  const auto j = jobs_.find(m->second.job);
  if (j == jobs_.end() || !j->second.counting) return;
  Member& mem = m->second;
  Job& job = j->second;
  const Usage share = counted(mem.share, d);
  if (share.heap != mem.share.heap || share.files != mem.share.files) ++changes_;
  job.usage = totals_with(job, mem, share);
  mem.share = share;
  mem.peak_files = std::max(mem.peak_files, share.files);
  job.peak_heap = std::max(job.peak_heap, job.usage.heap);
  job.peak_files = std::max(job.peak_files, job.usage.files);
}

bool Jobs::keeps_history(JobId job) const {
  const auto j = jobs_.find(job);
  return j != jobs_.end() && j->second.spec.keep_history;
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
  const auto j = jobs_.find(mem.job);
  if (j == jobs_.end()) return;
  Job& job = j->second;
  ++changes_;  // live processes at least
  job.usage = {sub_floor(job.usage.heap, mem.share.heap), sub_floor(job.usage.files, mem.share.files)};
  if (job.live > 0) --job.live;
  if (!job.spec.keep_history) return;
  if (how == Ending::unknown && job.killed) how = Ending::killed, code = -1;
  job.ended.push_back(ProcessRecord{tgid, mem.argv0, mem.share.heap, mem.peak_files, how, code});
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
  const auto j = jobs_.find(v.job);
  if (j != jobs_.end() && !j->second.killed) j->second.killed = v;
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
  v.counting = j.counting;
  v.usage = j.usage;
  v.peak_heap = j.peak_heap;
  v.peak_files = j.peak_files;
  v.processes = j.processes;
  v.live = j.live;
  v.heap_quota_bytes = j.spec.heap_quota_bytes;
  v.file_quota = j.spec.file_quota;
  v.killed = j.killed;
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
  for (const Pid pid : members(job)) {
    const Member& m = members_.at(pid);
    out.push_back(ProcessRecord{pid, m.argv0, m.share.heap, m.peak_files, Ending::running, -1});
  }
  return out;
}

}  // namespace sandbox
