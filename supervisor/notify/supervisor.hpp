// SPDX-License-Identifier: Apache-2.0
// supervisor: the notify loop and the per-target state it owns, in files by concern:
// registry.cpp (processes, threads, pidfds, budgets, sweep, the walk to a job), loop.cpp
// (receivers, dispatch), events.cpp (subscribers, usage coalescing), authority.cpp (who may
// do what; Control on nodes), job_control.cpp (jobs, delegation), supervisor.cpp (joins);
// the event hub is a class of its own (event_hub.hpp, events.cpp; publish.cpp feeds it).
//
// One thread runs serve() for a listener: receive a notification, dispatch it through the
// syscall table to a handler (supervisor/handlers/*.cpp, one file per family), which
// returns a Reply (reply.hpp); the loop sends it and commits it if the kernel took it.
// Other threads (the CLI, the socket server) reach the model through the locked methods at
// the bottom. Everything below `private:` is guarded by mu_.
//
// Per-target state is keyed by kernel ids but never trusted across an id's lifetime:
// every process we know has a pidfd in an epoll set, and sweep() (run before every
// notification and every query) retires the state of tasks that have exited, so a reused
// pid never inherits a dead task's nodes, credentials or counters.
#pragma once

#include <linux/seccomp.h>

#include <array>
#include <atomic>
#include <cstdint>
#include <functional>
#include <list>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>
#include <unordered_map>
#include <vector>

#include "base/unique_fd.hpp"
#include "control/control.hpp"
#include "model/jobs.hpp"
#include "model/tracker.hpp"
#include "notify/control_adapter.hpp"
#include "notify/event_hub.hpp"
#include "notify/reply.hpp"
#include "open/emulation.hpp"
#include "open/waits.hpp"
#include "policy/policy.hpp"
#include "policy/syscalls.hpp"
#include "target/notify.hpp"
#include "target/target.hpp"

// The metrics text is observe's; this header names its types only (the engine fills a
// snapshot, observe formats it), so what includes the engine need not include observe.
namespace sandbox::observe {
struct MetricsSnapshot;
enum class MetricsFormat;
}  // namespace sandbox::observe

namespace sandbox {

class Supervisor final {
 public:
  struct Options {
    Policy policy;
    bool verbose = false;
    // Each job may hold 1/job_shares of the descriptors left for pidfds: 1 for `sandbox
    // run` (one tenant), more for `sandbox serve`.
    unsigned job_shares = 4;
  };
  explicit Supervisor(Options options);
  Supervisor(const Supervisor&) = delete;
  Supervisor& operator=(const Supervisor&) = delete;
  ~Supervisor();
  // The supervisor as the control plane sees it (control_adapter.hpp).
  Control& control() { return control_; }

  // A process launched under our filter, served through `channel`: it and its
  // descendants are in scope, as a new job (returned).
  JobId adopt_root(Pid pid, const NotifyChannel* channel = nullptr);

  // Runs the notify loop for one listener until `stop` is set (the thread is then woken
  // with stop_signal(), which serve() installs as a no-op handler) or the listener fails.
  // Several listeners may be served at once, each by its own thread.
  void serve(NotifyChannel& channel, const std::atomic<bool>& stop);
  static int stop_signal();  // SIGUSR1
  // Ends a thread running serve() whose stop flag is set: wakes it from a blocking RECV
  // with stop_signal() until it reports `done`, then joins it.
  static void finish(std::thread& t, const std::atomic<bool>& done);

