// SPDX-License-Identifier: Apache-2.0
// exit_status: the exit statuses of every program of the project -- sandbox run, serve, ctl,
// plot, oci-profile and sandbox-shim -- the same number for the same failure (docs/cli.md).
#pragma once

namespace sandbox::exit_status {

inline constexpr int ok = 0;
inline constexpr int refused = 1;           // the supervisor answered an error (ctl; a refused join)
inline constexpr int usage = 2;             // bad arguments, a malformed policy
inline constexpr int unreachable = 3;       // the supervisor's socket cannot be reached or is not trusted
inline constexpr int cannot_run = 126;      // CMD found but not started (not executable, no sandbox for it)
inline constexpr int not_found = 127;       // CMD not found
inline constexpr int quota_kill = 128 + 9;  // 128 + SIGKILL

}  // namespace sandbox::exit_status
