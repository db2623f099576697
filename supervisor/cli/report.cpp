// SPDX-License-Identifier: Apache-2.0
#include "cli/report.hpp"

#include <cstdio>
#include <nlohmann/json.hpp>

#include "base/size.hpp"
#include "control/protocol.hpp"

namespace sandbox {
namespace {

using ojson = nlohmann::ordered_json;

std::string bytes(std::uint64_t b) {
  return bytes_text(b);
}

std::string limit_text(Resource r, std::uint64_t v) {
  return r == Resource::heap ? bytes(v) : count_text(v, "file", "files");
}

std::string left_outcome_text(const std::string& outcome) {
  if (outcome == "ended") return "waited for until they ended";
  if (outcome == "killed_after_wait") return "killed at the --wait-job bound";
  if (outcome == "killed_on_signal") return "killed: the wait was interrupted";
  return outcome;
}

}  // namespace

std::string process_list(const LeftRunning& l, std::size_t max) {
  std::string s;
  std::size_t shown = 0;
  for (const LeftRunning::Process& p : l.processes) {
    if (shown == max) break;
    if (shown++) s += ", ";
    s += "pid " + std::to_string(p.pid) + " (" + p.comm + ")";
  }
  if (l.count > shown) s += ", and " + std::to_string(l.count - shown) + " more";
  return s;
}

std::string summary_line(const RunReport& r) {
  const JobView& j = r.job;
  std::string s = "sandbox: job " + std::to_string(j.id) + " (scope " + std::string(to_string(j.scope)) +
                  ", heap rule " + std::string(to_string(j.heap_rule)) + "): peak heap " +
                  bytes(j.peak_heap) + ", peak files " + std::to_string(j.peak_files) + ", " +
                  std::to_string(j.processes) + (j.processes == 1 ? " process" : " processes") + ", " +
                  std::to_string(r.notifications) + " notifications, ";
  if (j.killed) {
    const JobViolation& k = *j.killed;
    s += "killed: pid " + std::to_string(k.pid) + " crossed the job's " + std::string(to_string(k.resource)) +
         " quota (" + limit_text(k.resource, k.usage) + " > " + limit_text(k.resource, k.limit) + ")";
  } else {
    s += "no kill";
  }
  if (r.left.count > 0)
    s += ", " + std::to_string(r.left.count) + (r.left.count == 1 ? " process" : " processes") +
         " left running when CMD exited (" + left_outcome_text(r.left.outcome) + ")";
  return s + ", exit status " + std::to_string(r.exit_status) + "\n";
}

std::string report_json(const RunReport& r) {
  const JobView& j = r.job;
  ojson doc;
  doc["exit_status"] = r.exit_status;
  doc["argv"] = r.argv;
  doc["wall_seconds"] = r.wall_seconds;
  doc["user_cpu_seconds"] = r.user_cpu_seconds;
  doc["system_cpu_seconds"] = r.system_cpu_seconds;
  doc["peak_rss_bytes"] = r.peak_rss_bytes;
  doc["heap_rule"] = r.heap_rule;
  ojson job;
  job["id"] = j.id;
  job["scope"] = std::string(to_string(j.scope));
  job["peak_heap_bytes"] = j.peak_heap;
  job["peak_files"] = j.peak_files;
  job["processes"] = j.processes;
  job["heap_quota_bytes"] = j.heap_quota_bytes ? ojson(*j.heap_quota_bytes) : ojson(nullptr);
  job["file_quota"] = j.file_quota ? ojson(*j.file_quota) : ojson(nullptr);
  doc["job"] = std::move(job);
  if (j.killed) {
    ojson k;
    k["pid"] = j.killed->pid;
    k["resource"] = std::string(to_string(j.killed->resource));
    k["usage"] = j.killed->usage;
    k["limit"] = j.killed->limit;
    doc["killed"] = std::move(k);
  } else {
    doc["killed"] = nullptr;
  }
  doc["notifications"] = r.notifications;
  ojson left;
  left["count"] = r.left.count;
  ojson listed = ojson::array();
  for (const LeftRunning::Process& p : r.left.processes) listed.push_back({{"pid", p.pid}, {"comm", p.comm}});
  left["processes"] = std::move(listed);
  left["outcome"] = r.left.outcome;
  doc["left_running"] = std::move(left);
  ojson procs = ojson::array();
  for (const ProcessRecord& p : r.processes) {
    ojson o = protocol::record_object(p);
    o.erase("code");  // named by the ending here: exit_status or signal
    if (p.end == Ending::exit) o["exit_status"] = p.code;
    if (p.end == Ending::signal) o["signal"] = p.code;
    procs.push_back(std::move(o));
  }
  doc["processes"] = std::move(procs);
  // argv, argv[0] and comm are the user's or the target's: invalid UTF-8 is replaced, never fatal.
  return doc.dump(2, ' ', false, ojson::error_handler_t::replace) + "\n";
}

}  // namespace sandbox
