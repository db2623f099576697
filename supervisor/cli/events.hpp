// events: how the CLI reports what happened to targets on stderr.
#pragma once

#include "control/control.hpp"

namespace sandbox {

// A quota kill is always one line naming the pid, the quota, the usage and the limit;
// other events are printed only when `verbose`.
void print_event(const Event& e, bool verbose);

}  // namespace sandbox
