// SPDX-License-Identifier: Apache-2.0
// serve: `sandbox serve` -- a long-running supervisor that targets join through
// `sandbox-shim --socket PATH`, with the control socket for everyone else.
#pragma once

#include "cli/commands.hpp"

namespace sandbox {

// Runs until SIGTERM or SIGINT. Then every target still under its filters is killed
// (SIGKILL): none may go on unaccounted once the supervisor is gone. Returns the exit status.
int serve_command(const ServeOptions& options);

}  // namespace sandbox
