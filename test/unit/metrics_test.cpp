// SPDX-License-Identifier: Apache-2.0
// The metrics text: every family named, typed and helped; counters end in _total; OpenMetrics
// ends with # EOF; hostile label values escaped; both formats accepted by the reference
// parsers (promtool for the Prometheus text, prometheus_client's strict OpenMetrics parser).
#include "observe/metrics.hpp"

#include <doctest/doctest.h>
#include <stdio.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <sstream>

#include "base/proc.hpp"

using sandbox::observe::format_metrics;
using sandbox::observe::MetricsFormat;
using sandbox::observe::MetricsSnapshot;

namespace {

MetricsSnapshot sample_snapshot() {
  MetricsSnapshot s;
  s.version = "0.1.0";
  MetricsSnapshot::Node a;
  a.pid = a.tgid = 100;
  a.uid = 1000;
  a.comm = "leaky";
  a.job = "build-7";
  a.heap_bytes = 1 << 20;
  a.open_files = 3;
  a.heap_quota_bytes = 64 << 20;
  MetricsSnapshot::Node b;
  b.pid = 101;
  b.tgid = 100;
  b.comm = std::string("ev\"il\\\n\x01\xff name", 14);  // a target picks its own comm
  b.open_files = 1;
  b.file_quota = 8;
  s.nodes = {a, b};
  MetricsSnapshot::Job j;
  j.job = "build-7";
  j.root = 100;
  j.comm = "leaky";
  j.uid = 1000;
  j.processes = 1;
  j.counting = true;
  j.heap_bytes = 1 << 20;
  j.open_files = 4;
  s.jobs = {j};
  s.notifications = {{"openat", 12}, {"close", 10}, {"brk", 4}};
  s.kills = {{"heap", 1}, {"files", 0}};
  s.errors = {{"unattributed", 0}};
  s.listeners = 1;
  s.supervisor_fds = 9;
  s.supervisor_threads = 3;
  return s;
}

// Runs `cmd` with `input` on its stdin; returns its exit status and what it printed.
std::pair<int, std::string> pipe_through(const std::string& cmd, const std::string& input) {
  char path[] = "/tmp/sandbox-metrics-XXXXXX";
  const int fd = ::mkstemp(path);
  REQUIRE(fd >= 0);
  REQUIRE(::write(fd, input.data(), input.size()) == static_cast<ssize_t>(input.size()));
  ::close(fd);
  FILE* p = ::popen((cmd + " < " + path + " 2>&1").c_str(), "r");
  REQUIRE(p != nullptr);
  std::string out;
  char buf[4096];
  while (const std::size_t n = std::fread(buf, 1, sizeof buf, p)) out.append(buf, n);
  const int st = ::pclose(p);
  ::unlink(path);
  return {WIFEXITED(st) ? WEXITSTATUS(st) : -1, out};
}

}  // namespace

TEST_CASE("metrics: OpenMetrics text names, types and ends correctly") {
  const std::string t = format_metrics(sample_snapshot(), MetricsFormat::openmetrics);
  CHECK(t.size() > 6);
  CHECK(t.substr(t.size() - 6) == "# EOF\n");
  CHECK(t.find("# TYPE sandbox_notifications counter\n") != std::string::npos);
  CHECK(t.find("sandbox_notifications_total{syscall=\"openat\"} 12\n") != std::string::npos);
  CHECK(t.find("sandbox_kills_total{resource=\"heap\"} 1\n") != std::string::npos);
  CHECK(t.find("# TYPE sandbox_build info\n") != std::string::npos);
  CHECK(t.find("sandbox_build_info{version=\"0.1.0\"} 1\n") != std::string::npos);
  CHECK(t.find("# UNIT sandbox_node_heap_bytes bytes\n") != std::string::npos);
  CHECK(
      t.find("sandbox_node_heap_bytes{pid=\"100\",tgid=\"100\",comm=\"leaky\",uid=\"1000\",job=\"build-7\"} "
             "1048576\n") != std::string::npos);
  CHECK(t.find("sandbox_node_heap_quota_bytes{pid=\"100\"") != std::string::npos);
  // No quota: no sample (absent means unlimited).
  CHECK(t.find("sandbox_node_heap_quota_bytes{pid=\"101\"") == std::string::npos);
  CHECK(t.find("sandbox_node_file_quota{pid=\"101\"") != std::string::npos);
  CHECK(t.find("sandbox_job_open_files{job=\"build-7\",root=\"100\",comm=\"leaky\",uid=\"1000\"} 4\n") !=
        std::string::npos);
  CHECK(t.find("sandbox_supervisor_open_fds 9\n") != std::string::npos);
  CHECK(t.find("sandbox_supervisor_threads 3\n") != std::string::npos);
}

