// SPDX-License-Identifier: Apache-2.0
// trace: usage over time as Chrome trace-event JSON, the format Perfetto (ui.perfetto.dev)
// and chrome://tracing open -- {"traceEvents": [...]} with
//   "ph":"C"  counter samples: heap bytes, open files, and the quotas, per process and per job
//   "ph":"i"  instant events: exec, kill, exit
//   "ph":"M"  metadata: process names and their order
// (docs/observability.md has the exact shape).
//
// Pure: no I/O. The writer appends to an in-memory buffer which its owner takes (take())
// and writes out, typically from a timer outside any lock, so the notify loop never waits
// for a disk.
//
// Shape first, bounded: a counter track writes every change while its rate allows (a token
// bucket per track: `rate` points a second sustained, `burst` at once), coalescing only
// within windows of 1 ms. Under pressure its window widens (doubling, up to 250 ms) and
// narrows again when the pressure ends. Whatever the width, a window writes at most four
// points -- its first, smallest, largest and last value, each at its own time -- so peaks
// are exact; and a usage sample that crosses its quota (the same process's quota track,
// from at or below to above, or back) is written exactly, with the sample before it. An
// unchanged value is never written. So a track writes at most about burst + rate x seconds
// points, and crossings (from a bucket of their own, alike) at most twice that again.
//
// Held tracks: the events of a held pid (hold()) are kept aside until release() appends
// them or drops them -- a recorder keeps only the processes worth a track.
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

// A command line as a one-line label: the words joined with spaces, every run of blanks,
// newlines and other control characters (a multi-line `sh -c` script) one space, and at
// most `max` bytes, cut with "..." (never inside a UTF-8 sequence).
std::string one_line(std::string_view text, std::size_t max = 80);
std::string command_label(const std::vector<std::string>& argv, std::size_t max = 80);

class TraceWriter {
 public:
  struct Options {
    std::uint64_t min_window_us = 1'000;    // the finest window (every change slower than this is kept)
    std::uint64_t max_window_us = 250'000;  // the widest, under sustained pressure
    double rate = 200;                      // points per second per track, sustained
    double burst = 2'000;                   // points per track above the rate, at once
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
  // Points written so far, over all counter tracks (for tests and --verbose); a held
  // track's count only once it is kept.
  std::uint64_t points() const { return points_; }

  // Holds `pid`'s events (counters, instants) aside from now on.
  void hold(std::int64_t pid);
  bool held(std::int64_t pid) const { return held_.contains(pid); }
  // Ends the hold: `keep` appends its events to the output (its pending windows closed
  // first), else they and its name are dropped. Either way its tracks are forgotten.
  void release(std::int64_t pid, bool keep);

 private:
  struct Point {
    std::uint64_t ts = 0;
    std::int64_t v = 0;
  };
  struct Track {
    bool open = false;  // a window is collecting
    std::uint64_t start = 0, window = 0;
    Point first, lo, hi, last;
    bool written = false;
    std::int64_t written_v = 0;
    bool has_cur = false;  // the latest value sampled (crossings are against it)
    std::int64_t cur = 0;
    double tokens = 0;   // the bucket: points this track may write now
    double reserve = 0;  // crossings' own bucket
    std::uint64_t refilled = 0;
  };
  struct Held {
    std::string text;  // its events, each preceded by ",\n"
    std::uint64_t points = 0;
  };
  static std::uint64_t key(std::int64_t pid, Series s) {
    return (static_cast<std::uint64_t>(pid) << 2) | static_cast<std::uint64_t>(s);
  }
  void close_window(std::uint64_t k, Track& t, std::uint64_t now);
  void write_point(std::int64_t pid, Series s, const Point& p);
  // The string pid's next event goes to, its separator written.
  std::string& begin_event(std::int64_t pid);
  bool crosses(std::int64_t pid, Series s, const Track& t, std::int64_t value) const;

  Options opt_;
  std::string out_;
  bool first_ = true;
  bool finished_ = false;
  std::uint64_t points_ = 0;
  std::unordered_map<std::uint64_t, Track> tracks_;
  std::map<std::int64_t, std::string> names_;
  std::unordered_map<std::int64_t, Held> held_;
};

}  // namespace sandbox::observe
