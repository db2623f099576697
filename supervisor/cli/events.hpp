// SPDX-License-Identifier: Apache-2.0
// events: how the CLI reports what happened to targets on stderr.
#pragma once

#include "control/control.hpp"

namespace sandbox {

// A quota kill is one line naming the pid, the quota, the usage and the limit, printed
// unless `level` is 0 (-q); other events only from level 3 (-vv) on.
void print_event(const Event& e, int level);

}  // namespace sandbox