  // Quotas from the command line or a policy on a launched root (Actor::outside).
  OpResult impose(Pid pid, const Policy& policy);
  // Shutdown: SIGKILL every process known to run under our filters (and their descendants
  // found in /proc), then stop the listener threads started by join().
  void kill_all();
  // For `sandbox serve`: retire the threads of joined listeners whose targets are all gone.
  // Cheap; call it now and then (the server does, on a timer).
  void maintain();
  std::size_t listeners() const;
  // One notification decided as the loop decides it (learn its caller, the job gate, its
  // handler), with the model's lock held; its Reply goes to `answer` instead of the kernel.
  // For tests: a handler's answer and commit, without a listener. `ch` is the channel the
  // call is said to come through (its job); nothing is sent on it but what a handler sends
  // itself (an open's checks).
  void decide(NotifyChannel& ch, const seccomp_notif& n, const std::function<void(Reply&)>& answer);
  // Notifications handled so far (for --verbose and benchmarks).
  std::uint64_t notifications() const;

  // Jobs (job_control.cpp). Every process whose calls come through `ch` belongs to a new
  // job, from its first call on; a Scope::job spec's quotas hold for all of them together.
  JobId start_job(NotifyChannel& ch, JobSpec spec);
  // The job and its processes' records, for the run's report (retires exited ones first).
  JobView job_view(JobId job);
  std::vector<ProcessRecord> job_history(JobId job);
  bool job_killed(JobId job);
  // The job's processes still running (pid, comm), by thread group: those known and those
  // found in /proc below them (run: below the supervisor, whose orphans they are) that run
  // under a seccomp filter -- the supervisor's own helpers (executors) do not.
  std::vector<std::pair<Pid, std::string>> live_members(JobId job);
  // `sandbox run` reaped one of its children (`status` from waitpid): its record gets the
  // exact ending.
  void reaped(Pid pid, int status);
  OpResult fetch_job(const Caller& c, JobId job, JobView& out);
  OpResult cap_job(const Caller& c, JobId job, std::optional<std::uint64_t> heap_bytes,
                   std::optional<std::uint64_t> files);
  OpResult reset_job(const Caller& c, JobId job);
  OpResult replace_job(const Caller& c, JobId job, std::optional<std::uint64_t> heap_bytes,
                       std::optional<std::uint64_t> files);
  std::vector<JobView> list_jobs(const Caller& c);
  OpResult job_records(const Caller& c, JobId job, std::vector<ProcessRecord>& out);
  // Delegation (job_control.cpp, docs/jobs.md): a job nested in the caller's, for its child.
  OpResult delegate(const Caller& c, const DelegateRequest& req, JobView& out);

  // Control (the socket, the CLI).
  Caller identify(const ucred& peer, int peer_pidfd);
  void reclassify(Caller& c, int peer_pidfd);
  OpResult register_node(const Caller& c, Pid pid);
  OpResult fetch(const Caller& c, Pid pid, Node& out);
  OpResult deregister(const Caller& c, Pid pid);
  OpResult resource_cap(const Caller& c, Pid pid, std::int64_t heap_mib, std::int64_t files);
  OpResult resource_cap_bytes(const Caller& c, Pid pid, std::int64_t heap_bytes, std::int64_t files);
  OpResult resource_reset(const Caller& c, Pid pid);
  OpResult replace_cap(const Caller& c, Pid pid, std::optional<std::uint64_t> heap_bytes,
                       std::optional<std::uint64_t> files);
  std::vector<Node> list(const Caller& c);
  std::uint64_t subscribe(const Caller& c, std::function<void(const Event&)> fn);
  std::uint64_t subscribe(const Caller& c, const WatchFilter& f, std::function<void(const Event&)> fn);
  void unsubscribe(std::uint64_t id);
  OpResult metrics(const Caller& c, bool openmetrics, std::string& out);

