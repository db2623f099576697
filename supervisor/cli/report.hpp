// SPDX-License-Identifier: Apache-2.0
// report: what a run used -- `sandbox run --summary` (one line) and `--output FILE` (JSON,
// schema in docs/jobs.md, "What a run used"). Pure: values in, text out.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "model/jobs.hpp"

namespace sandbox {

// The heap accounting rule a run used, by name (docs/memory.md): this default, the kernel
// patch's, unless `--heap-rule` or the policy chose `commit`.
inline constexpr const char* kDefaultHeapRule = "kernel";

// What was still running in the job when CMD exited, and what became of it.
struct LeftRunning {
  struct Process {
    Pid pid = 0;
    std::string comm;  // the target's to choose: quoted in JSON, never trusted
  };
  std::size_t count = 0;
  std::vector<Process> processes;  // the first kMaxListed of them
  // "none", "killed" (at CMD's exit), "ended" (waited for, all ended), "killed_after_wait"
  // (still running at the --wait-job bound), "killed_on_signal" (the wait was interrupted).
  std::string outcome = "none";
  static constexpr std::size_t kMaxListed = 64;
};

struct RunReport {
  int exit_status = 0;  // the run's own exit status
  std::vector<std::string> argv;
  double wall_seconds = 0;  // from CMD's start to the end of its job's last process
  // CPU time and peak RSS of the job's processes as wait4() reports them when the run reaps
  // them: CMD's and every orphan's, each with its own reaped descendants (as time(1) and
  // getrusage(RUSAGE_CHILDREN) count). Peak RSS is the largest peak of a single process
  // (ru_maxrss), not a sum over processes.
  double user_cpu_seconds = 0, system_cpu_seconds = 0;
  std::uint64_t peak_rss_bytes = 0;
  std::string heap_rule = kDefaultHeapRule;
  JobView job;
  std::vector<ProcessRecord> processes;
  std::uint64_t notifications = 0;
  LeftRunning left;
};

// "pid 12 (sh), pid 13 (sleep)" for the first few, then ", and N more".
std::string process_list(const LeftRunning& l, std::size_t max = 8);

// One line, ending in '\n': "sandbox: job 1: peak heap ..., peak files N, P processes, ...".
std::string summary_line(const RunReport& r);
// The JSON document, ending in '\n'. Key names are stable (docs/protocol.md).
std::string report_json(const RunReport& r);

}  // namespace sandbox
