// SPDX-License-Identifier: Apache-2.0
// control: what a client of the supervisor may ask of it from outside the targets -- the
// five operations, list, watch, and (for `sandbox serve`) letting a new target join.
//
// The control socket (server.*) and the CLI speak to a supervisor only through this
// interface, with plain values: errors are errno values plus a one-line message, never
// exceptions. Authorization is the implementation's job: root may act on any node, any
// other user only on targets whose real or saved uid is theirs (kill(2)'s rule); else EPERM.
#pragma once

#include <linux/filter.h>
#include <sys/socket.h>
#include <sys/types.h>

#include <cerrno>
#include <cstdint>
#include <functional>
#include <iterator>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "model/jobs.hpp"
#include "model/tracker.hpp"

namespace sandbox {

// A job (JobId, jobs.hpp): one launch -- the root `sandbox run` started or `sandbox-shim`
// joined, and everything that descends from it. Ids are never reused (0: none).

// Who is asking: from SO_PEERCRED on the socket, or the supervisor's own user for the CLI.
struct Caller {
  uid_t uid = 0;
  gid_t gid = 0;
  pid_t pid = 0;
  // Membership (Control::identify, docs/security.md "Who is inside"), from kernel facts:
  //  - inside, `job` != 0: a process of that job (known to us, or descending from one). It
  //    has exactly the rights its own system calls have (the ABI's) within its job,
  //    whatever its uid: no job operation but fetch, no lifting of an outside quota.
  //  - outside (`inside` false): the process ran under no seccomp filter when it was
  //    checked after connect(), so none of its calls could go through a listener of ours;
  //    judged by its uid (kill(2)'s rule).
  //  - unclassified (`inside` true, `job` 0): under some filter, not known to be ours or
  //    not (or gone, or not pinned): no rights at all, it sees and changes nothing.
  // Re-evaluated before each request (Control::reclassify): a client learnt later to be a
  // member becomes inside; nothing ever makes a client outside again.
  bool inside = false;
  JobId job = 0;
  bool unclassified() const { return inside && job == 0; }
};

struct OpResult {
  int err = 0;          // 0 or an errno value (EINVAL, ESRCH, ENFILE, EPERM, ...)
  std::string message;  // one line for humans; may be empty
  JobId job = 0;        // join: the new job
  bool ok() const { return err == 0; }
};

// What happened to a target, as the `watch` stream reports it.
struct Event {
  enum class Kind { registered, deregistered, exited, killed, quota_set, quota_reset, joined, exec, usage };
  static constexpr int kKinds = 9;
  Kind kind = Kind::registered;
  Pid pid = 0;
  Pid tgid = 0;
  std::optional<Violation> violation;             // killed: which quota, usage and limit
  std::optional<std::uint64_t> heap_quota_bytes;  // quota_set; usage: the node's (or job's) quotas
  std::optional<std::uint64_t> file_quota;        // quota_set; usage
  std::optional<std::uint64_t> heap_bytes;        // usage: the node's (or job's) heapsize now
  std::optional<std::uint64_t> open_files;        // usage: the node's (or job's) openfile_count now
  JobId job = 0;                                  // joined, killed, usage: the job (0: none)
  // usage, raw only (the trace): a job member's own share, for a process with no node of
  // its own; `member_ended` once more (zeros) when it leaves the job.
  bool member = false;
  bool member_ended = false;
  std::optional<JobViolation> job_violation;  // killed for a job quota (then `violation` is empty)
  std::string name;                           // killed: the process's name (comm), for messages
  // exec, known once the process makes its next call: the path that ran (the last one), or
  // with exec_failed every path tried (execvp's PATH search), none of which ran.
  std::vector<std::string> exec_paths;
  bool exec_failed = false;
  std::string container;  // served through --oci-listener: the container id
  // Stamped by the supervisor when the event is emitted (a coalesced usage event: when it
  // was decided to send it).
  std::uint64_t time_ns = 0;  // CLOCK_REALTIME
  char comm[16] = {};         // the process's name (TASK_COMM_LEN), NUL-terminated; "" if unknown
};
// The wire name of each event kind, in the enum's order: the one list from which to_string(),
// parse_event_kind() and every list of kinds in a help or error text are made. A new kind is
// its enumerator above, one row here and kKinds (the static_asserts check the three agree).
struct EventKindName {
  Event::Kind kind;
  std::string_view name;
};
inline constexpr EventKindName kEventKinds[] = {
    {Event::Kind::registered, "registered"}, {Event::Kind::deregistered, "deregistered"},
    {Event::Kind::exited, "exited"},         {Event::Kind::killed, "killed"},
    {Event::Kind::quota_set, "quota_set"},   {Event::Kind::quota_reset, "quota_reset"},
    {Event::Kind::joined, "joined"},         {Event::Kind::exec, "exec"},
    {Event::Kind::usage, "usage"},
};
static_assert(std::size(kEventKinds) == Event::kKinds, "a row in kEventKinds for every Event::Kind");
static_assert(
    [] {
      for (std::size_t i = 0; i < std::size(kEventKinds); ++i)
        if (static_cast<std::size_t>(kEventKinds[i].kind) != i) return false;
      return true;
    }(),
    "kEventKinds in the order of Event::Kind");

// The wire name of an event kind ("registered", ..., "usage"), for logs and the socket's
// watch stream.
inline const char* to_string(Event::Kind k) {
  const auto i = static_cast<std::size_t>(k);
  return i < std::size(kEventKinds) ? kEventKinds[i].name.data() : "event";
}
// The kind named `name`, or nullopt.
inline std::optional<Event::Kind> parse_event_kind(std::string_view name) {
  for (const EventKindName& k : kEventKinds)
    if (k.name == name) return k.kind;
  return std::nullopt;
}
// Every kind's name, in order, separated by `separator` (for help and error texts).
inline std::string event_kind_names(std::string_view separator) {
  std::string out;
  for (const EventKindName& k : kEventKinds) {
    if (!out.empty()) out += separator;
    out += k.name;
  }
  return out;
}

// Which events a watcher wants.
struct WatchFilter {
  Pid pid = 0;              // 0: every process; else events of this node or of its process
  JobId job = 0;            // 0: every job; else events about this job or one of its processes
  std::uint32_t kinds = 0;  // bits (1 << Kind); 0: every kind but usage
  // Usage events as they happen, not coalesced (for the trace writer in the same process;
  // not reachable from the socket).
  bool raw_usage = false;
  static constexpr std::uint32_t bit(Event::Kind k) { return 1u << static_cast<int>(k); }
  bool usage() const { return (kinds & bit(Event::Kind::usage)) != 0; }
  bool wants(const Event& e) const {
    if (kinds == 0 ? e.kind == Event::Kind::usage : (kinds & bit(e.kind)) == 0) return false;
    return (pid == 0 || e.pid == pid || e.tgid == pid) && (job == 0 || e.job == job);
  }
};

// Asking a long-running supervisor to take a new target (`sandbox-shim --socket`).
struct JoinRequest {
  int listener_fd = -1;  // the target's seccomp listener (ownership passes to join())
  pid_t pid = 0;         // the target (the shim's own pid; it execs CMD next)
  std::optional<std::uint64_t> heap_quota_bytes;
  std::optional<std::uint64_t> file_quota;
  bool track = false;
  Scope scope = Scope::job;           // the quotas cover the whole job, or the target's node only
  std::optional<HeapRule> heap_rule;  // nullopt: the server policy's (the filter must match)
};

// Delegation (docs/jobs.md): a process of a job asks for a nested job for its own child
// (`sandbox run` or `sandbox-shim` inside a sandboxed job). Quotas as in a join.
struct DelegateRequest {
  pid_t pid = 0;  // the child to move into the new job (the caller's direct child, in its job)
  std::optional<std::uint64_t> heap_quota_bytes;
  std::optional<std::uint64_t> file_quota;
  bool track = false;
  bool history = false;      // keep a record of every process (the nested run's -o)
  Scope scope = Scope::job;  // process: the quotas hold for the child's node only
};

class Control {
 public:
  virtual ~Control() = default;