  // Observability. Usage events for watchers are coalesced (event_hub.hpp): at most one per
  // node per EventHub::kUsageIntervalNs; a change held back is sent by flush_usage(), which
  // the owner calls every interval or so (a timer on the io thread).
  void flush_usage();
  // What the metrics text shows to caller `c` (its own targets unless root).
  observe::MetricsSnapshot metrics_snapshot(const Caller& c);
  // The metrics text for `c`; per_target false: totals only (the open TCP endpoint's view).
  std::string metrics_text(const Caller& c, observe::MetricsFormat f, bool per_target);
  std::vector<sock_filter> filter_program();
  std::vector<sock_filter> filter_program_for(HeapRule rule);
  OpResult join(const Caller& c, JoinRequest request);
  // A target whose listener came from elsewhere than the target itself (an OCI runtime
  // through `sandbox serve --oci-listener`): serve `listener` for `pid` and its
  // descendants as one job (adopt_root + impose + start_job, as join does) with `quotas`
  // imposed from outside; under Scope::job they are the job's. `container` labels it in
  // list and events. The caller has checked that the listener is `pid`'s (oci_listener.cpp).
  OpResult attach(UniqueFd listener, Pid pid, const Policy& quotas, Scope scope,
                  const std::string& container);

 private:
  struct ThreadState {
    Pid tgid = 0;
    int closing_fd = -1;  // a close() of this fd was let through and may still be in flight
  };
  // One address space (mm_struct) and what the kernel keeps per mm: the break and the
  // data layout. Shared by the processes that use it (CLONE_VM, vfork); kcmp(KCMP_VM)
  // tells which (memory.cpp). See docs/design.md "Memory: predicting the result".
  struct AddressSpace {
    std::optional<target::Layout> layout;  // fixed from exec to exec (PR_SET_MM is refused)
    std::optional<std::uint64_t> brk;      // page-aligned mm->brk, followed call by call
    std::uint64_t brk_value = 0;           // mm->brk itself (what a refused brk returns)
    // An untracked growth let through and not yet confirmed (memory.cpp): the page-aligned
    // break cannot be below `brk_floor`, and `brk_floor_value` is mm->brk if it is there.
    std::optional<std::uint64_t> brk_floor;
    std::uint64_t brk_floor_value = 0;
    // That growth was certain to succeed when it was let through (memory.cpp,
    // brk_growth_certain): believed at the next tracked call unless a limit of the
    // process was changed from outside it since.
    bool brk_floor_certain = false;
    bool shared = false;  // other processes may use it: kcmp it against newcomers
    CommitMap commit;     // the commit rule: its mappings and charge (commit.cpp)
  };
  struct ProcState {
    Pid tgid = 0;
    UniqueFd pidfd;
    uid_t ruid = 0, suid = 0;          // for authorising outside callers
    JobId job = 0;                     // the launch it belongs to (never 0 once known)
    JobId budget = 0;                  // whose descriptor budget it uses: its job's top job
    Pid ppid = 0;                      // parent when first seen (memory.cpp: who may share an mm)
    std::shared_ptr<AddressSpace> mm;  // found at the first memory call; dropped at exec
    bool mm_was_shared = false;        // the mm it had before an exec (that may fail) was
    // RLIMIT_AS/RLIMIT_DATA (per thread group), cached until a limit change names this
    // process (setrlimit, prlimit64 with a new value are notified); then read at every call.
    std::optional<target::MemoryLimits> limits;
    bool limits_change = false;
    // The soft RLIMIT_NOFILE, for the fd-table check of tracked opens (files.cpp); cached
    // and turned off by the same limit changes. A "full" answer always reads it afresh.
    std::optional<std::uint64_t> nofile;
    // fd -> threads whose close of it was let through and may be in flight. Several: the
    // threads of a process may have fd tables of their own (unshare(CLONE_FILES)).
    // `reopened`: the last other thread that got this fd number from an ADDFD since; if the
    // closer shares that thread's table, its close is over (files.cpp, Closing). Asked only
    // when it matters, as the closer's next call usually settles the entry for free.
    struct Closing {
      Pid tid = 0;
      Pid reopened = 0;
    };
    std::unordered_multimap<int, Closing> closing;
    std::vector<Pid> threads;
    // An exec let through whose result is not known yet (lifecycle.cpp, settle_exec): the
    // paths asked for so far and the image before them. Kept only while someone watches.
    struct PendingExec {
      std::vector<std::string> paths;
      std::optional<target::ImageMark> before;
      Pid tid = 0;  // the thread that asked
    };
    std::optional<PendingExec> exec;
    char comm[16] = {};      // its name, from /proc status (refreshed when its leader is learnt anew)
    bool entered = false;    // in jobs_ (job_control.cpp: job_gate)
    bool name_stale = true;  // argv[0] to be read for the report (at first sight, after exec)
  };
  struct Call {
    NotifyChannel& ch;
    OpenEmulator& open;
    const seccomp_notif& n;
    Pid tid;
    Pid tgid;
    ProcState& proc;
    ThreadState& thread;
    // mu_, held. A handler that must wait (an open) releases it meanwhile; proc and thread
    // are then not to be used again (the process may be swept).
    std::unique_lock<std::mutex>& lock;
    opening::ReceiverPool* pool = nullptr;  // the serving threads, when there are several
    std::uint64_t arg(int i) const { return n.data.args[i]; }
  };
  class Directory;  // TaskDirectory over /proc, scoped to our targets
  // What a caller may see and do: the outside sees every job (authorised by uid); a target
  // (its ABI, or an inside socket client) sees only its own job, as Actor::target.
  struct View {
    Actor actor = Actor::outside;
    std::optional<JobId> job;  // nullopt: every job
    uid_t uid = 0;             // an outside caller's uid (for quotas imposed by someone else)
  };
  static View view_of(const Caller& c);
  // Quotas set from outside belong to the uid that set them (the supervisor's own for a
  // policy or the command line): another non-root uid may not lift or change them, even on
  // its own processes -- a tenant of a root `serve` cannot undo the operator's policy.
  // 0 when allowed, else EPERM.
  int imposed_by_other(const View& v, Pid pid) const;
  OpResult job_imposed_by_other(const Caller& c, JobId job) const;

