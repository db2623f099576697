// SPDX-License-Identifier: Apache-2.0
// run: `sandbox run` -- launch CMD through the shim, supervise it, report how it ended.
#pragma once

#include "cli/commands.hpp"

namespace sandbox {

// Returns the process exit status for `sandbox run` (CMD's own, 128+N for signal N,
// 126/127 when CMD could not be started). Prints one-line errors on stderr.
int run_command(const RunOptions& options);

}  // namespace sandbox
