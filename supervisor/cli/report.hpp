// report: what a run used -- `sandbox run --summary` (one line) and `--output FILE` (JSON,
// schema in docs/protocol.md, "What a run used"). Pure: values in, text out.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "model/jobs.hpp"

namespace sandbox {

struct RunReport {
  int exit_status = 0;  // the run's own exit status
  JobView job;
  std::vector<ProcessRecord> processes;
  std::uint64_t notifications = 0;
};

// One line, ending in '\n': "sandbox: job 1: peak heap ..., peak files N, P processes, ...".
std::string summary_line(const RunReport& r);
// The JSON document, ending in '\n'. Key names are stable (docs/protocol.md).
std::string report_json(const RunReport& r);

}  // namespace sandbox