TEST_CASE("metrics: a container's job and its nodes carry the container id") {
  MetricsSnapshot s = sample_snapshot();
  s.nodes[0].container = "web-1";
  s.jobs[0].container = "web-1";
  for (const MetricsFormat f : {MetricsFormat::prometheus, MetricsFormat::openmetrics}) {
    const std::string t = format_metrics(s, f);
    CHECK(t.find("sandbox_job_open_files{job=\"build-7\",root=\"100\",comm=\"leaky\",uid=\"1000\","
                 "container=\"web-1\"} 4\n") != std::string::npos);
    CHECK(
        t.find("sandbox_node_heap_bytes{pid=\"100\",tgid=\"100\",comm=\"leaky\",uid=\"1000\",job=\"build-7\","
               "container=\"web-1\"} 1048576\n") != std::string::npos);
    // Not in a container: no label.
    CHECK(t.find("sandbox_node_open_files{pid=\"101\",tgid=\"100\"") != std::string::npos);
    CHECK(t.find("container=\"\"") == std::string::npos);
  }
}

TEST_CASE("metrics: a hostile comm is escaped, one sample per line") {
  const std::string t = format_metrics(sample_snapshot(), MetricsFormat::openmetrics);
  CHECK(t.find("comm=\"ev\\\"il\\\\\\n?? name\"") != std::string::npos);
  std::istringstream in(t);
  std::string line;
  while (std::getline(in, line)) CHECK((line.rfind("sandbox_", 0) == 0 || line.rfind("# ", 0) == 0));
}

TEST_CASE("metrics: label values keep valid UTF-8 and replace the rest") {
  using sandbox::observe::label_value;
  CHECK(label_value("caf\xc3\xa9") == "caf\xc3\xa9");
  CHECK(label_value("\xc3") == "?");            // truncated sequence
  CHECK(label_value("\xe2\x28\xa1") == "?(?");  // bad continuation
  CHECK(label_value("\xc0\xaf") == "??");       // overlong
}

TEST_CASE("metrics: the Prometheus text format names counters with _total and has no EOF") {
  const std::string t = format_metrics(sample_snapshot(), MetricsFormat::prometheus);
  CHECK(t.find("# TYPE sandbox_notifications_total counter\n") != std::string::npos);
  CHECK(t.find("# TYPE sandbox_build_info gauge\n") != std::string::npos);
  CHECK(t.find("# EOF") == std::string::npos);
  CHECK(t.find("# UNIT") == std::string::npos);
}

TEST_CASE("metrics: content negotiation") {
  using sandbox::observe::negotiate;
  CHECK(negotiate("application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5") ==
        MetricsFormat::openmetrics);
  CHECK(negotiate("text/plain") == MetricsFormat::prometheus);
  CHECK(negotiate("") == MetricsFormat::prometheus);
}

TEST_CASE("metrics: promtool check metrics accepts the Prometheus text") {
  const auto [rc, out] =
      pipe_through("promtool check metrics", format_metrics(sample_snapshot(), MetricsFormat::prometheus));
  INFO(out);
  CHECK(rc == 0);
  CHECK(out.empty());  // no lint complaints either
}

TEST_CASE("metrics: promtool accepts an empty supervisor's text too") {
  MetricsSnapshot empty;
  const auto [rc, out] =
      pipe_through("promtool check metrics", format_metrics(empty, MetricsFormat::prometheus));
  INFO(out);
  CHECK(rc == 0);
}

TEST_CASE("metrics: the strict OpenMetrics parser accepts the OpenMetrics text") {
  const char* script =
      "/usr/bin/python3 -c 'import sys\n"
      "from prometheus_client.openmetrics.parser import text_string_to_metric_families as p\n"
      "fams = list(p(sys.stdin.read()))\n"
      "print(len(fams), sum(len(f.samples) for f in fams))'";
  const auto [rc, out] = pipe_through(script, format_metrics(sample_snapshot(), MetricsFormat::openmetrics));
  INFO(out);
  REQUIRE(rc == 0);
  // 17 families; samples: build 1, nodes 1, heap 2, files 2, heap quota 1, file quota 1, job 3 (no job
  // quotas),
  // notifications 3, kills 2, errors 1, listeners/fds/threads 3.
  CHECK(out == "17 20\n");
}

TEST_CASE("metrics: the supervisor counts its own descriptors and threads") {
  const auto before = sandbox::proc::count_open_fds();
  const int fd = ::dup(0);
  CHECK(sandbox::proc::count_open_fds() == before + 1);
  ::close(fd);
  CHECK(sandbox::proc::count_threads() >= 1);
}
