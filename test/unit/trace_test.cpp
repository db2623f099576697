// SPDX-License-Identifier: Apache-2.0
// The trace writer: valid Chrome trace-event JSON, coalescing that keeps extremes and the
// last value, bounded output, hostile names escaped.
#include "observe/trace.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <nlohmann/json.hpp>

using sandbox::observe::kJobTrackBase;
using sandbox::observe::Series;
using sandbox::observe::TraceWriter;
using json = nlohmann::json;

namespace {

json finish(TraceWriter& w, std::string prefix = {}) {
  w.finish();
  const std::string text = prefix + w.take();
  json j = json::parse(text, nullptr, false);
  REQUIRE_MESSAGE(!j.is_discarded(), text);
  return j;
}

// The (ts, value) points written for one counter track.
std::vector<std::pair<std::uint64_t, std::int64_t>> points(const json& doc, std::int64_t pid,
                                                           const std::string& name) {
  std::vector<std::pair<std::uint64_t, std::int64_t>> out;
  for (const auto& e : doc["traceEvents"]) {
    if (e["ph"] != "C" || e["pid"] != pid || e["name"] != name) continue;
    const auto& args = e["args"];
    REQUIRE(args.size() == 1);
    out.emplace_back(e["ts"].get<std::uint64_t>(), args.begin()->get<std::int64_t>());
  }
  return out;
}

}  // namespace

TEST_CASE("trace: an empty trace is a valid document") {
  TraceWriter w;
  const json j = finish(w);
  CHECK(j["traceEvents"].is_array());
  CHECK(j["traceEvents"].empty());
  CHECK(j["displayTimeUnit"] == "ms");
}

TEST_CASE("trace: counters, instants and names have the trace-event shape") {
  TraceWriter w;
  w.sample(10, 42, Series::heap, 4096);
  w.sample(10, 42, Series::files, 3);
  w.sample(10, 42, Series::heap_quota, 1 << 20);
  w.instant(20, 42, "kill", R"({"resource":"heap","usage":8192,"limit":4096})");
  w.name(42, "leaky (42)");
  w.name(kJobTrackBase + 1, "job 1");
  const json j = finish(w);
  CHECK(points(j, 42, "heap") == std::vector<std::pair<std::uint64_t, std::int64_t>>{{10, 4096}});
  CHECK(points(j, 42, "files") == std::vector<std::pair<std::uint64_t, std::int64_t>>{{10, 3}});
  CHECK(points(j, 42, "heap quota") == std::vector<std::pair<std::uint64_t, std::int64_t>>{{10, 1 << 20}});
  int instants = 0, names = 0, sorts = 0;
  for (const auto& e : j["traceEvents"]) {
    if (e["ph"] == "C") {
      CHECK(e.contains("tid"));
      CHECK((e["args"].contains("bytes") || e["args"].contains("count")));
    }
    if (e["ph"] == "i") {
      ++instants;
      CHECK(e["name"] == "kill");
      CHECK(e["s"] == "p");
      CHECK(e["ts"] == 20);
      CHECK(e["args"]["usage"] == 8192);
    }
    if (e["ph"] == "M" && e["name"] == "process_name") {
      ++names;
      if (e["pid"] == 42) CHECK(e["args"]["name"] == "leaky (42)");
    }
    if (e["ph"] == "M" && e["name"] == "process_sort_index") {
      ++sorts;
      // The job sorts before the process.
      if (e["pid"] == kJobTrackBase + 1) CHECK(e["args"]["sort_index"].get<std::int64_t>() < 42);
    }
  }
  CHECK(instants == 1);
  CHECK(names == 2);
  CHECK(sorts == 2);
}

namespace {
using Points = std::vector<std::pair<std::uint64_t, std::int64_t>>;
TraceWriter::Options window(std::uint64_t us) {
  TraceWriter::Options o;
  o.min_window_us = o.max_window_us = us;
  return o;
}
}  // namespace

TEST_CASE("trace: a window keeps its first, smallest, largest and last value, in time order") {
  TraceWriter w(window(1000));
  // One window [0, 1000): 5 at 0, up to 9 at 300, down to 1 at 600, 4 at 900.
  for (auto [ts, v] : Points{{0, 5}, {100, 6}, {300, 9}, {400, 7}, {600, 1}, {700, 2}, {900, 4}})
    w.sample(ts, 7, Series::files, v);
  // The next window begins at 1500.
  w.sample(1500, 7, Series::files, 3);
  const json j = finish(w);
  CHECK(points(j, 7, "files") == Points{{0, 5}, {300, 9}, {600, 1}, {900, 4}, {1500, 3}});
}

