// trace: usage over time as Chrome trace-event JSON, the format Perfetto (ui.perfetto.dev)
// and chrome://tracing open -- {"traceEvents": [...]} with
//   "ph":"C"  counter samples: heap bytes, open files, and the quotas, per process and per job
//   "ph":"i"  instant events: exec, kill, exit
//   "ph":"M"  metadata: process names and their order
// (docs/observability.md has the exact shape).
//
// Pure: no I/O. The writer appends to an in-memory buffer which its owner takes (take())
// and writes out, typically from a timer outside any lock, so the notify loop never waits
// for a disk. Bounded by coalescing: each counter track keeps at most three points per
// window (the smallest, the largest and the last value, each at its own time), and writes
// nothing for an unchanged value -- with the default 300 ms window, at most ten points per
// second per track whatever the target does, and the peaks are exact.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace sandbox::observe {

// Counter tracks whose "pid" is at or above this are jobs, not processes: above Linux's
// PID_MAX_LIMIT (2^22), so no real pid collides with them.
inline constexpr std::int64_t kJobTrackBase = std::int64_t{1} << 22;

enum class Series { heap, files, heap_quota, file_quota };
// The counter event's name ("heap", "files", "heap quota", "file quota") and its one
// argument ("bytes" or "count").
std::string_view series_name(Series s);
std::string_view series_unit(Series s);

// A JSON string literal (with its quotes) for arbitrary bytes: a target's comm is not
// trusted to be UTF-8 or free of quotes and control characters. Bytes outside printable
// ASCII are written as \u00XX (read as Latin-1), so the output is always valid JSON.
std::string json_string(std::string_view s);

class TraceWriter {
 public:
  struct Options {
    std::uint64_t window_us = 300'000;  // coalescing window per track
  };
  TraceWriter() : TraceWriter(Options{}) {}
  explicit TraceWriter(Options o);

  // A counter sample: `pid`'s track `s` holds `value` from `ts_us` (microseconds since the
  // trace began; non-decreasing per track) on. A negative value means "no quota" on a quota
  // track. Cheap: no allocation once the track exists, no output until a window closes.
  void sample(std::uint64_t ts_us, std::int64_t pid, Series s, std::int64_t value);
  // An instant event on `pid` (exec, kill, exit); `args_json` is a JSON object or empty.
  void instant(std::uint64_t ts_us, std::int64_t pid, std::string_view name, std::string_view args_json = {});
  // The name shown for `pid`'s tracks (the last one given wins); jobs sort first.
  void name(std::int64_t pid, std::string_view name);

  // Writes the points of every window that has ended by `now_us`.
  void tick(std::uint64_t now_us);
  // Writes every pending point, the names and the end of the document. Nothing may be
  // added afterwards.
  void finish();
  bool finished() const { return finished_; }

  // Moves out the text written so far (append it to the file, in order).
  std::string take();
  std::size_t buffered() const { return out_.size(); }
  // Points written so far, over all counter tracks (for tests and --verbose).
  std::uint64_t points() const { return points_; }

 private:
  struct Point {
    std::uint64_t ts = 0;
    std::int64_t v = 0;
  };
  struct Track {
    bool open = false;  // a window is collecting
    std::uint64_t start = 0;
    Point lo, hi, last;
    bool written = false;
    std::int64_t written_v = 0;
  };
  static std::uint64_t key(std::int64_t pid, Series s) {
    return (static_cast<std::uint64_t>(pid) << 2) | static_cast<std::uint64_t>(s);
  }
  void close_window(std::uint64_t k, Track& t);
  void write_point(std::int64_t pid, Series s, const Point& p);
  void begin_event();

  Options opt_;
  std::string out_;
  bool first_ = true;
  bool finished_ = false;
  std::uint64_t points_ = 0;
  std::unordered_map<std::uint64_t, Track> tracks_;
  std::map<std::int64_t, std::string> names_;
};

}  // namespace sandbox::observe
