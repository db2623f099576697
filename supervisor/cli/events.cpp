// SPDX-License-Identifier: Apache-2.0
#include "cli/events.hpp"

#include <sys/socket.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "base/exit_status.hpp"
#include "kill_line.hpp"
#include "shim.hpp"

namespace sandbox {

void print_event(const Event& e, int level) {
  if (level < 1) return;  // -q: errors only
  if (e.kind == Event::Kind::killed && (e.job_violation || e.violation)) {
    KillReport r;
    r.container = e.container;
    if (e.job_violation) {
      const JobViolation& v = *e.job_violation;
      r.job_quota = true;
      r.heap = v.resource == Resource::heap;
      r.usage = v.usage, r.limit = v.limit;
      r.pid = r.tgid = v.pid;
      r.name = e.name;
      r.job = v.job;
      r.live = v.live;
      r.other = r.heap ? v.totals.files : v.totals.heap;
      r.rule = to_string(v.rule);
      r.reserved = v.totals.reserved, r.unmapped = v.unmapped;
    } else {
      const Violation& v = *e.violation;
      r.heap = v.resource == Resource::heap;
      r.usage = v.usage, r.limit = v.limit;
      r.pid = v.node, r.tgid = v.tgid;
      r.rule = to_string(v.rule);
      r.reserved = v.reserved, r.unmapped = v.unmapped;
    }
    std::fputs(kill_line("sandbox", r).c_str(), stderr);
    return;
  }
  if (level < 3) return;  // -vv: every event
  if (e.kind == Event::Kind::exec && !e.exec_paths.empty()) {
    // Paths come from the target: control characters shown as '?', so none can forge a line.
    std::string paths;
    for (const std::string& p : e.exec_paths) {
      paths += (paths.empty() ? "" : ", ") + std::string(1, '\'');
      for (const char ch : p) paths += static_cast<unsigned char>(ch) < 0x20 || ch == 0x7f ? '?' : ch;
      paths += '\'';
    }
    std::fprintf(stderr, "sandbox: pid %d: %s %s%s\n", e.pid, e.exec_failed ? "exec failed, tried" : "exec",
                 paths.c_str(), e.container.empty() ? "" : (" (container " + e.container + ")").c_str());
    return;
  }
  if (!e.container.empty())
    std::fprintf(stderr, "sandbox: pid %d: %s (container %s)\n", e.pid, to_string(e.kind),
                 e.container.c_str());
  else
    std::fprintf(stderr, "sandbox: pid %d: %s\n", e.pid, to_string(e.kind));
}

std::string cannot_run_line(const char* cmd, int err) {
  std::string line = std::string("sandbox: cannot run '") + cmd + "': " + std::strerror(err);
  if (err == ENOENT && std::strchr(cmd, '/') == nullptr) {
    const char* path = std::getenv("PATH");  // CMD's environment is ours
    line += path ? std::string(" (searched PATH=") + path + ")" : " (searched /bin:/usr/bin: no PATH is set)";
  }
  return line + "\n";
}

int go_and_await_exec(int control, const char* cmd) {
  const char go = 'g';
  (void)!::send(control, &go, 1, MSG_NOSIGNAL);
  shim::Message late{};
  ssize_t got;
  do got = ::recv(control, &late, sizeof late, 0);
  while (got < 0 && errno == EINTR);
  if (got != static_cast<ssize_t>(sizeof late) || late.kind != shim::Message::failed) return -1;
  std::fputs(cannot_run_line(cmd, late.err).c_str(), stderr);
  return late.err == ENOENT ? exit_status::not_found : exit_status::cannot_run;
}

}  // namespace sandbox
