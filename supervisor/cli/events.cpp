#include "cli/events.hpp"

#include <cstdio>
#include <string>

namespace sandbox {

void print_event(const Event& e, bool verbose) {
  if (e.kind == Event::Kind::killed && e.job_violation) {
    // The process whose call crossed the line, then the job's totals with that call.
    const JobViolation& v = *e.job_violation;
    const auto mib = [](std::uint64_t b) { return static_cast<double>(b) / (1 << 20); };
    const auto ull = [](std::uint64_t x) { return static_cast<unsigned long long>(x); };
    std::string name = e.name.empty() ? "" : " (" + e.name + ")";
    for (char& c : name)
      if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) c = '?';  // the target's choice: one line
    const unsigned long long live = v.live;
    // A container's job is named by its id too (the runtime's, validated as a string).
    std::string container = e.container.empty() ? "" : ", container " + e.container;
    for (char& c : container)
      if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) c = '?';
    if (v.resource == Resource::heap)
      std::fprintf(stderr,
                   "sandbox: killed pid %d%s and the rest of job %u%s (%llu live process%s): job heap quota "
                   "exceeded: %llu bytes (%.1f MiB) > limit %llu bytes (%.1f MiB); job files %llu\n",
                   v.pid, name.c_str(), v.job, container.c_str(), live, live == 1 ? "" : "es", ull(v.usage),
                   mib(v.usage), ull(v.limit), mib(v.limit), ull(v.totals.files));
    else
      std::fprintf(stderr,
                   "sandbox: killed pid %d%s and the rest of job %u%s (%llu live process%s): job file quota "
                   "exceeded: %llu open files > limit %llu; job heap %llu bytes (%.1f MiB)\n",
                   v.pid, name.c_str(), v.job, container.c_str(), live, live == 1 ? "" : "es", ull(v.usage),
                   ull(v.limit), ull(v.totals.heap), mib(v.totals.heap));
    return;
  }
  if (e.kind == Event::Kind::killed && e.violation) {
    const Violation& v = *e.violation;
    char who[64] = "";
    if (v.node != v.tgid) std::snprintf(who, sizeof who, " (thread %d's node)", v.node);
    const std::string container = e.container.empty() ? "" : " (container " + e.container + ")";
    if (v.resource == Resource::heap)
      std::fprintf(stderr,
                   "sandbox: killed pid %d%s%s: heap quota exceeded: %llu bytes (%.1f MiB) > "
                   "limit %llu bytes (%.1f MiB)\n",
                   v.tgid, who, container.c_str(), static_cast<unsigned long long>(v.usage),
                   static_cast<double>(v.usage) / (1 << 20), static_cast<unsigned long long>(v.limit),
                   static_cast<double>(v.limit) / (1 << 20));
    else
      std::fprintf(stderr, "sandbox: killed pid %d%s%s: file quota exceeded: %llu open files > limit %llu\n",
                   v.tgid, who, container.c_str(), static_cast<unsigned long long>(v.usage),
                   static_cast<unsigned long long>(v.limit));
    return;
  }
  if (!verbose) return;
  if (!e.container.empty())
    std::fprintf(stderr, "sandbox: pid %d: %s (container %s)\n", e.pid, to_string(e.kind),
                 e.container.c_str());
  else
    std::fprintf(stderr, "sandbox: pid %d: %s\n", e.pid, to_string(e.kind));
}

}  // namespace sandbox
