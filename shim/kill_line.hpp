// SPDX-License-Identifier: Apache-2.0
// kill_line: the one line a quota kill is reported with, on the stderr of whoever launched
// the target: `sandbox run` (from the supervisor's event) and `sandbox-shim` (from the
// server's `killed` event line). One format for both; no JSON, no Boost.
#pragma once

#include <cstdint>
#include <string>

namespace sandbox {

struct KillReport {
  bool heap = true;         // which quota: heap (bytes) or files (a count)
  std::uint64_t usage = 0;  // with the call that crossed the limit
  std::uint64_t limit = 0;
  int pid = 0;            // node quota: the node; job quota: the process whose call crossed
  int tgid = 0;           // node quota: the node's process
  std::string name;       // the process's name (comm), "" if unknown; control characters are shown as '?'
  std::string container;  // served through --oci-listener: the container id
  // A job quota: the job, its live processes and its total of the other resource.
  std::uint32_t job = 0;
  bool job_quota = false;
  std::uint64_t live = 0;
  std::uint64_t other = 0;  // heap quota: the job's open files; file quota: its heap bytes
  // The heap rule ("kernel", "commit"; "" if unknown) and, under the kernel rule, how much
  // of `usage` were reservations and how much is no longer mapped (docs/memory.md).
  std::string rule;
  std::uint64_t reserved = 0;
  std::uint64_t unmapped = 0;
};

// "PREFIX: killed pid 42 (name) ...: heap quota exceeded: ... > limit ...\n".
std::string kill_line(const char* prefix, const KillReport& r);

}  // namespace sandbox