  // Who a socket peer is: SO_PEERCRED's uid, gid and pid (as of connect()), and a pidfd
  // for that same process (SO_PEERPIDFD), or -1 if it could not be had. Classifies the
  // client inside, outside or unclassified (Caller).
  virtual Caller identify(const ucred& peer, int peer_pidfd) = 0;
  // Before each request of the connection: a client that has become known as a process
  // of a job since (its first notified call, its join) is inside from now on. Never
  // widens rights. The default (a control without membership) changes nothing.
  virtual void reclassify(Caller& c, int peer_pidfd) { (void)c, (void)peer_pidfd; }

  virtual OpResult register_node(const Caller& c, Pid pid) = 0;
  virtual OpResult fetch(const Caller& c, Pid pid, Node& out) = 0;
  virtual OpResult deregister(const Caller& c, Pid pid) = 0;
  // heap quota in MiB as in the ABI (-1 unlimited); files -1 unlimited.
  virtual OpResult resource_cap(const Caller& c, Pid pid, std::int64_t heap_mib, std::int64_t files) = 0;
  // The same with the heap quota in bytes (-1 unlimited).
  virtual OpResult resource_cap_bytes(const Caller& c, Pid pid, std::int64_t heap_bytes,
                                      std::int64_t files) = 0;
  virtual OpResult resource_reset(const Caller& c, Pid pid) = 0;
  // Every node the caller may act on.
  virtual std::vector<Node> list(const Caller& c) = 0;

