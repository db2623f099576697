// SPDX-License-Identifier: Apache-2.0
// The supervisor seen from outside: the metrics snapshot (usage events: notify/events.cpp). Members of
// Supervisor, run with mu_ held unless they take it themselves.
#include <string.h>
#include <time.h>

#include "base/proc.hpp"
#include "notify/supervisor.hpp"
#include "observe/metrics.hpp"

namespace sandbox {

observe::MetricsSnapshot Supervisor::metrics_snapshot(const Caller& c) {
  observe::MetricsSnapshot s;
  const auto lk = swept();
  const View v = view_of(c);
  for (const Node& n : tracker_.nodes()) {
    // What `list` shows this caller: root every node, another user their own targets
    // (kill(2)'s rule), a caller inside the sandbox its own job's.
    if (!authorize(c, n.pid).ok() || !visible(v, n.tgid)) continue;
    const auto p = procs_.find(n.tgid);
    observe::MetricsSnapshot::Node m;
    m.pid = n.pid;
    m.tgid = n.tgid;
    if (p != procs_.end()) {
      m.uid = p->second.ruid;
      m.comm.assign(p->second.comm, strnlen(p->second.comm, sizeof p->second.comm));
    }
    if (p != procs_.end() && p->second.job != 0) {
      m.job = std::to_string(p->second.job);
      if (const auto ct = job_containers_.find(p->second.job); ct != job_containers_.end())
        m.container = ct->second;
    }
    m.heap_bytes = n.heapsize;
    m.open_files = n.openfile_count;
    m.heap_quota_bytes = n.heap_quota_bytes;
    m.file_quota = n.file_quota;
    s.nodes.push_back(std::move(m));
  }
  // Jobs as list shows them: root every job, another user their own, a caller inside the
  // sandbox only its own job.
  for (const JobView& j : jobs_.list()) {
    if (c.inside ? c.job != j.id : (c.uid != 0 && c.uid != j.owner)) continue;
    observe::MetricsSnapshot::Job m;
    m.job = std::to_string(j.id);
    m.root = j.root;
    m.uid = j.owner;
    if (const auto ct = job_containers_.find(j.id); ct != job_containers_.end()) m.container = ct->second;
    if (const auto p = procs_.find(j.root); p != procs_.end())
      m.comm.assign(p->second.comm, strnlen(p->second.comm, sizeof p->second.comm));
    m.processes = j.live;
    m.counting = j.counting;
    m.heap_bytes = j.usage.heap;
    m.open_files = j.usage.files;
    m.heap_quota_bytes = j.heap_quota_bytes;
    m.file_quota = j.file_quota;
    s.jobs.push_back(std::move(m));
  }
  // Counters are the supervisor's, not any one target's: every outside caller sees them;
  // a caller inside the sandbox does not learn about other tenants' activity.
  if (c.inside) return s;
  for (std::size_t nr = 0; nr < by_nr_.size(); ++nr) {
    if (by_nr_[nr] == 0) continue;
    std::string name;
    for (const SyscallDef& d : syscall_table())
      if (d.nr == static_cast<int>(nr)) name = std::string(d.name);
    if (name.empty()) name = std::string(op_name(dispatch_.at(nr)));  // an ABI number
    s.notifications.emplace_back(std::move(name), by_nr_[nr]);
  }
  s.kills = {{"heap", kills_heap_}, {"files", kills_files_}};
  s.errors = {{"unattributed", unattributed_}};
  s.listeners = emulators_.size();  // one per thread serving a listener
  return s;
}

std::string Supervisor::metrics_text(const Caller& c, observe::MetricsFormat f, bool per_target) {
  observe::MetricsSnapshot s = metrics_snapshot(c);
  s.version = SANDBOX_VERSION;
  s.supervisor_fds = proc::count_open_fds();
  s.supervisor_threads = proc::count_threads();
  s.per_target = per_target;
  return observe::format_metrics(s, f);
}

OpResult Supervisor::metrics(const Caller& c, bool openmetrics, std::string& out) {
  out = metrics_text(
      c, openmetrics ? observe::MetricsFormat::openmetrics : observe::MetricsFormat::prometheus, true);
  return {};
}

}  // namespace sandbox
