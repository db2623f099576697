// SPDX-License-Identifier: Apache-2.0
#include "observe/metrics.hpp"

#include <cstdio>
#include <cstring>

namespace sandbox::observe {
namespace {

// How many bytes the UTF-8 sequence at s[i] takes, or 0 if it is not valid UTF-8.
std::size_t utf8_len(std::string_view s, std::size_t i) {
  const auto c = static_cast<unsigned char>(s[i]);
  std::size_t n = 0;
  if (c < 0x80) return 1;
  if (c >= 0xc2 && c <= 0xdf)
    n = 2;
  else if (c >= 0xe0 && c <= 0xef)
    n = 3;
  else if (c >= 0xf0 && c <= 0xf4)
    n = 4;
  else
    return 0;
  if (i + n > s.size()) return 0;
  for (std::size_t k = 1; k < n; ++k)
    if ((static_cast<unsigned char>(s[i + k]) & 0xc0) != 0x80) return 0;
  return n;
}

class Writer {
 public:
  explicit Writer(MetricsFormat f) : f_(f) {}

  // A metric family's header. `type` is counter, gauge or info; `unit` may be empty.
  void family(std::string_view name, std::string_view type, std::string_view unit, std::string_view help) {
    name_ = std::string(name);
    type_ = std::string(type);
    std::string exposed = name_;
    std::string t = type_;
    if (f_ == MetricsFormat::prometheus) {
      if (type_ == "counter") exposed += "_total";
      if (type_ == "info") exposed += "_info", t = "gauge";
    }
    out_ += "# HELP " + exposed + " " + std::string(help) + "\n";
    out_ += "# TYPE " + exposed + " " + t + "\n";
    if (f_ == MetricsFormat::openmetrics && !unit.empty())
      out_ += "# UNIT " + exposed + " " + std::string(unit) + "\n";
  }
  // A sample of the current family; `labels` is the text inside {} (may be empty).
  void sample(const std::string& labels, std::uint64_t value) {
    out_ += name_;
    if (type_ == "counter") out_ += "_total";
    if (type_ == "info") out_ += "_info";
    if (!labels.empty()) {
      out_ += '{';
      out_ += labels;
      out_ += '}';
    }
    // Appended piece by piece: `" " + std::to_string(v)` makes GCC 12 at -O3 warn
    // (-Wrestrict, a false positive, GCC PR 105329), which -Werror turns into a failed build.
    out_ += ' ';
    out_ += std::to_string(value);
    out_ += '\n';
  }
  std::string done() {
    if (f_ == MetricsFormat::openmetrics) out_ += "# EOF\n";
    return std::move(out_);
  }

 private:
  MetricsFormat f_;
  std::string out_, name_, type_;
};

std::string node_labels(const MetricsSnapshot::Node& n) {
  std::string l = "pid=\"" + std::to_string(n.pid) + "\",tgid=\"" + std::to_string(n.tgid) + "\",comm=\"" +
                  label_value(n.comm) + "\",uid=\"" + std::to_string(n.uid) + "\"";
  if (!n.job.empty()) l += ",job=\"" + label_value(n.job) + "\"";
  if (!n.container.empty()) l += ",container=\"" + label_value(n.container) + "\"";
  return l;
}

std::string job_labels(const MetricsSnapshot::Job& j) {
  std::string l = "job=\"" + label_value(j.job) + "\",root=\"" + std::to_string(j.root) + "\",comm=\"" +
                  label_value(j.comm) + "\",uid=\"" + std::to_string(j.uid) + "\"";
  if (!j.container.empty()) l += ",container=\"" + label_value(j.container) + "\"";
  return l;
}

std::string one(std::string_view key, std::string_view v) {
  return std::string(key) + "=\"" + label_value(v) + "\"";
}

}  // namespace

std::string label_value(std::string_view v) {
  std::string out;
  out.reserve(v.size());
  for (std::size_t i = 0; i < v.size();) {
    const char c = v[i];
    if (c == '\\')
      out += "\\\\";
    else if (c == '"')
      out += "\\\"";
    else if (c == '\n')
      out += "\\n";
    else if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f)
      out += '?';
    else if (const std::size_t n = utf8_len(v, i); n > 1) {
      out.append(v.substr(i, n));
      i += n;
      continue;
    } else if (n == 0) {
      out += '?';
    } else {
      out += c;
    }
    ++i;
  }
  return out;
}

std::string_view content_type(MetricsFormat f) {
  return f == MetricsFormat::openmetrics ? "application/openmetrics-text; version=1.0.0; charset=utf-8"
                                         : "text/plain; version=0.0.4; charset=utf-8";
}

