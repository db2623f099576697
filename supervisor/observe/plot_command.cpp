// `sandbox plot TRACE -o FILE.svg`: reads the trace, writes the SVG (observe/plot.*).
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>

#include "cli/cli.hpp"
#include "observe/plot.hpp"

namespace sandbox {

int plot_command(const PlotCommand& o) {
  std::ifstream in(o.trace, std::ios::binary);
  if (!in) {
    std::fprintf(stderr, "sandbox: plot: cannot read '%s': %s\n", o.trace.c_str(), std::strerror(errno));
    return 2;
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
    return 1;
  }
  if (o.output == "-") {
    std::fwrite(svg.data(), 1, svg.size(), stdout);
    return std::fflush(stdout) == 0 ? 0 : 1;
  }
  std::ofstream out(o.output, std::ios::binary | std::ios::trunc);
  out << svg;
  out.close();
  if (!out) {
    std::fprintf(stderr, "sandbox: plot: cannot write '%s': %s\n", o.output.c_str(), std::strerror(errno));
    return 1;
  }
  return 0;
}

}  // namespace sandbox