  // Events as they happen, filtered for this caller. `fn` is called from the notify
  // thread with the supervisor's lock held: it must only queue the event (e.g. post it to
  // an io_context). Returns an id for unsubscribe().
  virtual std::uint64_t subscribe(const Caller& c, std::function<void(const Event&)> fn) = 0;
  // The same for the events `f` selects (usage events, coalesced to about ten per second
  // per node, only when f asks for them).
  virtual std::uint64_t subscribe(const Caller& c, const WatchFilter& f,
                                  std::function<void(const Event&)> fn) {
    return subscribe(c, [f, fn = std::move(fn)](const Event& e) {
      if (f.wants(e)) fn(e);
    });
  }
  virtual void unsubscribe(std::uint64_t id) = 0;
  // The metrics text (observe/metrics.hpp) of what this caller may see; EOPNOTSUPP when
  // the implementation has none.
  virtual OpResult metrics(const Caller& c, bool openmetrics, std::string& out) {
    (void)c, (void)openmetrics, (void)out;
    return {EOPNOTSUPP, "no metrics here"};
  }

  // Jobs (docs/protocol.md): not visible through 451-455. Authorization as for nodes, with
  // the job's owner (the uid of the process it was started for). The defaults are for
  // controls without jobs.
  virtual OpResult fetch_job(const Caller&, JobId, JobView&) { return {EOPNOTSUPP, "no jobs here"}; }
  // Quotas in bytes and a count (nullopt: unlimited).
  virtual OpResult cap_job(const Caller&, JobId, std::optional<std::uint64_t> /*heap_bytes*/,
                           std::optional<std::uint64_t> /*files*/) {
    return {EOPNOTSUPP, "no jobs here"};
  }
  virtual OpResult reset_job(const Caller&, JobId) { return {EOPNOTSUPP, "no jobs here"}; }
  // resource_cap with "replace": the node's (job's) quotas become these, whether or not it
  // had quotas, in one step under the supervisor's lock -- no moment without a limit. The
  // same rights as resource_reset followed by resource_cap (an inside caller cannot replace
  // an outside quota: EPERM; nor a uid other than its imposer's). nullopt: unlimited.
  virtual OpResult replace_cap(const Caller&, Pid, std::optional<std::uint64_t> /*heap_bytes*/,
                               std::optional<std::uint64_t> /*files*/) {
    return {EOPNOTSUPP, "replace: not supported here"};
  }
  virtual OpResult replace_job(const Caller&, JobId, std::optional<std::uint64_t> /*heap_bytes*/,
                               std::optional<std::uint64_t> /*files*/) {
    return {EOPNOTSUPP, "replace: not supported here"};
  }
  virtual std::vector<JobView> list_jobs(const Caller&) { return {}; }
  // The records of a job's processes (a nested run's -o); authorised as fetch_job.
  virtual OpResult job_records(const Caller&, JobId, std::vector<ProcessRecord>&) {
    return {EOPNOTSUPP, "no jobs here"};
  }
  // Delegation: a new job nested in the caller's, for the caller's child; `out` is the new
  // job as made (its quotas clamped to what the caller's job has left). Only an inside
  // caller (a process of a job) may ask, and only for its own direct child in its own job.
  virtual OpResult delegate(const Caller&, const DelegateRequest&, JobView& /*out*/) {
    return {EOPNOTSUPP, "delegate: not supported here"};
  }

  // `sandbox serve` only (others answer EOPNOTSUPP / an empty program): the BPF program a
  // joining target must install, and the join itself.
  virtual std::vector<sock_filter> filter_program() = 0;
  // The program for a job of this heap rule (the commit rule's notifies more calls).
  virtual std::vector<sock_filter> filter_program_for(HeapRule rule) {
    (void)rule;
    return filter_program();
  }
  virtual OpResult join(const Caller& c, JoinRequest request) = 0;
};

}  // namespace sandbox
