// The trace writer: valid Chrome trace-event JSON, coalescing that keeps extremes and the
// last value, bounded output, hostile names escaped.
#include "observe/trace.hpp"

#include <doctest/doctest.h>

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

TEST_CASE("trace: a window keeps its smallest, largest and last value, in time order") {
  TraceWriter w(TraceWriter::Options{1000});
  // One window [0, 1000): 5 at 0, up to 9 at 300, down to 1 at 600, 4 at 900.
  for (auto [ts, v] : std::vector<std::pair<std::uint64_t, std::int64_t>>{
           {0, 5}, {100, 6}, {300, 9}, {400, 7}, {600, 1}, {700, 2}, {900, 4}})
    w.sample(ts, 7, Series::files, v);
  // The next window begins at 1500.
  w.sample(1500, 7, Series::files, 3);
  const json j = finish(w);
  const std::vector<std::pair<std::uint64_t, std::int64_t>> want{{300, 9}, {600, 1}, {900, 4}, {1500, 3}};
  CHECK(points(j, 7, "files") == want);
}

TEST_CASE("trace: a peak inside a window is exact, and the last value is never lost") {
  TraceWriter w(TraceWriter::Options{1000});
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
  TraceWriter w(TraceWriter::Options{100});
  for (std::uint64_t ts = 0; ts < 100'000; ts += 50) w.sample(ts, 3, Series::files, 2);
  const json j = finish(w);
  CHECK(points(j, 3, "files").size() == 1);
}

TEST_CASE("trace: a busy track is bounded to three points per window") {
  // 1 000 000 samples over 10 s of trace time, a new value each: with a 300 ms window, at
  // most 3 points per window, so at most about 100 points.
  TraceWriter w;
  for (std::uint64_t i = 0; i < 1'000'000; ++i) {
    w.sample(i * 10, 5, Series::files, static_cast<std::int64_t>(i % 1000));
    if (i % 50'000 == 0) w.tick(i * 10);
  }
  const json j = finish(w);
  const auto p = points(j, 5, "files");
  CHECK(p.size() <= 3 * (10'000'000 / 300'000 + 1));
  CHECK(p.size() >= 10'000'000 / 300'000);
  // Every window's maximum is written: 999 occurs in each window.
  std::size_t peaks = 0;
  for (const auto& [ts, v] : p) peaks += v == 999;
  CHECK(peaks >= 10'000'000 / 300'000);
  CHECK(p.back().second == 999'999 % 1000);
}

TEST_CASE("trace: tick closes ended windows; take() hands the text out in pieces") {
  TraceWriter w(TraceWriter::Options{1000});
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
