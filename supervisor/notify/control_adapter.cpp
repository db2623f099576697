// SPDX-License-Identifier: Apache-2.0
// SupervisorControl: each Control operation, forwarded (control_adapter.hpp).
#include "notify/control_adapter.hpp"

#include <utility>

#include "notify/supervisor.hpp"

namespace sandbox {

Caller SupervisorControl::identify(const ucred& peer, int peer_pidfd) {
  return s_.identify(peer, peer_pidfd);
}
void SupervisorControl::reclassify(Caller& c, int peer_pidfd) {
  s_.reclassify(c, peer_pidfd);
}
OpResult SupervisorControl::register_node(const Caller& c, Pid pid) {
  return s_.register_node(c, pid);
}
OpResult SupervisorControl::fetch(const Caller& c, Pid pid, Node& out) {
  return s_.fetch(c, pid, out);
}
OpResult SupervisorControl::deregister(const Caller& c, Pid pid) {
  return s_.deregister(c, pid);
}
OpResult SupervisorControl::resource_cap(const Caller& c, Pid pid, std::int64_t heap_mib,
                                         std::int64_t files) {
  return s_.resource_cap(c, pid, heap_mib, files);
}
OpResult SupervisorControl::resource_cap_bytes(const Caller& c, Pid pid, std::int64_t heap_bytes,
                                               std::int64_t files) {
  return s_.resource_cap_bytes(c, pid, heap_bytes, files);
}
OpResult SupervisorControl::resource_reset(const Caller& c, Pid pid) {
  return s_.resource_reset(c, pid);
}
OpResult SupervisorControl::replace_cap(const Caller& c, Pid pid, std::optional<std::uint64_t> heap_bytes,
                                        std::optional<std::uint64_t> files) {
  return s_.replace_cap(c, pid, heap_bytes, files);
}
std::vector<Node> SupervisorControl::list(const Caller& c) {
  return s_.list(c);
}
std::uint64_t SupervisorControl::subscribe(const Caller& c, std::function<void(const Event&)> fn) {
  return s_.subscribe(c, std::move(fn));
}
std::uint64_t SupervisorControl::subscribe(const Caller& c, const WatchFilter& f,
                                           std::function<void(const Event&)> fn) {
  return s_.subscribe(c, f, std::move(fn));
}
void SupervisorControl::unsubscribe(std::uint64_t id) {
  s_.unsubscribe(id);
}
OpResult SupervisorControl::metrics(const Caller& c, bool openmetrics, std::string& out) {
  return s_.metrics(c, openmetrics, out);
}

OpResult SupervisorControl::fetch_job(const Caller& c, JobId job, JobView& out) {
  return s_.fetch_job(c, job, out);
}
OpResult SupervisorControl::cap_job(const Caller& c, JobId job, std::optional<std::uint64_t> heap_bytes,
                                    std::optional<std::uint64_t> files) {
  return s_.cap_job(c, job, heap_bytes, files);
}
OpResult SupervisorControl::reset_job(const Caller& c, JobId job) {
  return s_.reset_job(c, job);
}
OpResult SupervisorControl::replace_job(const Caller& c, JobId job, std::optional<std::uint64_t> heap_bytes,
                                        std::optional<std::uint64_t> files) {
  return s_.replace_job(c, job, heap_bytes, files);
}
std::vector<JobView> SupervisorControl::list_jobs(const Caller& c) {
  return s_.list_jobs(c);
}
OpResult SupervisorControl::job_records(const Caller& c, JobId job, std::vector<ProcessRecord>& out) {
  return s_.job_records(c, job, out);
}
OpResult SupervisorControl::delegate(const Caller& c, const DelegateRequest& req, JobView& out) {
  return s_.delegate(c, req, out);
}

std::vector<sock_filter> SupervisorControl::filter_program() {
  return s_.filter_program();
}
std::vector<sock_filter> SupervisorControl::filter_program_for(HeapRule rule) {
  return s_.filter_program_for(rule);
}
OpResult SupervisorControl::join(const Caller& c, JoinRequest request) {
  return s_.join(c, std::move(request));
}

}  // namespace sandbox
