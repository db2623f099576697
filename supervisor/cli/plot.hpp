// SPDX-License-Identifier: Apache-2.0
// plot: `sandbox plot TRACE`, a trace from `sandbox run --trace` drawn as SVG (observe/plot.hpp).
#pragma once

#include <string>

#include "cli/commands.hpp"

namespace sandbox {

// `sandbox plot`: 0, 1 (bad trace, cannot write) or 2 (cannot read).
int plot_command(const PlotCommand& o);
// `sandbox plot TRACE`'s output without -o: TRACE with ".svg" in place of a ".json" ending
// (else added), next to the trace; "" when that would be TRACE itself.
std::string plot_output_for(const std::string& trace);

}  // namespace sandbox