MetricsFormat negotiate(std::string_view accept) {
  return accept.find("application/openmetrics-text") != std::string_view::npos ? MetricsFormat::openmetrics
                                                                               : MetricsFormat::prometheus;
}

std::string format_metrics(const MetricsSnapshot& s, MetricsFormat f) {
  Writer w(f);
  w.family("sandbox_build", "info", "", "The supervisor's version.");
  w.sample(one("version", s.version.empty() ? "unknown" : s.version), 1);

  w.family("sandbox_nodes", "gauge", "", "Tracked nodes (process and thread nodes).");
  w.sample("", s.nodes.size());
  if (!s.per_target) {
    // Totals only: what an unauthenticated reader may know (no tenant is named).
    std::uint64_t processes = 0, heap = 0, files = 0;
    for (const auto& j : s.jobs) processes += j.processes;
    for (const auto& n : s.nodes) heap += n.heap_bytes, files += n.open_files;
    w.family("sandbox_jobs", "gauge", "", "Jobs (one per run or joined target).");
    w.sample("", s.jobs.size());
    w.family("sandbox_processes", "gauge", "", "Live processes in all jobs.");
    w.sample("", processes);
    w.family("sandbox_heap_bytes", "gauge", "bytes", "Heap growth accounted to all nodes.");
    w.sample("", heap);
    w.family("sandbox_open_files", "gauge", "", "Files all nodes hold open.");
    w.sample("", files);
  }
  auto per_node = [&](const char* name, const char* unit, const char* help, auto value) {
    if (!s.per_target) return;
    w.family(name, "gauge", unit, help);
    for (const auto& n : s.nodes)
      if (const std::optional<std::uint64_t> v = value(n)) w.sample(node_labels(n), *v);
  };
  using N = MetricsSnapshot::Node;
  per_node("sandbox_node_heap_bytes", "bytes", "Heap growth accounted to the node (brk and anonymous mmap).",
           [](const N& n) { return std::optional(n.heap_bytes); });
  per_node("sandbox_node_open_files", "", "Files the node holds open (open, openat, openat2, creat).",
           [](const N& n) { return std::optional(n.open_files); });
  per_node("sandbox_node_heap_quota_bytes", "bytes", "The node's heap quota (absent: unlimited).",
           [](const N& n) { return n.heap_quota_bytes; });
  per_node("sandbox_node_file_quota", "", "The node's open-file quota (absent: unlimited).",
           [](const N& n) { return n.file_quota; });

  auto per_job = [&](const char* name, const char* unit, const char* help, auto value) {
    if (!s.per_target) return;
    w.family(name, "gauge", unit, help);
    for (const auto& j : s.jobs)
      if (const std::optional<std::uint64_t> v = value(j)) w.sample(job_labels(j), *v);
  };
  using J = MetricsSnapshot::Job;
  per_job("sandbox_job_processes", "", "Live processes in the job.",
          [](const J& j) { return std::optional(j.processes); });
  per_job("sandbox_job_heap_bytes", "bytes", "Heap growth accounted to the job.",
          [](const J& j) { return j.counting ? std::optional(j.heap_bytes) : std::nullopt; });
  per_job("sandbox_job_open_files", "", "Files the job's processes hold open.",
          [](const J& j) { return j.counting ? std::optional(j.open_files) : std::nullopt; });
  per_job("sandbox_job_heap_quota_bytes", "bytes", "The job's heap quota (absent: unlimited).",
          [](const J& j) { return j.heap_quota_bytes; });
  per_job("sandbox_job_file_quota", "", "The job's open-file quota (absent: unlimited).",
          [](const J& j) { return j.file_quota; });

  w.family("sandbox_notifications", "counter", "", "Seccomp notifications handled, by system call.");
  for (const auto& [name, v] : s.notifications) w.sample(one("syscall", name), v);
  w.family("sandbox_kills", "counter", "", "Processes killed for crossing a quota, by resource.");
  for (const auto& [name, v] : s.kills) w.sample(one("resource", name), v);
  w.family("sandbox_errors", "counter", "", "Errors, by kind (docs/observability.md).");
  for (const auto& [name, v] : s.errors) w.sample(one("kind", name), v);

  w.family("sandbox_listeners", "gauge", "",
           "Seccomp listeners being served (one per run or joined target).");
  w.sample("", s.listeners);
  w.family("sandbox_supervisor_open_fds", "gauge", "", "Descriptors the supervisor holds open.");
  w.sample("", s.supervisor_fds);
  w.family("sandbox_supervisor_threads", "gauge", "", "Threads of the supervisor.");
  w.sample("", s.supervisor_threads);
  return w.done();
}

}  // namespace sandbox::observe
