// `sandbox plot TRACE [-o FILE.svg]`: reads the trace, writes the SVG (observe/plot.*).
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>

#include "cli/cli.hpp"
#include "observe/plot.hpp"
#include "target/unique_fd.hpp"

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

namespace {

// Writes `svg` to `path`: created 0644 if missing, never through a symlink (O_NOFOLLOW on
// the last component), only over a regular file (a FIFO or device is refused before
// anything is written or truncated). "" or the error.
std::string write_svg(const std::string& path, const std::string& svg) {
  UniqueFd fd(
      ::open(path.c_str(), O_WRONLY | O_CREAT | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC | O_NOCTTY, 0644));
  if (!fd) {
    if (errno == ELOOP) return "a symbolic link (not followed)";
    if (errno == ENXIO) return "not a regular file (a FIFO with no reader)";
    return std::strerror(errno);
  }
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) return std::strerror(errno);
  if (!S_ISREG(st.st_mode)) return "not a regular file";
  if (::ftruncate(fd.get(), 0) != 0) return std::strerror(errno);
  std::size_t off = 0;
  while (off < svg.size()) {
    const ssize_t n = ::write(fd.get(), svg.data() + off, svg.size() - off);
    if (n < 0) {
      if (errno == EINTR) continue;
      return std::strerror(errno);
    }
    off += static_cast<std::size_t>(n);
  }
  return "";
}

}  // namespace

int plot_command(const PlotCommand& o) {
  std::string output = o.output;
  if (output.empty()) {
    output = plot_output_for(o.trace);
    if (output.empty()) {
      std::fprintf(stderr, "sandbox: plot: no output name for '%s': give one with -o FILE\n",
                   o.trace.c_str());
      return 2;
    }
  }
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
  if (output == "-") {
    std::fwrite(svg.data(), 1, svg.size(), stdout);
    return std::fflush(stdout) == 0 ? 0 : 1;
  }
  if (const std::string err = write_svg(output, svg); !err.empty()) {
    std::fprintf(stderr, "sandbox: plot: cannot write '%s': %s\n", output.c_str(), err.c_str());
    return 1;
  }
  if (o.output.empty()) std::fprintf(stderr, "sandbox: plot: wrote %s\n", output.c_str());
  return 0;
}

}  // namespace sandbox