TEST_CASE("trace: a peak inside a window is exact, and the last value is never lost") {
  TraceWriter w(window(1000));
  w.sample(0, 1, Series::heap, 0);
  w.sample(10, 1, Series::heap, 1 << 30);  // the peak
  w.sample(20, 1, Series::heap, 4096);     // and back (a quota track could do this)
  const json j = finish(w);
  const auto p = points(j, 1, "heap");
  REQUIRE(p.size() == 3);
  CHECK(p[1] == std::pair<std::uint64_t, std::int64_t>{10, 1 << 30});
  CHECK(p.back() == std::pair<std::uint64_t, std::int64_t>{20, 4096});
}

TEST_CASE("trace: an unchanged value writes nothing") {
  TraceWriter w;
  for (std::uint64_t ts = 0; ts < 100'000; ts += 50) w.sample(ts, 3, Series::files, 2);
  const json j = finish(w);
  CHECK(points(j, 3, "files").size() == 1);
}

TEST_CASE("trace: a steady leak keeps its shape: every change, not stairs") {
  // The issue's case: 1 MiB every 20 ms for 3 s. Every step is written, at its own time (with
  // 300 ms windows of min/max/last this was 2 points a window: 15 MiB stairs).
  TraceWriter w;
  Points want;
  for (std::uint64_t i = 0; i <= 150; ++i) {
    const auto v = static_cast<std::int64_t>(i) << 20;
    w.sample(i * 20'000, 4, Series::heap, v);
    want.emplace_back(i * 20'000, v);
    if (i % 5 == 0) w.tick(i * 20'000);
  }
  const json j = finish(w);
  CHECK(points(j, 4, "heap") == want);
}

TEST_CASE("trace: a short burst is kept whole (a program's start: hundreds of mmaps in 50 ms)") {
  TraceWriter w;
  Points want;
  for (std::uint64_t i = 0; i < 400; ++i) {  // one change every 125 us for 50 ms
    const auto v = static_cast<std::int64_t>(i * 4096 + (i % 3) * 65536);
    w.sample(i * 125, 6, Series::heap, v);
  }
  const json j = finish(w);
  const auto p = points(j, 6, "heap");
  // Windows of 1 ms hold 8 samples and write at most 4: the first, extremes and last.
  CHECK(p.size() >= 400 / 4);
  CHECK(p.front() == std::pair<std::uint64_t, std::int64_t>{0, 0});
  CHECK(p.back().second == static_cast<std::int64_t>(399 * 4096 + 0));
}

TEST_CASE("trace: a busy track is bounded by its rate, and still keeps its extremes") {
  // 1 000 000 samples over 10 s of trace time, a new value each: at most burst + rate x 10 s
  // points (and a few windows' worth while the window widens).
  TraceWriter::Options o;
  TraceWriter w(o);
  for (std::uint64_t i = 0; i < 1'000'000; ++i) {
    w.sample(i * 10, 5, Series::files, static_cast<std::int64_t>(i % 1000));
    if (i % 5'000 == 0) w.tick(i * 10);
  }
  const json j = finish(w);
  const auto p = points(j, 5, "files");
  CHECK(static_cast<double>(p.size()) <= o.burst + o.rate * 10 + 64);
  CHECK(p.size() >= 10'000'000 / o.max_window_us);
  // Every window's maximum is written: 999 occurs in each (each is 10 ms or wider).
  std::size_t peaks = 0;
  for (const auto& [ts, v] : p) peaks += v == 999;
  CHECK(peaks >= 10'000'000 / o.max_window_us);
  CHECK(p.back().second == 999'999 % 1000);
  // The pressure ends: the window narrows again and a slow track writes every change.
  TraceWriter w2(o);
  for (std::uint64_t i = 0; i < 200'000; ++i)
    w2.sample(i * 10, 5, Series::files, static_cast<std::int64_t>(i % 7));
  Points slow;
  for (std::uint64_t i = 0; i < 50; ++i) {
    const std::uint64_t ts = 2'000'000 + 30'000'000 + i * 100'000;  // after the bucket refilled
    w2.sample(ts, 5, Series::files, static_cast<std::int64_t>(100 + i));
    slow.emplace_back(ts, 100 + i);
  }
  const auto q = points(finish(w2), 5, "files");
  REQUIRE(q.size() >= slow.size());
  CHECK(Points(q.end() - static_cast<std::ptrdiff_t>(slow.size()), q.end()) == slow);
}

TEST_CASE("trace: a quota crossing is written exactly, with the sample before it, even under pressure") {
  TraceWriter::Options o;
  o.burst = 8;
  o.rate = 1;
  o.max_window_us = 1'000'000;
  TraceWriter w(o);
  w.sample(0, 3, Series::heap_quota, 1000);
  // Pressure: a value changing every 10 us for 1 s exhausts the bucket, the window widens.
  std::uint64_t ts = 0;
  for (; ts < 1'000'000; ts += 10) w.sample(ts, 3, Series::heap, static_cast<std::int64_t>(ts % 500));
  // Up to 900 and over 1000: the sample before the crossing and the crossing itself.
  w.sample(ts, 3, Series::heap, 900);
  w.sample(ts + 7, 3, Series::heap, 1500);
  w.sample(ts + 9, 3, Series::heap, 700);  // and back under: a crossing too
  w.sample(ts + 11, 3, Series::heap, 800);
  const auto p = points(finish(w), 3, "heap");
  const auto has = [&](std::uint64_t t, std::int64_t v) {
    return std::find(p.begin(), p.end(), std::pair<std::uint64_t, std::int64_t>{t, v}) != p.end();
  };
  CHECK(has(ts, 900));
  CHECK(has(ts + 7, 1500));
  CHECK(has(ts + 9, 700));
  CHECK(p.back() == std::pair<std::uint64_t, std::int64_t>{ts + 11, 800});
  CHECK(p.size() < 200);  // the pressure itself stayed coalesced
}

TEST_CASE("trace: a held track is written when kept and vanishes, name and all, when dropped") {
  TraceWriter w;
  w.hold(10);
  w.hold(11);
  CHECK(w.held(10));
  w.name(10, "kept (10)");
  w.name(11, "dropped (11)");
  w.sample(0, 10, Series::heap, 4096);
  w.sample(0, 11, Series::heap, 8192);
  w.instant(5, 11, "exit");
  w.sample(0, 12, Series::heap, 1);  // not held
  w.release(11, false);
  w.release(10, true);
  CHECK(!w.held(10));
  const json j = finish(w);
  CHECK(points(j, 10, "heap") == Points{{0, 4096}});
  CHECK(points(j, 11, "heap").empty());
  CHECK(points(j, 12, "heap") == Points{{0, 1}});
  for (const auto& e : j["traceEvents"]) CHECK(e["pid"] != 11);
  CHECK(w.points() == 2);
}

TEST_CASE("trace: one_line and command_label make one line of a script, cut with ...") {
  using sandbox::observe::command_label;
  using sandbox::observe::one_line;
  CHECK(command_label({"sh", "-c", "for i in 1 2; do\n  echo $i\ndone\n"}) ==
        "sh -c for i in 1 2; do echo $i done");
  CHECK(one_line("a\tb\r\n\x01"
                 "c  ") == "a b c");
  const std::string long_line = command_label({"python3", "-c", std::string(200, 'x')}, 40);
  CHECK(long_line.size() == 40);
  CHECK(long_line.ends_with("..."));
  // Never inside a UTF-8 sequence: "é" is two bytes.
  const std::string accents = one_line(std::string(20, 'a') + "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9", 24);
  CHECK(accents == std::string(20, 'a') + "...");
}

TEST_CASE("trace: tick closes ended windows; take() hands the text out in pieces") {
  TraceWriter w(window(1000));
  std::string text = w.take();  // the header
  w.sample(0, 9, Series::heap, 4096);
  w.tick(500);  // the window is still open
  CHECK(w.points() == 0);
  w.tick(1000);
  CHECK(w.points() == 1);
  text += w.take();
  CHECK(w.buffered() == 0);
  w.sample(2000, 9, Series::heap, 8192);
  const json j = finish(w, text);
  CHECK(points(j, 9, "heap").size() == 2);
  CHECK(w.finished());
}

TEST_CASE("trace: a hostile process name stays valid JSON and keeps its bytes") {
  TraceWriter w;
  const std::string evil = std::string("a\"b\\c\n\x01\xff}]", 11);
  w.name(5, evil);
  w.instant(1, 5, evil);
  const json j = finish(w);
  bool seen = false;
  for (const auto& e : j["traceEvents"])
    if (e["ph"] == "M" && e["name"] == "process_name") {
      seen = true;
      const std::string got = e["args"]["name"];
      CHECK(got.substr(0, 6) == "a\"b\\c\n");
      CHECK(got.find("\xc3\xbf") != std::string::npos);  // 0xff read as Latin-1, written as UTF-8
    }
  CHECK(seen);
}

TEST_CASE("trace: nothing is added after finish") {
  TraceWriter w;
  w.finish();
  const std::string text = w.take();
  w.sample(1, 1, Series::heap, 1);
  w.instant(1, 1, "exit");
  w.finish();
  CHECK(w.take().empty());
  CHECK(!json::parse(text, nullptr, false).is_discarded());
}