  // The threads serving one listener (supervisor.cpp).
  struct Receivers;

  // The loop.
  void receive(Receivers& r, bool primary);
  // Decides `n` (with mu_ held in `lk`) and hands its Reply to `answer`, the lock held.
  void handle(NotifyChannel& ch, OpenEmulator& open, const seccomp_notif& n, std::unique_lock<std::mutex>& lk,
              opening::ReceiverPool* pool, const std::function<void(Reply&)>& answer);
  Reply dispatch(Call& c, Op op);
  // nullptr with `why` set to EAGAIN when the process's job is over its budget, else ENOSYS.
  ThreadState* learn(Pid tid, const NotifyChannel* channel = nullptr, int* why = nullptr);
  // `known`: the process's /proc status when the caller has just read it (saves a read);
  // `job`: its job when the caller knows it (the listener it was notified through).
  // nullptr if the process is gone -- or its job holds its whole budget of processes (one
  // pidfd each): then `why` is EAGAIN and the refusal is logged, naming the job.
  ProcState* ensure_proc(Pid tgid, const target::TaskStatus* known = nullptr, JobId job = 0,
                         int* why = nullptr);
  bool watch_node(Pid pid, Pid tgid);  // false: the process cannot be watched (gone, budget)
  void sweep();
  void forget_process(Pid tgid);
  void drop_threads(ProcState& p);
  bool in_scope(Pid tgid);
  // The job of a process in scope, or 0: a known process's own, else its nearest known
  // ancestor's (orphans reparented to us belong to the job of our own child).
  JobId job_of(Pid tgid);
  // The one walk up the ancestors to a job: the job of the nearest process we know (pid
  // itself first), the run's job for an orphan reparented to us, 0 for none. `parent_of`
  // gives a live process's parent (0: gone or unknown), from /proc or a snapshot of it;
  // `memo` (optional) remembers the answer for every pid on the way. Ancestry::nested: a
  // launcher's descendants are in the job it delegated (job_of); own: the launcher's job.
  enum class Ancestry { own, nested };
  JobId ancestor_job(Pid pid, Ancestry how, const std::function<Pid(Pid)>& parent_of,
                     std::unordered_map<Pid, JobId>* memo = nullptr) const;
  bool visible(const View& v, Pid tgid) { return !v.job || job_of(tgid) == *v.job; }
  OpResult authorize(const Caller& c, Pid pid);
  // The model's lock, with the state of exited tasks retired first (sweep): what every query
  // and outside operation starts with.
  [[nodiscard]] std::unique_lock<std::mutex> swept() {
    std::unique_lock lk(mu_);
    sweep();
    return lk;
  }
  // The authority's gate, written once: swept(), then the caller's right over node `pid`
  // (authorize) or over job `job` (authorize_job, or authorize_job_change for a change);
  // `op` runs only when granted, under the lock, and gives the answer.
  template <typename F>
  OpResult with_node(const Caller& c, Pid pid, F&& op) {
    const auto lk = swept();
    if (auto a = authorize(c, pid); !a.ok()) return a;
    return op(view_of(c));
  }
  enum class JobRight { read, change };
  template <typename F>
  OpResult with_job(const Caller& c, JobId job, JobRight right, F&& op) {
    const auto lk = swept();
    if (auto a = right == JobRight::change ? authorize_job_change(c, job) : authorize_job(c, job); !a.ok())
      return a;
    return op();
  }
  // The five operations for a caller's view, with the lock held: 0 or the contract's errno.
  int op_register(const View& v, Pid pid);
  int op_fetch(const View& v, Pid pid, Node& out);
  int op_deregister(const View& v, Pid pid);
  using CapFn = std::function<int(Actor, std::optional<Violation>& enforce)>;  // one resource_cap form
  int op_cap(const View& v, Pid pid, const CapFn& cap);
  int op_reset(const View& v, Pid pid);
  OpResult result(int err, Pid pid, Op op);  // the contract's error, with a message

