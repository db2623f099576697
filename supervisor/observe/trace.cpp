// SPDX-License-Identifier: Apache-2.0
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

std::string one_line(std::string_view text, std::size_t max) {
  std::string out;
  bool blank = false;
  for (const char ch : text) {
    const auto c = static_cast<unsigned char>(ch);
    if (c <= 0x20 || c == 0x7f) {
      blank = !out.empty();
      continue;
    }
    if (blank) out += ' ';
    blank = false;
    out += ch;
  }
  if (max < 4) max = 4;
  if (out.size() <= max) return out;
  std::size_t cut = max - 3;
  // Back to the start of a UTF-8 sequence (a continuation byte is 10xxxxxx).
  while (cut > 0 && (static_cast<unsigned char>(out[cut]) & 0xc0) == 0x80) --cut;
  out.resize(cut);
  while (!out.empty() && out.back() == ' ') out.pop_back();
  return out + "...";
}

std::string command_label(const std::vector<std::string>& argv, std::size_t max) {
  std::string joined;
  for (const auto& a : argv) {
    if (!joined.empty()) joined += ' ';
    joined += a;
  }
  return one_line(joined, max);
}

TraceWriter::TraceWriter(Options o) : opt_(o) {
  if (opt_.min_window_us == 0) opt_.min_window_us = 1;
  opt_.max_window_us = std::max(opt_.max_window_us, opt_.min_window_us);
  if (!(opt_.burst >= 8)) opt_.burst = 8;  // room for a window and a crossing
  if (!(opt_.rate > 0)) opt_.rate = 1;
  out_ = "{\"displayTimeUnit\":\"ms\",\"traceEvents\":[\n";
}

std::string& TraceWriter::begin_event(std::int64_t pid) {
  if (const auto h = held_.find(pid); h != held_.end()) {
    h->second.text += ",\n";
    return h->second.text;
  }
  if (!first_) out_ += ",\n";
  first_ = false;
  return out_;
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
  std::string& out = begin_event(pid);
  out.append(buf, static_cast<std::size_t>(std::clamp(n, 0, static_cast<int>(sizeof buf) - 1)));
  if (const auto h = held_.find(pid); h != held_.end())
    ++h->second.points;
  else
    ++points_;
}

void TraceWriter::close_window(std::uint64_t k, Track& t, std::uint64_t now) {
  t.open = false;
  // The first value, the extremes and the last value, in time order; a point that does not
  // change the step function (same value as the one before it) is left out.
  std::array<Point, 4> pts{t.first, t.lo, t.hi, t.last};
  std::stable_sort(pts.begin(), pts.end(), [](const Point& a, const Point& b) { return a.ts < b.ts; });
  const auto pid = static_cast<std::int64_t>(k >> 2);
  const auto s = static_cast<Series>(k & 3);
  const Point* prev = nullptr;
  int wrote = 0;
  for (const Point& p : pts) {
    if (prev && p.ts == prev->ts && p.v == prev->v) continue;  // the same sample chosen twice
    prev = &p;
    if (t.written && p.v == t.written_v) continue;
    write_point(pid, s, p);
    t.written = true;
    t.written_v = p.v;
    ++wrote;
  }
  // The bucket: refilled for the time since (up to now: an idle track gets its full bucket
  // back), then charged. Low: the next window is wider; high again: narrower; full: the
  // finest at once.
  now = std::max(now, t.last.ts);
  if (now > t.refilled) {
    const double add = static_cast<double>(now - t.refilled) * opt_.rate / 1e6;
    t.tokens = std::min(opt_.burst, t.tokens + add);
    t.reserve = std::min(opt_.burst, t.reserve + add);
    t.refilled = now;
  }
  t.tokens -= wrote;
  if (t.tokens < opt_.burst / 4)
    t.window = std::min(t.window * 2, opt_.max_window_us);
  else if (t.tokens >= opt_.burst)
    t.window = opt_.min_window_us;
  else if (t.tokens > opt_.burst * 3 / 4)
    t.window = std::max(t.window / 2, opt_.min_window_us);
}

