// SPDX-License-Identifier: Apache-2.0
#include "observe/recorder.hpp"

#include <fcntl.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <stdexcept>

namespace sandbox::observe {
namespace {

std::int64_t job_track(JobId job) {
  return kJobTrackBase + static_cast<std::int64_t>(job);
}

std::int64_t as_value(std::uint64_t v) {
  return v > static_cast<std::uint64_t>(INT64_MAX) ? INT64_MAX : static_cast<std::int64_t>(v);
}

std::string violation_args(const Event& e) {
  // The process whose call crossed, by pid and name (its comm: untrusted, escaped).
  const std::string comm(e.comm, strnlen(e.comm, sizeof e.comm));
  std::string a = "{";
  if (e.violation) {
    const Violation& v = *e.violation;
    a += "\"resource\":\"" + std::string(to_string(v.resource)) + "\",\"node\":" + std::to_string(v.node) +
         ",\"pid\":" + std::to_string(e.tgid) + ",\"usage\":" + std::to_string(v.usage) +
         ",\"limit\":" + std::to_string(v.limit);
  } else {
    const JobViolation& v = *e.job_violation;
    a += "\"resource\":\"" + std::string(to_string(v.resource)) + "\",\"job\":" + std::to_string(v.job) +
         ",\"pid\":" + std::to_string(v.pid) + ",\"usage\":" + std::to_string(v.usage) +
         ",\"limit\":" + std::to_string(v.limit);
  }
  return a + ",\"comm\":" + json_string(comm) + "}";
}

}  // namespace

TraceRecorder::TraceRecorder(const std::string& path, std::string job_name, std::size_t top)
    : file_("--trace", path), top_n_(top), job_name_(std::move(job_name)) {
  timespec now{};
  ::clock_gettime(CLOCK_REALTIME, &now);
  start_ns_ =
      static_cast<std::uint64_t>(now.tv_sec) * 1'000'000'000u + static_cast<std::uint64_t>(now.tv_nsec);
}

void TraceRecorder::job(JobId id, std::optional<std::uint64_t> heap_quota_bytes,
                        std::optional<std::uint64_t> file_quota) {
  std::lock_guard lk(mu_);
  const std::int64_t track = job_track(id);
  writer_.name(track, job_name_);
  if (nodes_.contains(track)) return;  // its events came first
  Usage& u = nodes_[track];
  writer_.sample(0, track, Series::heap, 0);
  writer_.sample(0, track, Series::files, 0);
  // Only the quotas that exist: no "no quota" counter for one never set.
  if (heap_quota_bytes) {
    u.heap_quota_seen = true;
    writer_.sample(0, track, Series::heap_quota, as_value(*heap_quota_bytes));
  }
  if (file_quota) {
    u.file_quota_seen = true;
    writer_.sample(0, track, Series::file_quota, as_value(*file_quota));
  }
}

std::uint64_t TraceRecorder::ts_us(std::uint64_t time_ns) {
  // Wall-clock stamps; a clock stepped back must not make a track go back in time.
  const std::uint64_t us = time_ns > start_ns_ ? (time_ns - start_ns_) / 1000 : 0;
  if (us > last_us_) last_us_ = us;
  return last_us_;
}

void TraceRecorder::name_track(std::int64_t track, const Event& e, Usage& u) {
  if (!e.comm[0] || std::memcmp(u.comm.data(), e.comm, u.comm.size()) == 0) return;
  std::memcpy(u.comm.data(), e.comm, u.comm.size());
  const std::string comm(e.comm, strnlen(e.comm, sizeof e.comm));
  writer_.name(track, e.pid == e.tgid ? comm + " (" + std::to_string(e.pid) + ")"
                                      : comm + " (thread " + std::to_string(e.pid) + ")");
}

void TraceRecorder::quotas(std::uint64_t ts, std::int64_t track, const Event& e, Usage& u) {
  // A quota's track starts with its first value; "-1" only for one lifted after that.
  if (e.heap_quota_bytes || u.heap_quota_seen) {
    u.heap_quota_seen = true;
    writer_.sample(ts, track, Series::heap_quota, e.heap_quota_bytes ? as_value(*e.heap_quota_bytes) : -1);
  }
  if (e.file_quota || u.file_quota_seen) {
    u.file_quota_seen = true;
    writer_.sample(ts, track, Series::file_quota, e.file_quota ? as_value(*e.file_quota) : -1);
  }
}

void TraceRecorder::decide(std::int64_t pid) {
  const auto m = members_.find(pid);
  if (m == members_.end()) return;
  if (m->second.crossed) {
    writer_.release(pid, true);
    members_.erase(m);
    return;
  }
  if (m->second.peak_heap == 0 && m->second.peak_files == 0) {  // nothing to show
    writer_.release(pid, false);
    members_.erase(m);
    return;
  }
  // Among the top so far: kept aside (still held) until a bigger one displaces it.
  top_.push_back(pid);
  if (top_.size() <= top_n_) return;
  const auto smallest = std::min_element(top_.begin(), top_.end(), [&](std::int64_t a, std::int64_t b) {
    return bigger(members_.at(b), members_.at(a));
  });
  const std::int64_t out = *smallest;
  top_.erase(smallest);
  writer_.release(out, false);
  members_.erase(out);
}

void TraceRecorder::on_event(const Event& e) {
  std::lock_guard lk(mu_);
  const std::uint64_t ts = ts_us(e.time_ns);
  // An event about a job as a whole (pid 0) goes to the job's track.
  const bool whole_job = e.pid == 0 && e.job != 0;
  const std::int64_t track = whole_job ? job_track(e.job) : e.pid;
  if (e.kind == Event::Kind::usage && e.member) {
    const auto [m, fresh] = members_.try_emplace(track);
    if (fresh) writer_.hold(track);
    Usage& u = nodes_[track];
    name_track(track, e, u);
    const std::uint64_t heap = e.heap_bytes.value_or(0), files = e.open_files.value_or(0);
    writer_.sample(ts, track, Series::heap, as_value(heap));
    writer_.sample(ts, track, Series::files, as_value(files));
    m->second.peak_heap = std::max(m->second.peak_heap, heap);
    m->second.peak_files = std::max(m->second.peak_files, files);
    if (e.member_ended && !m->second.ended) {
      m->second.ended = true;
      writer_.instant(ts, track, "exit");
      nodes_.erase(track);
      decide(track);
    }
    return;
  }
  // A node's events: its track is always kept (held only if an exec came first).
  if (!whole_job && e.kind == Event::Kind::usage && writer_.held(track)) {
    writer_.release(track, true);
    members_.erase(track);
  }
  const bool known = nodes_.contains(track);
  Usage& u = nodes_[track];
  if (!whole_job) name_track(track, e, u);
  switch (e.kind) {
    case Event::Kind::usage: {
      const std::uint64_t heap = e.heap_bytes.value_or(0), files = e.open_files.value_or(0);
      writer_.sample(ts, track, Series::heap, as_value(heap));
      writer_.sample(ts, track, Series::files, as_value(files));
      quotas(ts, track, e, u);
      u.heap = heap;
      u.files = files;
      break;
    }
    case Event::Kind::quota_set:
    case Event::Kind::quota_reset: quotas(ts, track, e, u); break;
    case Event::Kind::killed:
      if (e.violation) {
        writer_.instant(ts, e.tgid, "kill", violation_args(e));
      } else if (e.job_violation) {  // a job quota: the whole job dies; marked on the job's track
        const JobViolation& v = *e.job_violation;
        writer_.instant(ts, job_track(v.job), "kill", violation_args(e));
        // The process whose call crossed keeps its track.
        if (const auto m = members_.find(v.pid); m != members_.end()) m->second.crossed = true;
      }
      break;
    case Event::Kind::exec:
      // A process seen first by its exec may be a member with no node: held until known.
      if ((!known || members_.contains(e.tgid)) && members_.try_emplace(e.tgid).second) writer_.hold(e.tgid);
      writer_.instant(ts, e.tgid, "exec");
      break;
    case Event::Kind::exited:
      writer_.instant(ts, e.pid, "exit");  // the job's totals follow in its own usage event
      nodes_.erase(e.pid);
      break;
    default: break;
  }
}

Status TraceRecorder::write_out(const std::string& text) {
  return file_.write(text);
}

void TraceRecorder::left_running(JobId id, std::size_t count,
                                 const std::vector<std::pair<std::int64_t, std::string>>& listed,
                                 const std::string& action) {
  std::lock_guard lk(mu_);
  timespec now{};
  ::clock_gettime(CLOCK_REALTIME, &now);
  const std::uint64_t ts = ts_us(static_cast<std::uint64_t>(now.tv_sec) * 1'000'000'000u +
                                 static_cast<std::uint64_t>(now.tv_nsec));
  std::string pids, comms;
  for (const auto& [pid, comm] : listed) {
    // Appended piece by piece: GCC 12's -Wrestrict misfires on `literal + string&&` at -O3.
    if (!pids.empty()) pids += ',', comms += ',';
    pids += std::to_string(pid);
    comms += json_string(comm);
  }
  writer_.instant(ts, job_track(id), "left running",
                  "{\"count\":" + std::to_string(count) + ",\"pids\":[" + pids + "],\"comms\":[" + comms +
                      "],\"action\":" + json_string(action) + "}");
}

void TraceRecorder::flush() {
  std::string text;
  {
    std::lock_guard lk(mu_);
    timespec now{};
    ::clock_gettime(CLOCK_REALTIME, &now);
    writer_.tick(ts_us(static_cast<std::uint64_t>(now.tv_sec) * 1'000'000'000u +
                       static_cast<std::uint64_t>(now.tv_nsec)));
    text = writer_.take();
  }
  if (text.empty() || !error_.ok()) return;
  error_ = write_out(text);
}

Status TraceRecorder::close() {
  std::string text;
  {
    std::lock_guard lk(mu_);
    // Members still held: those that crossed and the top by peak (ended or not) are kept.
    std::vector<std::int64_t> live;
    for (const auto& [pid, m] : members_)
      if (!m.ended) live.push_back(pid);
    std::sort(live.begin(), live.end());
    for (const auto pid : live) decide(pid);
    for (const auto pid : top_) writer_.release(pid, true);
    top_.clear();
    members_.clear();
    writer_.finish();
    text = writer_.take();
  }
  if (error_.ok()) error_ = write_out(text);
  if (Status closed = file_.close(); error_.ok()) error_ = std::move(closed);
  return error_;
}

std::uint64_t TraceRecorder::points() const {
  std::lock_guard lk(mu_);
  return writer_.points();
}

}  // namespace sandbox::observe
