// SPDX-License-Identifier: Apache-2.0
// The plot: a self-contained SVG (no script, no links) with the job and the top processes,
// quotas dashed, kills marked; rsvg-convert renders it; bad traces get a one-line error.
#include "observe/plot.hpp"

#include <doctest/doctest.h>
#include <stdio.h>
#include <sys/wait.h>
#include <unistd.h>

#include <string>

#include "observe/trace.hpp"

using namespace sandbox::observe;

namespace {

std::size_t count(const std::string& s, const std::string& what) {
  std::size_t n = 0;
  for (std::size_t p = s.find(what); p != std::string::npos; p = s.find(what, p + 1)) ++n;
  return n;
}

std::string sample_trace(int processes) {
  TraceWriter w;
  const std::int64_t job = kJobTrackBase + 1;
  w.name(job, "job 1: make");
  w.sample(0, job, Series::heap_quota, 64 << 20);
  w.sample(0, job, Series::file_quota, 16);
  for (int p = 0; p < processes; ++p) {
    const std::int64_t pid = 1000 + p;
    w.name(pid, "worker-" + std::to_string(p) + " (" + std::to_string(pid) + ")");
    for (int i = 0; i < 20; ++i) {
      const std::uint64_t ts = static_cast<std::uint64_t>(i) * 400'000 + static_cast<std::uint64_t>(p) * 1000;
      w.sample(ts, pid, Series::heap, static_cast<std::int64_t>(i + 1) * (p + 1) << 20);
      w.sample(ts, pid, Series::files, i % 5);
      w.sample(ts, job, Series::heap, static_cast<std::int64_t>(i + 1) << 22);
      w.sample(ts, job, Series::files, i % 7);
    }
  }
  w.instant(8'000'000, 1000, "kill", R"({"resource":"heap","usage":20971520,"limit":16777216})");
  w.instant(8'000'100, 1000, "exit");
  w.finish();
  return w.take();
}

// rsvg-convert's exit status and messages for an SVG.
std::pair<int, std::string> render(const std::string& svg) {
  char in[] = "/tmp/sandbox-plot-XXXXXX";
  const int fd = ::mkstemp(in);
  REQUIRE(fd >= 0);
  REQUIRE(::write(fd, svg.data(), svg.size()) == static_cast<ssize_t>(svg.size()));
  ::close(fd);
  const std::string png = std::string(in) + ".png";
  FILE* p = ::popen(("rsvg-convert -o " + png + " " + in + " 2>&1").c_str(), "r");
  REQUIRE(p != nullptr);
  std::string out;
  char buf[1024];
  while (const std::size_t n = std::fread(buf, 1, sizeof buf, p)) out.append(buf, n);
  const int st = ::pclose(p);
  const bool made = ::access(png.c_str(), F_OK) == 0;
  ::unlink(in);
  ::unlink(png.c_str());
  if (!made) out += "(no PNG written)";
  return {WIFEXITED(st) ? WEXITSTATUS(st) : -1, out};
}

}  // namespace

TEST_CASE("plot: the job and the top processes, quotas dashed, the kill marked") {
  const std::string svg = plot_svg(sample_trace(8));
  CHECK(svg.rfind("<?xml", 0) == 0);
  CHECK(svg.find("</svg>") != std::string::npos);
  // Self-contained: nothing to run, nothing to fetch.
  CHECK(svg.find("<script") == std::string::npos);
  CHECK(svg.find("href") == std::string::npos);
  CHECK(svg.find("url(") == std::string::npos);
  CHECK(svg.find("@import") == std::string::npos);
  // The job plus the top 5 of 8 processes: 6 usage lines in each of the 2 panels.
  CHECK(count(svg, "class=\"usage\"") == 12);
  CHECK(svg.find("job 1: make") != std::string::npos);
  CHECK(svg.find("worker-7 (1007)") != std::string::npos);  // the biggest
  CHECK(svg.find("worker-1 (1001)") == std::string::npos);  // not in the top 5
  // The job's two quotas, one per panel.
  CHECK(count(svg, "class=\"quota\"") == 2);
  CHECK(count(svg, "stroke-dasharray") == 2);
  // The kill, in both panels, with its label (the process need not be drawn), and a dot at
  // the usage the crossing call would have reached, in the heap panel only.
  CHECK(count(svg, "class=\"kill\"") == 2);
  CHECK(count(svg, "class=\"kill-point\"") == 1);
  CHECK(svg.find("killed: worker-0 (1000) crossed its heap quota: 20.0 MiB &gt; 16.0 MiB") !=
        std::string::npos);
  // Axes with units.
  CHECK(svg.find(">time (s)<") != std::string::npos);
  CHECK(svg.find(">heap (MiB)<") != std::string::npos);
  CHECK(svg.find(">open files<") != std::string::npos);
}

TEST_CASE("plot: rsvg-convert renders it without errors") {
  const auto [rc, out] = render(plot_svg(sample_trace(3)));
  INFO(out);
  CHECK(rc == 0);
  CHECK(out.empty());
}

TEST_CASE("plot: a trace with no usage still makes a valid, renderable picture") {
  TraceWriter w;
  w.finish();
  const std::string svg = plot_svg(w.take());
  CHECK(svg.find("no usage recorded") != std::string::npos);
  CHECK(render(svg).first == 0);
}

