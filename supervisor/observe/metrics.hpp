// SPDX-License-Identifier: Apache-2.0
// metrics: a snapshot of the supervisor as OpenMetrics text (or the older Prometheus text
// format 0.0.4, for scrapers and the node_exporter textfile collector that do not ask for
// OpenMetrics) -- the names, labels and their cardinality are in docs/observability.md.
//
// Pure: a plain struct in, text out; the supervisor fills the struct under its lock, the
// formatting happens outside it. Label values (a target's comm above all) are not trusted:
// they are escaped, and bytes that are not UTF-8 become '?'.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace sandbox::observe {

struct MetricsSnapshot {
  struct Node {  // a tracked task (a process's leader node, or a thread node)
    std::int64_t pid = 0, tgid = 0;
    std::uint32_t uid = 0;
    std::string comm;
    std::string job;        // empty: not in a job
    std::string container;  // its job's container id (serve --oci-listener); empty: none
    std::uint64_t heap_bytes = 0, open_files = 0;
    std::optional<std::uint64_t> heap_quota_bytes, file_quota;
  };
  struct Job {
    std::string job;
    std::int64_t root = 0;        // the process it was started for
    std::string comm;             // the root's name ("" once it is gone)
    std::uint32_t uid = 0;        // its owner
    std::string container;        // the container it is (serve --oci-listener); empty: none
    std::uint64_t processes = 0;  // live
    bool counting = false;        // heap and files are counted (else they are not shown)
    std::uint64_t heap_bytes = 0, open_files = 0;
    std::optional<std::uint64_t> heap_quota_bytes, file_quota;
  };
  std::string version;
  std::vector<Node> nodes;
  std::vector<Job> jobs;
  std::vector<std::pair<std::string, std::uint64_t>> notifications;  // by system call name
  std::vector<std::pair<std::string, std::uint64_t>> kills;          // by resource: heap, files
  std::vector<std::pair<std::string, std::uint64_t>> errors;         // by kind
  std::uint64_t listeners = 0;                                       // notify listeners served
  std::uint64_t supervisor_fds = 0, supervisor_threads = 0;
  // false: no series names a target or a job (no pid, comm, uid, job, container label), only
  // totals over all of them -- the view for a reader who is not authenticated (the TCP
  // endpoint by default; docs/observability.md).
  bool per_target = true;
};

enum class MetricsFormat {
  openmetrics,  // application/openmetrics-text; version=1.0.0, ends with "# EOF"
  prometheus,   // text/plain; version=0.0.4
};
std::string_view content_type(MetricsFormat f);
// The format a scraper asked for in its Accept header: OpenMetrics when it names
// application/openmetrics-text, else the Prometheus text format.
MetricsFormat negotiate(std::string_view accept);

std::string format_metrics(const MetricsSnapshot& s, MetricsFormat f = MetricsFormat::openmetrics);

// A label value, escaped (\\, \", \n) and made valid UTF-8.
std::string label_value(std::string_view v);

}  // namespace sandbox::observe
