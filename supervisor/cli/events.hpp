// SPDX-License-Identifier: Apache-2.0
// events: how the CLI reports what happened to targets on stderr.
#pragma once

#include <string>

#include "control/control.hpp"

namespace sandbox {

// A quota kill is one line naming the pid, the quota, the usage and the limit, printed
// unless `level` is 0 (-q); other events only from level 3 (-vv) on.
void print_event(const Event& e, int level);

// "sandbox: cannot run 'CMD': ENOENT text (searched PATH=...)\n": CMD's exec failed. A name
// without '/' names execvp's search too (as -vv's one exec line does for a process inside).
std::string cannot_run_line(const char* cmd, int err);

}  // namespace sandbox
