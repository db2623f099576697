// SPDX-License-Identifier: Apache-2.0
// `sandbox plot TRACE [-o FILE.svg]`: reads the trace, writes the SVG (observe/plot.*).
#include "cli/plot.hpp"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>

#include "observe/output_file.hpp"
#include "observe/plot.hpp"

namespace sandbox {

std::string plot_output_for(const std::string& trace) {
  const std::size_t slash = trace.rfind('/');
  const std::string base = trace.substr(slash == std::string::npos ? 0 : slash + 1);
  if (base.empty() || base == "." || base == "..") return "";
  std::string out = trace;
  if (base.size() > 5 && base.ends_with(".json")) out.resize(out.size() - 5);
  out += ".svg";
  return out == trace ? "" : out;
}

int plot_command(const PlotCommand& o) {
  std::string output = o.output;
  if (output.empty()) {
    output = plot_output_for(o.trace);
    if (output.empty()) {
      std::fprintf(stderr, "sandbox: plot: no output name for '%s': give one with -o FILE\n",
                   o.trace.c_str());
      return exit_status::usage;
    }
  }
  std::ifstream in(o.trace, std::ios::binary);
  if (!in) {
    std::fprintf(stderr, "sandbox: plot: cannot read '%s': %s\n", o.trace.c_str(), std::strerror(errno));
    return exit_status::usage;
  }
  std::ostringstream text;
  text << in.rdbuf();
  std::string svg;
  try {
    observe::PlotOptions po;
    po.top = o.top;
    po.title = o.title.empty() ? "sandbox usage: " + o.trace : o.title;
    svg = observe::plot_svg(text.str(), po);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "sandbox: plot: %s: %s\n", o.trace.c_str(), e.what());
    return exit_status::refused;
  }
  if (output == "-") {
    std::fwrite(svg.data(), 1, svg.size(), stdout);
    return std::fflush(stdout) == 0 ? 0 : 1;
  }
  // Never through a symlink, never into a FIFO or a device (observe/output_file.hpp).
  std::string err;
  try {
    observe::OutputFile out("-o", output);
    Status written = out.write(svg);
    if (Status closed = out.close(); written.ok()) written = std::move(closed);
    err = written.message();
  } catch (const observe::OutputError& e) {
    err = e.why();
  }
  if (!err.empty()) {
    std::fprintf(stderr, "sandbox: plot: cannot write '%s': %s\n", output.c_str(), err.c_str());
    return exit_status::refused;
  }
  if (o.output.empty()) std::fprintf(stderr, "sandbox: plot: wrote %s\n", output.c_str());
  return 0;
}

}  // namespace sandbox
