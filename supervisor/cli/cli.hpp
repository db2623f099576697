// SPDX-License-Identifier: Apache-2.0
// cli: argv -> a command and its options, with one CLI11 parser for every command and
// subcommand of `sandbox` (the settings themselves are declared once in shim/options.hpp,
// which sandbox-shim shares). Pure parsing: bad input throws UsageError with one line naming
// the option and the value that were wrong.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "cli/commands.hpp"

namespace sandbox {

// argv[0] is the program's name. Throws UsageError.
Command parse_command_line(int argc, const char* const argv[]);
// Parses and runs: the whole of `sandbox` (main.cpp is this). Returns the exit status.
int sandbox_main(int argc, const char* const argv[]);
// `sandbox ctl ARGS...` with argv[0] "ctl": parses and runs as sandbox_main() does.
int ctl_main(int argc, const char* const argv[]);
// The full help of every command and subcommand (`sandbox --help-all`).
std::string usage_text();

}  // namespace sandbox
