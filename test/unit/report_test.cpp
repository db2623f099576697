// SPDX-License-Identifier: Apache-2.0
// Unit tests for what a run reports (supervisor/cli/report.*): the --summary line and the -o
// document, with what was left running when CMD exited.
#include "cli/report.hpp"

#include <doctest/doctest.h>

#include <nlohmann/json.hpp>
#include <string>

using namespace sandbox;

TEST_CASE("report: argv, times, peak RSS, the heap rule and what was left running, in -o and --summary") {
  RunReport r;
  r.exit_status = 3;
  r.argv = {"/bin/sh", "-c", "x \xff"};  // not UTF-8: replaced, never fatal
  r.wall_seconds = 1.5;
  r.user_cpu_seconds = 0.25;
  r.system_cpu_seconds = 0.125;
  r.peak_rss_bytes = 4096;
  r.job.id = 1;
  const nlohmann::json none = nlohmann::json::parse(report_json(r));
  CHECK(none["left_running"] == nlohmann::json::parse(R"({"count":0,"processes":[],"outcome":"none"})"));
  CHECK(none["heap_rule"] == "kernel");
  CHECK(none["argv"].size() == 3);
  CHECK(none["wall_seconds"] == 1.5);
  CHECK(none["user_cpu_seconds"] == 0.25);
  CHECK(none["system_cpu_seconds"] == 0.125);
  CHECK(none["peak_rss_bytes"] == 4096);
  CHECK(summary_line(r).find("left running") == std::string::npos);

  r.left.count = 12;
  for (int i = 0; i < 10; ++i) r.left.processes.push_back({100 + i, "sleep"});
  r.left.outcome = "killed_after_wait";
  const nlohmann::json some = nlohmann::json::parse(report_json(r));
  CHECK(some["left_running"]["count"] == 12);
  CHECK(some["left_running"]["processes"].size() == 10);
  CHECK(some["left_running"]["processes"][0] == nlohmann::json::parse(R"({"pid":100,"comm":"sleep"})"));
  CHECK(some["left_running"]["outcome"] == "killed_after_wait");
  const std::string line = summary_line(r);
  CHECK(
      line.find(
          ", 12 processes left running when CMD exited (killed at the --wait-job bound), exit status 3\n") !=
      std::string::npos);
  CHECK(process_list(r.left, 2) == "pid 100 (sleep), pid 101 (sleep), and 10 more");
}
