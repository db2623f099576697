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
// instant on that track.
#pragma once

#include <array>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "control/control.hpp"
#include "observe/output_file.hpp"
#include "observe/trace.hpp"
#include "target/unique_fd.hpp"

namespace sandbox::observe {

class TraceRecorder {
 public:
  // Creates (or empties) `path` as an OutputFile (never through a symlink, never a FIFO or a
  // device); throws std::runtime_error with one line naming it.
  TraceRecorder(const std::string& path, std::string job_name);
  void on_event(const Event& e);
  // The run's job: named (the name given above), starting at 0, with its quotas if any.
  void job(JobId id, std::optional<std::uint64_t> heap_quota_bytes, std::optional<std::uint64_t> file_quota);
  // CMD exited while `count` processes of the job still ran (`listed`: pid, comm of the
  // first ones); `action` is "kill" or "wait". An instant "left running" on the job's track.
  void left_running(JobId id, std::size_t count,
                    const std::vector<std::pair<std::int64_t, std::string>>& listed,
                    const std::string& action);
  void flush();
  // Finishes the document and writes it; "" or a one-line error.
  std::string close();
  // Counter points written so far (for --verbose).
  std::uint64_t points() const;

 private:
  std::uint64_t ts_us(std::uint64_t time_ns);
  std::string write_out(const std::string& text);

  struct Usage {
    std::uint64_t heap = 0, files = 0;
    bool quota_seen = false;
    std::array<char, 16> comm{};
  };
  mutable std::mutex mu_;
  OutputFile file_;
  TraceWriter writer_;
  std::uint64_t start_ns_ = 0, last_us_ = 0;
  std::unordered_map<std::int64_t, Usage> nodes_;  // by track: a node's pid, or a job's track
  std::string job_name_;
  std::string error_;
};

}  // namespace sandbox::observe
