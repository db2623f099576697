// SPDX-License-Identifier: Apache-2.0
// plot: a trace (trace.hpp's Chrome trace-event JSON) drawn as one self-contained SVG --
// heap and open files over time for the job and its top processes, the quotas as dashed
// lines, kills marked. No script, no links, no external fonts (generic families only), so
// it renders the same in a browser, in rsvg-convert and in a README.
//
// Pure: text in, text out. Bad input throws PlotError with one line naming what was wrong.
#pragma once

#include <stdexcept>
#include <string>
#include <string_view>

namespace sandbox::observe {

struct PlotError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

struct PlotOptions {
  int width = 960;      // pixels
  std::size_t top = 5;  // processes drawn besides the jobs (by peak heap, then files)
  std::string title;    // default: "sandbox usage"
};

std::string plot_svg(std::string_view trace_json, const PlotOptions& options = {});

}  // namespace sandbox::observe