  // Quota gate: false if `d` would cross a quota; the process is then killed, and the
  // handler answers with an error so the call never takes effect.
  bool admit(Call& c, const Delta& d);
  void kill_for(const Violation& v);
  // Jobs (job_control.cpp). job_gate() runs before every dispatch: it puts a new process in
  // its channel's job, and answers the calls of a killed job's stragglers (a Reply).
  std::optional<Reply> job_gate(Call& c);
  bool counted(const Call& c) const;     // the call must be accounted: a node or a counting job
  void charge(Call& c, const Delta& d);  // apply `d` to the caller's nodes and its job share
  void kill_job(const JobViolation& v);
  void kill_job_descendants(JobId job);  // members not seen yet, found through /proc
  JobId job_by_ancestry(Pid pid);        // the job of pid or of its nearest known ancestor
  // A delegation's launcher ended: its nested job (and all nested in it) is killed, quietly
  // (no quota was crossed). Its descendants could otherwise climb out of the nested job's
  // parent links, which lead through the launcher while it lives.
  void end_nested(JobId job);
  // An inside caller sees and acts on its own job and the jobs nested in it, no other
  // (ESRCH, as for a job that does not exist): the inner of a delegation never reaches the
  // outer job.
  OpResult nested_rights(const Caller& c, JobId job) const;
  OpResult authorize_job(const Caller& c, JobId job);
  // cap_job and replace_job once authorized (after the reset for a replace), the lock held.
  OpResult set_job_quotas(const Caller& c, JobId job, std::optional<std::uint64_t> heap_bytes,
                          std::optional<std::uint64_t> files, bool replace);
  // authorize_job, and the right to set, replace or reset its quotas: outside callers only.
  OpResult authorize_job_change(const Caller& c, JobId job);
  // After a call changed counters: usage events for nodes tid and tgid (publish.cpp).
  void publish_usage(Pid tid, Pid tgid);