bool TraceWriter::crosses(std::int64_t pid, Series s, const Track& t, std::int64_t value) const {
  if ((s != Series::heap && s != Series::files) || !t.has_cur) return false;
  const auto q = tracks_.find(key(pid, s == Series::heap ? Series::heap_quota : Series::file_quota));
  if (q == tracks_.end() || !q->second.has_cur || q->second.cur < 0) return false;
  const std::int64_t limit = q->second.cur;
  return (t.cur > limit) != (value > limit);
}

void TraceWriter::sample(std::uint64_t ts_us, std::int64_t pid, Series s, std::int64_t value) {
  if (finished_) return;
  const std::uint64_t k = key(pid, s);
  const auto [it, fresh] = tracks_.try_emplace(k);
  Track& t = it->second;
  if (fresh) {
    t.window = opt_.min_window_us;
    t.tokens = t.reserve = opt_.burst;
    t.refilled = ts_us;
  }
  if (t.open && ts_us >= t.start + t.window) close_window(k, t, ts_us);
  // A crossing is written exactly, with the sample before it (the last of the window
  // closed here), while the track's crossing reserve (a bucket of its own, so that the
  // pressure of ordinary samples never uses it up) lasts: a target that flips its own quota
  // endlessly gets the coalescing of any other sample.
  const bool crossing = crosses(pid, s, t, value) && t.reserve >= 1;
  if (crossing) t.reserve -= 2;  // the crossing and the sample before it
  t.has_cur = true;
  t.cur = value;
  if (crossing && t.open) close_window(k, t, ts_us);
  if (!t.open) {
    if (t.written && value == t.written_v) return;  // nothing new
    t.open = true;
    t.start = ts_us;
    t.first = t.lo = t.hi = t.last = Point{ts_us, value};
    if (crossing) close_window(k, t, ts_us);
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
  std::string& out = begin_event(pid);
  out += "{\"ph\":\"i\",\"s\":\"p\",\"name\":";
  out += json_string(name);
  out += ",\"pid\":" + std::to_string(pid) + ",\"tid\":" + std::to_string(pid) +
         ",\"ts\":" + std::to_string(ts_us);
  if (!args_json.empty()) {
    out += ",\"args\":";
    out += args_json;
  }
  out += '}';
}

void TraceWriter::hold(std::int64_t pid) {
  if (finished_) return;
  held_.try_emplace(pid);
}

void TraceWriter::release(std::int64_t pid, bool keep) {
  const auto h = held_.find(pid);
  if (h == held_.end()) return;
  for (const Series s : {Series::heap, Series::files, Series::heap_quota, Series::file_quota}) {
    const auto t = tracks_.find(key(pid, s));
    if (t == tracks_.end()) continue;
    if (keep && t->second.open) close_window(t->first, t->second, 0);
    tracks_.erase(t);
  }
  if (keep) {
    std::string_view text = h->second.text;
    if (first_ && !text.empty()) text.remove_prefix(2);  // its leading ",\n"
    if (!text.empty()) first_ = false;
    out_ += text;
    points_ += h->second.points;
  } else {
    names_.erase(pid);
  }
  held_.erase(h);
}

void TraceWriter::name(std::int64_t pid, std::string_view n) {
  if (finished_) return;
  names_[pid] = std::string(n);
}

void TraceWriter::tick(std::uint64_t now_us) {
  if (finished_) return;
  for (auto& [k, t] : tracks_)
    if (t.open && now_us >= t.start + t.window) close_window(k, t, now_us);
}

void TraceWriter::finish() {
  if (finished_) return;
  // Tracks still held are kept (a recorder decides before this).
  std::vector<std::int64_t> still;
  for (const auto& [pid, h] : held_) still.push_back(pid);
  std::sort(still.begin(), still.end());
  for (const auto pid : still) release(pid, true);
  // In key order, so the file does not depend on the hash table's.
  std::vector<std::uint64_t> keys;
  for (auto& [k, t] : tracks_)
    if (t.open) keys.push_back(k);
  std::sort(keys.begin(), keys.end());
  for (const auto k : keys) close_window(k, tracks_.at(k), 0);
  for (const auto& [pid, n] : names_) {
    begin_event(pid);
    out_ += "{\"ph\":\"M\",\"name\":\"process_name\",\"pid\":" + std::to_string(pid) +
            ",\"args\":{\"name\":" + json_string(n) + "}}";
    begin_event(pid);
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
