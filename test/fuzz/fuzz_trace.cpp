// SPDX-License-Identifier: Apache-2.0
// fuzz_trace: libFuzzer harness for the trace reader of `sandbox plot` and for the trace
// writer behind it (issue 20). A trace is a file anyone may hand to `sandbox plot`, and its
// names (comm, argv) come from targets. The first byte chooses:
//   odd:  the rest is a trace file: plot_svg() either throws PlotError (one line) or returns
//         a complete SVG with nothing to run or fetch;
//   even: the rest drives a TraceWriter (samples, instants, names, holds, ticks); what it
//         writes is always valid JSON, and plot_svg() draws it without an error.
// A failed check aborts, which libFuzzer reports as a crash with the input saved.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "observe/plot.hpp"
#include "observe/trace.hpp"

namespace {

using namespace sandbox::observe;

[[noreturn]] void violated(const char* what, std::string_view detail) {
  std::fprintf(stderr, "fuzz_trace: contract violated: %s: %.*s\n", what,
               static_cast<int>(std::min<std::size_t>(detail.size(), 400)), detail.data());
  std::abort();
}

void check_svg(const std::string& svg) {
  if (svg.rfind("<?xml", 0) != 0 || svg.find("</svg>") == std::string::npos) violated("incomplete SVG", svg);
  // In markup only: text is escaped (no raw '<' in it), so what a trace's labels say (a
  // target picks its comm and argv: "url(" is a fine name) stays inert text.
  for (std::size_t lt = svg.find('<'); lt != std::string::npos; lt = svg.find('<', lt + 1)) {
    const std::size_t gt = svg.find('>', lt);
    if (gt == std::string::npos) violated("unterminated tag", svg.substr(lt, 80));
    const std::string_view tag(svg.data() + lt, gt - lt);
    for (const char* bad : {"<script", "href", "url(", "@import"})
      if (tag.find(bad) != std::string_view::npos) violated("SVG with an active part", tag);
  }
  for (const char ch : svg)
    if (static_cast<unsigned char>(ch) < 0x20 && ch != '\n' && ch != '\t')
      violated("control byte in SVG", svg);
}

void read_trace(std::string_view text) {
  std::string svg;
  try {
    svg = plot_svg(text, PlotOptions{480, 3, "fuzz"});
  } catch (const PlotError& e) {
    if (std::strchr(e.what(), '\n')) violated("multi-line error", e.what());
    return;
  }
  check_svg(svg);
}

// Bytes as writer operations, 1 opcode byte + operands.
struct Reader {
  const std::uint8_t* p;
  std::size_t n;
  std::uint64_t u(int bytes) {
    std::uint64_t v = 0;
    for (int i = 0; i < bytes && n > 0; ++i, ++p, --n) v = v << 8 | *p;
    return v;
  }
};

void write_trace(const std::uint8_t* data, std::size_t size) {
  TraceWriter::Options o;
  o.min_window_us = 100;
  o.max_window_us = 5'000;
  o.rate = 50;
  o.burst = 20;
  TraceWriter w(o);
  Reader r{data, size};
  std::uint64_t ts = 0;
  std::string text;
  while (r.n > 0) {
    const auto op = r.u(1);
    ts += r.u(1) * 37;
    const auto pid = static_cast<std::int64_t>(r.u(1) % 6) + (op & 0x80 ? kJobTrackBase : 1);
    switch (op % 7) {
      case 0:
      case 1: {
        const auto v = static_cast<std::int64_t>(r.u(3)) - 0x100;
        w.sample(ts, pid, static_cast<Series>(r.u(1) % 4), v);
        break;
      }
      case 2: {
        const std::size_t len = std::min<std::size_t>(r.u(1) % 24, r.n);
        w.name(pid, std::string_view(reinterpret_cast<const char*>(r.p), len));
        r.p += len, r.n -= len;
        break;
      }
      case 3:
        w.instant(ts, pid, r.u(1) & 1 ? "kill" : "exit", R"({"resource":"heap","usage":5,"limit":4})");
        break;
      case 4: w.hold(pid); break;
      case 5: w.release(pid, r.u(1) & 1); break;
      case 6:
        w.tick(ts);
        text += w.take();
        break;
    }
  }
  w.finish();
  text += w.take();
  const auto doc = nlohmann::json::parse(text, nullptr, false);
  if (doc.is_discarded() || !doc.contains("traceEvents")) violated("the writer wrote invalid JSON", text);
  std::string svg;
  try {
    svg = plot_svg(text, PlotOptions{480, 3, "fuzz"});
  } catch (const PlotError& e) {
    violated("the writer's trace is refused by plot", e.what());
  }
  check_svg(svg);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  if (data[0] & 1)
    read_trace(std::string_view(reinterpret_cast<const char*>(data) + 1, size - 1));
  else
    write_trace(data + 1, size - 1);
  return 0;
}
