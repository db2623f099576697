// SPDX-License-Identifier: Apache-2.0
// recorder: `sandbox run --trace FILE` -- the supervisor's events (raw usage included) into a
// TraceWriter, and the writer's text into FILE.
//
// Threads: on_event() runs on the notify thread with the supervisor's lock held; it only
// updates the in-memory writer (no I/O; no allocation once a process's tracks exist).
// flush() runs on a timer thread: it takes the text under the recorder's own lock and
// writes it to the file outside every lock. close() writes the rest.
//
// Jobs: the usage events of a job (pid 0) are its real totals (every process of it, nodes or
// not) and its quotas, on the track observe::kJobTrackBase + job id; a job-quota kill is an
// instant on that track, naming the process whose call crossed (pid, comm).
//
// Processes: a node has a track of its own (its usage events). A job member without a node
// (under --scope job, every child) is recorded too, from its share of the job, but held
// (TraceWriter::hold): when it ends it keeps its track only if it crossed a quota or is
// among the `top` processes by peak heap (then peak files) so far; the rest are dropped. So
// a build of ten thousand compilers gives the job, the few that matter, and at most `top`
// others, and memory holds only the live members and the current top.
#pragma once

#include <array>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "base/unique_fd.hpp"
#include "control/control.hpp"
#include "observe/output_file.hpp"
#include "observe/trace.hpp"

namespace sandbox::observe {

class TraceRecorder {
 public:
  // Creates (or empties) `path` as an OutputFile (never through a symlink, never a FIFO or a
  // device); throws std::runtime_error with one line naming it.
  TraceRecorder(const std::string& path, std::string job_name, std::size_t top = 5);
  void on_event(const Event& e);
  // The run's job: named (the name given above), starting at 0, with its quotas if any.
  void job(JobId id, std::optional<std::uint64_t> heap_quota_bytes, std::optional<std::uint64_t> file_quota);
  // CMD exited while `count` processes of the job still ran (`listed`: pid, comm of the
  // first ones); `action` is "kill" or "wait". An instant "left running" on the job's track.
  void left_running(JobId id, std::size_t count,
                    const std::vector<std::pair<std::int64_t, std::string>>& listed,
                    const std::string& action);
  void flush();
  // Finishes the document and writes it; the first failure (its message one line).
  Status close();
  // Counter points written so far (for --verbose).
  std::uint64_t points() const;

 private:
  std::uint64_t ts_us(std::uint64_t time_ns);
  Status write_out(const std::string& text);

  struct Usage {
    std::uint64_t heap = 0, files = 0;
    bool heap_quota_seen = false, file_quota_seen = false;
    std::array<char, 16> comm{};
  };
  // A job member without a node: held until decided.
  struct Member {
    std::uint64_t peak_heap = 0, peak_files = 0;
    bool crossed = false;  // its call crossed a quota
    bool ended = false;
  };
  void name_track(std::int64_t track, const Event& e, Usage& u);
  void quotas(std::uint64_t ts, std::int64_t track, const Event& e, Usage& u);
  // The member's end (or the trace's): kept, dropped, or kept among the top for now.
  void decide(std::int64_t pid);
  static bool bigger(const Member& a, const Member& b) {
    return a.peak_heap != b.peak_heap ? a.peak_heap > b.peak_heap : a.peak_files > b.peak_files;
  }
  mutable std::mutex mu_;
  OutputFile file_;
  TraceWriter writer_;
  std::uint64_t start_ns_ = 0, last_us_ = 0;
  std::unordered_map<std::int64_t, Usage> nodes_;     // by track: a node's pid, or a job's track
  std::unordered_map<std::int64_t, Member> members_;  // held, by pid
  std::vector<std::int64_t> top_;                     // ended members kept for now (at most top_n_)
  std::size_t top_n_;
  std::string job_name_;
  Status error_;  // the first write that failed
};

}  // namespace sandbox::observe
