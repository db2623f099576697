// SPDX-License-Identifier: Apache-2.0
#include "kill_line.hpp"

#include <cstdio>

#include "base/size.hpp"

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

// " (kernel rule)", and when the charge is mostly not memory in use, how much and the
// other rule: the user sees why and what to do.
std::string rule_note(const KillReport& r) {
  if (r.rule.empty()) return "";
  std::string s = " (" + r.rule + " rule)";
  if (r.rule != "kernel" || r.reserved + r.unmapped <= r.usage / 2) return s;
  char buf[256];
  std::snprintf(buf, sizeof buf,
                "; %s of it are PROT_NONE/MAP_NORESERVE reservations and %s already unmapped: "
                "--heap-rule commit counts memory in use",
                bytes_text(r.reserved).c_str(), bytes_text(r.unmapped).c_str());
  return s + buf;
}

}  // namespace

std::string kill_line(const char* prefix, const KillReport& r) {
  char buf[768];
  if (r.job_quota) {
    // The process whose call crossed the line, then the job's totals with that call.
    const std::string name = r.name.empty() ? "" : " (" + printable(r.name) + ")";
    const std::string container = r.container.empty() ? "" : ", container " + printable(r.container);
    if (r.heap)
      std::snprintf(buf, sizeof buf,
                    "%s: killed pid %d%s and the rest of job %u%s (%llu live process%s): job heap quota "
                    "exceeded: %s > limit %s%s; job files %llu\n",
                    prefix, r.pid, name.c_str(), r.job, container.c_str(), ull(r.live),
                    r.live == 1 ? "" : "es", bytes_text(r.usage).c_str(), bytes_text(r.limit).c_str(),
                    rule_note(r).c_str(), ull(r.other));
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
    std::snprintf(buf, sizeof buf, "%s: killed pid %d%s%s: heap quota exceeded: %s > limit %s%s\n", prefix,
                  r.tgid, who, container.c_str(), bytes_text(r.usage).c_str(), bytes_text(r.limit).c_str(),
                  rule_note(r).c_str());
  else
    std::snprintf(buf, sizeof buf, "%s: killed pid %d%s%s: file quota exceeded: %s > limit %llu\n", prefix,
                  r.tgid, who, container.c_str(), count_text(r.usage, "open file", "open files").c_str(),
                  ull(r.limit));
  return buf;
}

}  // namespace sandbox
