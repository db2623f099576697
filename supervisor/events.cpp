#include "events.hpp"

#include <cstdio>
#include <string>

namespace sandbox {

void print_event(const Event& e, bool verbose) {
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
