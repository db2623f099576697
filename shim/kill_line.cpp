#include "kill_line.hpp"

#include <cstdio>

#include "size.hpp"

namespace sandbox {

namespace {

std::string printable(std::string s) {
  for (char& c : s)
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) c = '?';  // the target's choice: one line
  return s;
}

unsigned long long ull(std::uint64_t x) {
  return static_cast<unsigned long long>(x);
}

}  // namespace

std::string kill_line(const char* prefix, const KillReport& r) {
  char buf[512];
  if (r.job_quota) {
    // The process whose call crossed the line, then the job's totals with that call.
    const std::string name = r.name.empty() ? "" : " (" + printable(r.name) + ")";
    const std::string container = r.container.empty() ? "" : ", container " + printable(r.container);
    if (r.heap)
      std::snprintf(buf, sizeof buf,
                    "%s: killed pid %d%s and the rest of job %u%s (%llu live process%s): job heap quota "
                    "exceeded: %s > limit %s; job files %llu\n",
                    prefix, r.pid, name.c_str(), r.job, container.c_str(), ull(r.live),
                    r.live == 1 ? "" : "es", bytes_text(r.usage).c_str(), bytes_text(r.limit).c_str(),
                    ull(r.other));
    else
      std::snprintf(buf, sizeof buf,
                    "%s: killed pid %d%s and the rest of job %u%s (%llu live process%s): job file quota "
                    "exceeded: %s > limit %llu; job heap %s\n",
                    prefix, r.pid, name.c_str(), r.job, container.c_str(), ull(r.live),
                    r.live == 1 ? "" : "es", count_text(r.usage, "open file", "open files").c_str(),
                    ull(r.limit), bytes_text(r.other).c_str());
    return buf;
  }
  char who[64] = "";
  if (r.pid != r.tgid) std::snprintf(who, sizeof who, " (thread %d's node)", r.pid);
  const std::string container = r.container.empty() ? "" : " (container " + printable(r.container) + ")";
  if (r.heap)
    std::snprintf(buf, sizeof buf, "%s: killed pid %d%s%s: heap quota exceeded: %s > limit %s\n", prefix,
                  r.tgid, who, container.c_str(), bytes_text(r.usage).c_str(), bytes_text(r.limit).c_str());
  else
    std::snprintf(buf, sizeof buf, "%s: killed pid %d%s%s: file quota exceeded: %s > limit %llu\n", prefix,
                  r.tgid, who, container.c_str(), count_text(r.usage, "open file", "open files").c_str(),
                  ull(r.limit));
  return buf;
}

}  // namespace sandbox
