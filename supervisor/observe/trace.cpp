#include "observe/trace.hpp"

#include <algorithm>
#include <array>
#include <cstdio>

namespace sandbox::observe {

std::string_view series_name(Series s) {
  switch (s) {
    case Series::heap: return "heap";
    case Series::files: return "files";
    case Series::heap_quota: return "heap quota";
    case Series::file_quota: return "file quota";
  }
  return "?";
}

std::string_view series_unit(Series s) {
  return s == Series::heap || s == Series::heap_quota ? "bytes" : "count";
}

std::string json_string(std::string_view s) {
  std::string out;
  out.reserve(s.size() + 2);
  out += '"';
  for (const char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += ch;
    } else if (c < 0x20 || c >= 0x7f) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\u%04x", c);
      out += buf;
    } else {
      out += ch;
    }
  }
  out += '"';
  return out;
}

TraceWriter::TraceWriter(Options o) : opt_(o) {
  if (opt_.window_us == 0) opt_.window_us = 1;
  out_ = "{\"displayTimeUnit\":\"ms\",\"traceEvents\":[\n";
}

void TraceWriter::begin_event() {
  if (!first_) out_ += ",\n";
  first_ = false;
}

void TraceWriter::write_point(std::int64_t pid, Series s, const Point& p) {
  char buf[192];
  const int n = std::snprintf(buf, sizeof buf,
                              "{\"ph\":\"C\",\"name\":\"%.*s\",\"pid\":%lld,\"tid\":%lld,\"ts\":%llu,"
                              "\"args\":{\"%.*s\":%lld}}",
                              static_cast<int>(series_name(s).size()), series_name(s).data(),
                              static_cast<long long>(pid), static_cast<long long>(pid),
                              static_cast<unsigned long long>(p.ts), static_cast<int>(series_unit(s).size()),
                              series_unit(s).data(), static_cast<long long>(p.v));
  begin_event();
  out_.append(buf, static_cast<std::size_t>(std::clamp(n, 0, static_cast<int>(sizeof buf) - 1)));
  ++points_;
}

void TraceWriter::close_window(std::uint64_t k, Track& t) {
  t.open = false;
  // The extremes and the last value, in time order; a point that does not change the
  // step function (same value as the one before it) is left out.
  std::array<Point, 3> pts{t.lo, t.hi, t.last};
  std::stable_sort(pts.begin(), pts.end(), [](const Point& a, const Point& b) { return a.ts < b.ts; });
  const auto pid = static_cast<std::int64_t>(k >> 2);
  const auto s = static_cast<Series>(k & 3);
  const Point* prev = nullptr;
  for (const Point& p : pts) {
    if (prev && p.ts == prev->ts && p.v == prev->v) continue;  // the same sample chosen twice
    prev = &p;
    if (t.written && p.v == t.written_v) continue;
    write_point(pid, s, p);
    t.written = true;
    t.written_v = p.v;
  }
}

void TraceWriter::sample(std::uint64_t ts_us, std::int64_t pid, Series s, std::int64_t value) {
  if (finished_) return;
  const std::uint64_t k = key(pid, s);
  Track& t = tracks_[k];
  if (t.open && ts_us >= t.start + opt_.window_us) close_window(k, t);
  if (!t.open) {
    if (t.written && value == t.written_v) return;  // nothing new
    t.open = true;
    t.start = ts_us;
    t.lo = t.hi = t.last = Point{ts_us, value};
    return;
  }
  const Point p{ts_us, value};
  // Ties keep the earliest extreme: the step reaches that value first there.
  if (value < t.lo.v) t.lo = p;
  if (value > t.hi.v) t.hi = p;
  t.last = p;
}

void TraceWriter::instant(std::uint64_t ts_us, std::int64_t pid, std::string_view name,
                          std::string_view args_json) {
  if (finished_) return;
  begin_event();
  out_ += "{\"ph\":\"i\",\"s\":\"p\",\"name\":";
  out_ += json_string(name);
  out_ += ",\"pid\":" + std::to_string(pid) + ",\"tid\":" + std::to_string(pid) +
          ",\"ts\":" + std::to_string(ts_us);
  if (!args_json.empty()) {
    out_ += ",\"args\":";
    out_ += args_json;
  }
  out_ += '}';
}

void TraceWriter::name(std::int64_t pid, std::string_view n) {
  if (finished_) return;
  names_[pid] = std::string(n);
}

void TraceWriter::tick(std::uint64_t now_us) {
  if (finished_) return;
  for (auto& [k, t] : tracks_)
    if (t.open && now_us >= t.start + opt_.window_us) close_window(k, t);
}

void TraceWriter::finish() {
  if (finished_) return;
  // In key order, so the file does not depend on the hash table's.
  std::vector<std::uint64_t> keys;
  for (auto& [k, t] : tracks_)
    if (t.open) keys.push_back(k);
  std::sort(keys.begin(), keys.end());
  for (const auto k : keys) close_window(k, tracks_.at(k));
  for (const auto& [pid, n] : names_) {
    begin_event();
    out_ += "{\"ph\":\"M\",\"name\":\"process_name\",\"pid\":" + std::to_string(pid) +
            ",\"args\":{\"name\":" + json_string(n) + "}}";
    begin_event();
    // Jobs first, then processes by pid.
    const std::int64_t order = pid >= kJobTrackBase ? pid - kJobTrackBase - (std::int64_t{1} << 30) : pid;
    out_ += "{\"ph\":\"M\",\"name\":\"process_sort_index\",\"pid\":" + std::to_string(pid) +
            ",\"args\":{\"sort_index\":" + std::to_string(order) + "}}";
  }
  out_ += "\n]}\n";
  finished_ = true;
}

std::string TraceWriter::take() {
  std::string s;
  s.swap(out_);
  return s;
}

}  // namespace sandbox::observe