  // Handlers, one file per family under supervisor/handlers/. Each returns its answer; the
  // loop sends it and runs its commit only if the kernel took it (reply.hpp).
  Reply on_brk(Call& c);  // memory.cpp
  // brk: the break known (read or confirmed from /proc; false: unreadable, the process is
  // exiting), and a growth the kernel would refuse (overcommit, may_expand_vm).
  bool brk_known(Call& c, AddressSpace& mm, bool charged);
  bool brk_growth_refused(Call& c, const target::MemoryLimits& lim, std::uint64_t pages);
  Reply on_mmap(Call& c);              // memory.cpp
  Reply on_open(Call& c, Op op);       // files.cpp
  Reply on_close(Call& c);             // files.cpp
  Reply on_exit(Call& c, bool group);  // lifecycle.cpp
  Reply on_execve(Call& c);            // lifecycle.cpp
  void settle_exec(Call& c);           // lifecycle.cpp: the first call after an exec
  Reply on_credentials(Call& c);       // lifecycle.cpp
  Reply on_root_change(Call& c);       // lifecycle.cpp
  Reply on_rlimit_change(Call& c);     // memory.cpp
  Reply on_vm_clone(Call& c);          // memory.cpp
  // The commit rule (commit.cpp): every mmap, munmap, mprotect, mremap of its jobs.
  bool commit_rule(const Call& c) const;
  Reply on_mmap_commit(Call& c);
  Reply on_munmap(Call& c);
  Reply on_mprotect(Call& c);
  Reply on_mremap(Call& c);
  // A copy of the caller's commit map to change, loaded at first sight (after an exec, a
  // fork child) and synced when `sync` asks; `d` gets what that costs. false: /proc could
  // not be read (the process is exiting).
  bool commit_prepare(Call& c, bool sync, CommitMap& next, Delta& d);
  // A process's first call: its mm is charged (false: that crossed a quota, killed).
  bool commit_first_sight(Call& c);
  // Counts `d` and keeps `next` if the kernel takes the answer; the quota check first.
  Reply commit_answer(Call& c, CommitMap&& next, const Delta& d);
  // brk under the commit rule (memory.cpp calls it once the answer was taken).
  void commit_brk(Call& c, std::uint64_t oldbrk, std::uint64_t newbrk);
  // Kernel rule, for the kill line: how much of the charge is no longer mapped in the
  // job's (or the process's) live processes, read from /proc at the kill.
  std::uint64_t unmapped_at_kill(JobId job, Pid tgid, std::uint64_t charged);
  target::MemoryLimits memory_limits(Call& c);
  AddressSpace& address_space(Call& c);
  Reply on_abi(Call& c, Op op);  // abi.cpp

  // files.cpp: the end of an open, under the lock again.
  struct OpenCall;
  Reply finish_open(OpenCall& o, OpenOutcome& out);
  void keep_nofile(Pid tgid, std::optional<std::uint64_t> nofile);

  // Coalesced for watchers, as for nodes (raw for the trace); a job no process is left in
  // is never held back (its last value arrives).
  void publish_job_usage(JobId job);
  // The trace's per-process view of a job: a member without a node, its share (raw only).
  void publish_member_usage(Pid tgid, bool ended);
  struct Joined {  // a listener handed over by `sandbox-shim --socket`, with its thread
    std::unique_ptr<SeccompListener> listener;
    std::atomic<bool> stop{false};
    std::atomic<bool> done{false};
    std::thread thread;
  };

  Options opt_;
  Dispatch dispatch_;
  target::Overcommit overcommit_;
  // A limit change (setrlimit/prlimit64) named a process other than its caller's: from then
  // on an untracked brk growth is never believed unconfirmed (memory.cpp).
  bool foreign_limit_change_ = false;
  target::AddressSpaceFacts facts_;

