#include "observe/recorder.hpp"

#include <fcntl.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

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

}  // namespace

TraceRecorder::TraceRecorder(const std::string& path, std::string job_name)
    : file_("--trace", path), job_name_(std::move(job_name)) {
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
  if (!heap_quota_bytes && !file_quota) return;
  u.quota_seen = true;
  writer_.sample(0, track, Series::heap_quota, heap_quota_bytes ? as_value(*heap_quota_bytes) : -1);
  writer_.sample(0, track, Series::file_quota, file_quota ? as_value(*file_quota) : -1);
}

std::uint64_t TraceRecorder::ts_us(std::uint64_t time_ns) {
  // Wall-clock stamps; a clock stepped back must not make a track go back in time.
  const std::uint64_t us = time_ns > start_ns_ ? (time_ns - start_ns_) / 1000 : 0;
  if (us > last_us_) last_us_ = us;
  return last_us_;
}

void TraceRecorder::on_event(const Event& e) {
  std::lock_guard lk(mu_);
  const std::uint64_t ts = ts_us(e.time_ns);
  // An event about a job as a whole (pid 0) goes to the job's track.
  const bool whole_job = e.pid == 0 && e.job != 0;
  const std::int64_t track = whole_job ? job_track(e.job) : e.pid;
  Usage& u = nodes_[track];
  if (!whole_job && e.comm[0] && std::memcmp(u.comm.data(), e.comm, u.comm.size()) != 0) {
    std::memcpy(u.comm.data(), e.comm, u.comm.size());
    const std::string comm(e.comm, strnlen(e.comm, sizeof e.comm));
    writer_.name(e.pid, e.pid == e.tgid ? comm + " (" + std::to_string(e.pid) + ")"
                                        : comm + " (thread " + std::to_string(e.pid) + ")");
  }
  auto quotas = [&] {
    if (e.heap_quota_bytes || e.file_quota) u.quota_seen = true;
    if (!u.quota_seen) return;
    writer_.sample(ts, track, Series::heap_quota, e.heap_quota_bytes ? as_value(*e.heap_quota_bytes) : -1);
    writer_.sample(ts, track, Series::file_quota, e.file_quota ? as_value(*e.file_quota) : -1);
  };
  switch (e.kind) {
    case Event::Kind::usage: {
      const std::uint64_t heap = e.heap_bytes.value_or(0), files = e.open_files.value_or(0);
      writer_.sample(ts, track, Series::heap, as_value(heap));
      writer_.sample(ts, track, Series::files, as_value(files));
      quotas();
      u.heap = heap;
      u.files = files;
      break;
    }
    case Event::Kind::quota_set:
    case Event::Kind::quota_reset: quotas(); break;
    case Event::Kind::killed:
      if (e.violation) {
        const Violation& v = *e.violation;
        writer_.instant(ts, e.tgid, "kill",
                        "{\"resource\":\"" + std::string(to_string(v.resource)) + "\",\"node\":" +
                            std::to_string(v.node) + ",\"usage\":" + std::to_string(v.usage) +
                            ",\"limit\":" + std::to_string(v.limit) + "}");
      } else if (e.job_violation) {  // a job quota: the whole job dies; marked on the job's track
        const JobViolation& v = *e.job_violation;
        writer_.instant(ts, job_track(v.job), "kill",
                        "{\"resource\":\"" + std::string(to_string(v.resource)) +
                            "\",\"job\":" + std::to_string(v.job) + ",\"pid\":" + std::to_string(v.pid) +
                            ",\"usage\":" + std::to_string(v.usage) +
                            ",\"limit\":" + std::to_string(v.limit) + "}");
      }
      break;
    case Event::Kind::exec: writer_.instant(ts, e.tgid, "exec"); break;
    case Event::Kind::exited:
      writer_.instant(ts, e.pid, "exit");  // the job's totals follow in its own usage event
      nodes_.erase(e.pid);
      break;
    default: break;
  }
}

std::string TraceRecorder::write_out(const std::string& text) {
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
    pids += (pids.empty() ? "" : ",") + std::to_string(pid);
    comms += (comms.empty() ? "" : ",") + json_string(comm);
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
  if (text.empty() || !error_.empty()) return;
  error_ = write_out(text);
}

std::string TraceRecorder::close() {
  std::string text;
  {
    std::lock_guard lk(mu_);
    writer_.finish();
    text = writer_.take();
  }
  if (error_.empty()) error_ = write_out(text);
  if (const std::string closed = file_.close(); error_.empty()) error_ = closed;
  return error_;
}

std::uint64_t TraceRecorder::points() const {
  std::lock_guard lk(mu_);
  return writer_.points();
}

}  // namespace sandbox::observe
