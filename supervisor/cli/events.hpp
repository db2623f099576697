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

// The go to a launched CMD over the shim's control socket, then its exec's outcome: EOF when
// exec succeeded (the socket is O_CLOEXEC), else the shim's `failed` message. Returns -1 when
// CMD runs; else prints cannot_run_line and returns the exit status (127 not found, else 126).
int go_and_await_exec(int control, const char* cmd);

}  // namespace sandbox