  mutable std::mutex mu_;
  std::unique_ptr<Directory> directory_;
  Tracker tracker_;
  std::vector<OpenEmulator*> emulators_;  // one per serving thread
  UniqueFd epoll_;                        // pidfds of known processes and of thread nodes
  std::unordered_map<Pid, ProcState> procs_;
  std::unordered_map<Pid, ThreadState> threads_;
  std::unordered_map<Pid, std::pair<Pid, UniqueFd>> thread_nodes_;  // tid -> (tgid, pidfd)
  std::vector<Pid> roots_;
  std::unordered_map<const NotifyChannel*, JobId> channel_jobs_;
  // Descriptors: the supervisor holds one pidfd per known process. Each job may hold at
  // most its share (Options::job_shares) of what RLIMIT_NOFILE leaves after a reserve, so one tenant that
  // starts hundreds of processes fails alone (EAGAIN, logged with the cause) and never starves the others or
  // the control socket. A tenant (the uid owning the jobs) may hold two shares across all its jobs, each
  // join counted as kJoinFds (its listener, its open emulator): joining many times takes no more.
  struct JobUse {
    Pid root = 0;
    uid_t owner = 0;  // the root's real uid: the tenant whose share the job draws on
    std::size_t procs = 0;
    bool joined = false;    // a join of `serve` (its kJoinFds are the tenant's until it ends)
    bool refusing = false;  // logged once per episode
  };
  struct TenantUse {
    std::size_t procs = 0, joins = 0;
    bool refusing = false;  // logged once per episode
  };
  std::size_t tenant_fds(const TenantUse& t) const;
  std::unordered_map<JobId, JobUse> job_use_;
  std::unordered_map<uid_t, TenantUse> tenant_use_;
  std::uint64_t fd_limit_ = 0;
  std::size_t job_budget_ = 0;
  std::size_t tenant_budget_ = 0;  // two shares, across a tenant's jobs
  JobId orphan_job_ = 0;           // the job of our own child root: its orphans are reparented to us
  // Delegation: a launcher (the process that asked) -> the nested job it asked for; its
  // descendants are in that job (job_of). And each nested job's launcher, for maintain().
  std::unordered_map<Pid, JobId> launchers_;
  std::unordered_map<JobId, Pid> nested_;
  std::unordered_map<JobId, std::string> job_containers_;  // a container's job -> its id (attach)
  std::list<Joined> joined_;
  std::vector<sock_filter> filter_;        // built once, for join()
  std::vector<sock_filter> other_filter_;  // the same for the other heap rule, if asked
  std::uint64_t notifications_ = 0;
  bool any_vm_clone_ = false;  // a CLONE_VM clone or vfork was let through: mms may be shared
  Pid self_ = 0;
  // Observability: counters for the metrics.
  std::array<std::uint64_t, kMaxSyscallNr> by_nr_{};  // notifications by syscall number
  std::uint64_t kills_heap_ = 0, kills_files_ = 0;
  std::uint64_t unattributed_ = 0;  // calls refused (ENOSYS) because no task could be learnt
  Jobs jobs_;
  std::unordered_map<Pid, uid_t> node_imposer_;   // node pid -> uid that set its quotas from outside
  std::unordered_map<JobId, uid_t> job_imposer_;  // job -> uid that set its quotas
  // The event hub (event_hub.hpp), with its own lock, taken after mu_ (never before): every
  // emit is made with mu_ held, since the hub asks hub_source_ about our state.
  struct HubSource final : EventHub::Source {
    explicit HubSource(const Supervisor& sup) : s(sup) {}
    EventHub::Owner stamp(Event& e) const override;
    bool within(JobId job, JobId outer) const override;
    const Supervisor& s;
  };
  HubSource hub_source_{*this};
  EventHub hub_{hub_source_};
  SupervisorControl control_{*this};  // what the control plane holds (control())

  // Opens (files.cpp): the caches every serving thread's emulator shares, and the watch
  // on opens that take long (signals, death).
  std::shared_ptr<OpenEmulator::Shared> open_shared_ = OpenEmulator::make_shared_state();
  opening::Waits waits_{stop_signal()};
};

}  // namespace sandbox
