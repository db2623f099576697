// SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
// bpf::Engine: the kernel patch's accounting as BPF programs (tracker.bpf.c), loaded from
// the skeleton built with the supervisor. Open() says in one line why the engine cannot be
// had (built without BPF, no BTF, no CAP_BPF/CAP_PERFMON, the verifier refused); nothing is
// pinned: the programs, links and maps are this object's descriptors and go when it does (or
// when the process dies).
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace sandbox::bpf {

inline constexpr std::uint64_t kUnlimited = ~0ULL;

struct NodeCounters {
  std::uint64_t heapsize = 0;
  std::uint64_t openfile_count = 0;
  pid_t tgid = 0;
};

struct Quotas {
  std::uint64_t heap = kUnlimited;   // bytes
  std::uint64_t files = kUnlimited;  // count
  bool set = false;                  // a quota that is not unlimited was set (resource_cap's ENFILE)
  bool imposed = false;              // set from outside: the target cannot lift it
};

struct JobTotals {
  std::uint64_t heap = 0, files = 0, live = 0;
  std::uint64_t heap_quota = kUnlimited, file_quota = kUnlimited;
  bool killed = false;
};

// One kill made by the programs, as they reported it.
struct Kill {
  pid_t pid = 0, tgid = 0;
  std::uint32_t job = 0;  // 0: a node quota (node `pid`); else that job's quota
  bool files = false;
  std::uint64_t usage = 0, limit = 0, live = 0, other = 0;
  std::string comm;
};

class Engine {
 public:
  // The engine, or nullptr with `why` saying in one line what is missing.
  static std::unique_ptr<Engine> open(std::string& why);
  ~Engine();
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  // How long open() took to load, verify and attach everything.
  double load_ms() const { return load_ms_; }

  // A job whose root (a process not yet running its command) is `root`.
  bool add_job(std::uint32_t job, pid_t root, std::uint64_t heap_quota, std::uint64_t file_quota);
  std::optional<JobTotals> job(std::uint32_t job) const;
  // The processes of the job (tgids), as the maps know them now.
  std::vector<pid_t> members(std::uint32_t job) const;
  std::optional<std::uint32_t> job_of(pid_t tgid) const;

  // Nodes, keyed by task id in the supervisor's pid namespace (the initial one).
  bool add_node(pid_t pid, pid_t tgid);  // false: already registered
  std::optional<NodeCounters> node(pid_t pid) const;
  bool remove_node(pid_t pid);  // false: not registered
  Quotas quotas(pid_t pid) const;
  void set_quotas(pid_t pid, const Quotas& q);

  // The ring buffer of kills: a descriptor to poll, and the kills reported since last asked.
  int kills_fd() const;
  void drain(const std::function<void(const Kill&)>& each);

  // Map memory per tracked thread (a node and its quotas), in bytes, for docs/performance.md.
  static std::size_t bytes_per_node();

 private:
  struct Impl;
  explicit Engine(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
  double load_ms_ = 0;
};

}  // namespace sandbox::bpf
