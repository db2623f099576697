// SPDX-License-Identifier: Apache-2.0
// exit_status: the exit statuses of every program of the project -- sandbox run, serve, ctl,
// plot, oci-profile and sandbox-shim -- the same number for the same failure (docs/cli.md).
#pragma once

#include <sys/wait.h>

namespace sandbox::exit_status {

inline constexpr int ok = 0;
inline constexpr int refused = 1;           // the supervisor answered an error (ctl; a refused join)
inline constexpr int usage = 2;             // bad arguments, a malformed policy
inline constexpr int unreachable = 3;       // the supervisor's socket cannot be reached or is not trusted
inline constexpr int cannot_run = 126;      // CMD found but not started (not executable, no sandbox for it)
inline constexpr int not_found = 127;       // CMD not found
inline constexpr int quota_kill = 128 + 9;  // 128 + SIGKILL

// A child's wait status as a shell reports it: its exit status, or 128 + N for signal N.
constexpr int of(int wait_status) {
  if (WIFEXITED(wait_status)) return WEXITSTATUS(wait_status);
  if (WIFSIGNALED(wait_status)) return 128 + WTERMSIG(wait_status);
  return refused;  // stopped or continued: not an ending
}

}  // namespace sandbox::exit_status
