// SPDX-License-Identifier: Apache-2.0
// The supervisor as a Control (control/control.hpp): what the socket server and the CLI
// talk to. An adapter, not a base of Supervisor: each operation is forwarded to the
// supervisor, whose authority (authority.cpp, job_control.cpp) checks the caller's right
// under the model's lock; nothing is decided here.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "control/control.hpp"

namespace sandbox {

class Supervisor;

class SupervisorControl final : public Control {
 public:
  explicit SupervisorControl(Supervisor& s) : s_(s) {}

  Caller identify(const ucred& peer, int peer_pidfd) override;
  void reclassify(Caller& c, int peer_pidfd) override;
  OpResult register_node(const Caller& c, Pid pid) override;
  OpResult fetch(const Caller& c, Pid pid, Node& out) override;
  OpResult deregister(const Caller& c, Pid pid) override;
  OpResult resource_cap(const Caller& c, Pid pid, std::int64_t heap_mib, std::int64_t files) override;
  OpResult resource_cap_bytes(const Caller& c, Pid pid, std::int64_t heap_bytes, std::int64_t files) override;
  OpResult resource_reset(const Caller& c, Pid pid) override;
  OpResult replace_cap(const Caller& c, Pid pid, std::optional<std::uint64_t> heap_bytes,
                       std::optional<std::uint64_t> files) override;
  std::vector<Node> list(const Caller& c) override;
  std::uint64_t subscribe(const Caller& c, std::function<void(const Event&)> fn) override;
  std::uint64_t subscribe(const Caller& c, const WatchFilter& f,
                          std::function<void(const Event&)> fn) override;
  void unsubscribe(std::uint64_t id) override;
  OpResult metrics(const Caller& c, bool openmetrics, std::string& out) override;

  OpResult fetch_job(const Caller& c, JobId job, JobView& out) override;
  OpResult cap_job(const Caller& c, JobId job, std::optional<std::uint64_t> heap_bytes,
                   std::optional<std::uint64_t> files) override;
  OpResult reset_job(const Caller& c, JobId job) override;
  OpResult replace_job(const Caller& c, JobId job, std::optional<std::uint64_t> heap_bytes,
                       std::optional<std::uint64_t> files) override;
  std::vector<JobView> list_jobs(const Caller& c) override;
  OpResult job_records(const Caller& c, JobId job, std::vector<ProcessRecord>& out) override;
  OpResult delegate(const Caller& c, const DelegateRequest& req, JobView& out) override;

  std::vector<sock_filter> filter_program() override;
  std::vector<sock_filter> filter_program_for(HeapRule rule) override;
  OpResult join(const Caller& c, JoinRequest request) override;

 private:
  Supervisor& s_;
};

}  // namespace sandbox