TEST_CASE("plot: hostile names are escaped") {
  TraceWriter w;
  w.name(5, "<script>alert(1)</script>&\x01");
  w.sample(0, 5, Series::heap, 4096);
  w.finish();
  const std::string svg = plot_svg(w.take());
  CHECK(svg.find("<script") == std::string::npos);
  CHECK(svg.find("&lt;script&gt;alert(1)&lt;/script&gt;&amp;") != std::string::npos);
  CHECK(render(svg).first == 0);
}

namespace {

// The y coordinate of the first polyline of class `cls` in the panel of `series`, and the
// top of that panel's frame.
std::pair<double, double> first_y(const std::string& svg, const std::string& series, const std::string& cls) {
  const std::size_t g = svg.find("data-series=\"" + series + "\"");
  REQUIRE(g != std::string::npos);
  const std::size_t rect = svg.find("<rect", g);
  const double top = std::stod(svg.substr(svg.find(" y=\"", rect) + 4));
  const std::size_t line = svg.find("class=\"" + cls + "\"", g);
  REQUIRE(line != std::string::npos);
  const std::size_t pts = svg.find("points=\"", line) + 8;
  const std::size_t comma = svg.find(',', pts);
  return {std::stod(svg.substr(comma + 1)), top};
}

}  // namespace

TEST_CASE("plot: a quota equal to the largest value is drawn inside the frame, not on it") {
  // The job sits exactly at its quota: the axis has headroom above it.
  TraceWriter w;
  const std::int64_t job = kJobTrackBase + 1;
  w.sample(0, job, Series::heap_quota, 100 << 20);
  w.sample(0, job, Series::file_quota, 10);
  w.sample(0, job, Series::heap, 0);
  w.sample(500'000, job, Series::heap, 100 << 20);
  w.sample(500'000, job, Series::files, 10);
  w.finish();
  const std::string svg = plot_svg(w.take());
  for (const char* series : {"heap", "files"}) {
    const auto [y, top] = first_y(svg, series, "quota");
    INFO(series);
    CHECK(y > top + 4);  // at least 4 px below the frame's top edge
  }
}

TEST_CASE("plot: labels are one line: a multi-line script's newlines are spaces") {
  TraceWriter w;
  w.name(kJobTrackBase + 1, "run sh -c for i in 1 2\ndo\n  echo $i\ndone");
  w.sample(0, kJobTrackBase + 1, Series::heap, 4096);
  w.finish();
  const std::string svg = plot_svg(w.take());
  CHECK(svg.find("run sh -c for i in 1 2 do echo $i done") != std::string::npos);
  CHECK(svg.find("2do") == std::string::npos);
}

TEST_CASE("plot: a kill names the process that crossed and the quota, at the crossing value") {
  TraceWriter w;
  const std::int64_t job = kJobTrackBase + 1;
  w.name(job, "run ./hog.sh");
  w.sample(0, job, Series::heap_quota, 100 << 20);
  w.sample(0, job, Series::heap, 0);
  w.sample(400'000, job, Series::heap, 70 << 20);
  w.instant(500'000, job, "kill",
            R"({"resource":"heap","job":1,"pid":9551,"usage":125075456,"limit":104857600,"comm":"python3"})");
  w.finish();
  const std::string svg = plot_svg(w.take());
  CHECK(svg.find("killed: pid 9551 (python3) crossed the job&apos;s heap quota: 119.3 MiB &gt; 100.0 MiB") !=
        std::string::npos);
  // The dot is above the quota line (a smaller y), on the kill's line.
  const std::size_t dot = svg.find("class=\"kill-point\"");
  REQUIRE(dot != std::string::npos);
  const double cy = std::stod(svg.substr(svg.find("cy=\"", dot) + 4));
  const auto [quota_y, top] = first_y(svg, "heap", "quota");
  CHECK(cy < quota_y - 10);
  CHECK(cy > top);
  CHECK(render(svg).first == 0);
}

TEST_CASE("plot: bad input gets one line naming what was wrong") {
  CHECK_THROWS_WITH_AS(plot_svg("not json"), doctest::Contains("not a JSON document"), PlotError);
  CHECK_THROWS_WITH_AS(plot_svg("{\"x\":1}"), doctest::Contains("no \"traceEvents\" array"), PlotError);
  CHECK_THROWS_WITH_AS(plot_svg(R"({"traceEvents":[{"ph":"C","name":"heap","ts":1}]})"),
                       doctest::Contains("\"pid\""), PlotError);
  // Numbers a double cannot hold exactly, or whose difference would overflow: refused.
  CHECK_THROWS_WITH_AS(
      plot_svg(R"({"traceEvents":[{"ph":"C","name":"heap","pid":1,"ts":1e300,"args":{"bytes":1}}]})"),
      doctest::Contains("out of range"), PlotError);
  CHECK_THROWS_WITH_AS(
      plot_svg(R"({"traceEvents":[{"ph":"i","name":"exit","pid":1,"ts":-9223372036854775808},)"
               R"({"ph":"i","name":"exit","pid":1,"ts":9223372036854775807}]})"),
      doctest::Contains("out of range"), PlotError);
}
