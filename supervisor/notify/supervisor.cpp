// SPDX-License-Identifier: Apache-2.0
#include "notify/supervisor.hpp"

#include <dirent.h>
#include <linux/audit.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "base/log.hpp"
#include "base/proc.hpp"

namespace sandbox {
namespace {

enum WatchKind : std::uint64_t { kProcess = 1, kThreadNode = 2 };
std::uint64_t watch_key(WatchKind k, Pid pid) {
  return (k << 32) | static_cast<std::uint32_t>(pid);
}

void on_stop_signal(int) {}

// Descriptors kept for everything but per-process pidfds: listeners, open emulators,
// control sessions, files being opened for targets.
constexpr std::uint64_t kFdReserve = 64;
constexpr std::uint64_t kMinJobBudget = 16;
// What a join holds besides its pidfds (the listener, the open emulator's descriptors),
// counted in its tenant's share.
constexpr std::size_t kJoinFds = 4;

const char* errno_name(int e) {
  switch (e) {
    case EINVAL: return "EINVAL";
    case ESRCH: return "ESRCH";
    case ENFILE: return "ENFILE";
    case EPERM: return "EPERM";
    case EAGAIN: return "EAGAIN";
    default: return strerrordesc_np(e);
  }
}

}  // namespace

// "Is pid a live task in the sandbox's scope?" answered from /proc. A task is in scope
// when its process is one we have seen a notification from, or descends from a root we
// launched (orphans are reparented to us: `sandbox run` makes the supervisor a subreaper).
// While `view` is set (a target's own call), only the tasks of that job are in scope: the
// tracker's answers for anything else are those for a task that does not exist.
class Supervisor::Directory final : public TaskDirectory {
 public:
  explicit Directory(Supervisor& s) : s_(s) {}
  std::optional<TaskFacts> live_task(Pid pid) override {
    if (pid < 1) return std::nullopt;
    const auto st = target::status(pid);
    if (!st || !st->alive()) return std::nullopt;
    const JobId job = s_.job_of(st->tgid);
    if (job == 0 || (view && *view != job)) return std::nullopt;
    return TaskFacts{st->tgid};
  }
  std::optional<JobId> view;

 private:
  Supervisor& s_;
};

namespace {
// Sets the directory's view for one tracker operation.
template <typename D>
struct ViewGuard {
  D& d;
  ViewGuard(D& dir, std::optional<JobId> job) : d(dir) { d.view = job; }
  ~ViewGuard() { d.view.reset(); }
};
}  // namespace

Supervisor::Supervisor(Options options)
    : opt_(std::move(options)),
      dispatch_(build_dispatch(opt_.policy)),
      overcommit_(target::overcommit()),
      facts_(target::address_space_facts()),
      directory_(std::make_unique<Directory>(*this)),
      tracker_(*directory_),
      epoll_(::epoll_create1(EPOLL_CLOEXEC)),
      self_(::getpid()) {
  fd_limit_ = proc::raise_nofile_limit();
  (void)target::open_fd_anchor();
  const std::uint64_t pool = fd_limit_ > kFdReserve ? fd_limit_ - kFdReserve : 0;
  job_budget_ = std::max<std::uint64_t>(kMinJobBudget, pool / std::max(1u, opt_.job_shares));
  // A tenant (uid) may hold two jobs' shares across all its jobs: one uid starting many jobs
  // leaves at least half of the pool to the others.
  tenant_budget_ = std::max<std::uint64_t>(job_budget_, std::min<std::uint64_t>(pool, 2 * job_budget_));
}

std::size_t Supervisor::tenant_fds(const TenantUse& t) const {
  return t.procs + t.joins * kJoinFds;
}

Supervisor::~Supervisor() {
  for (auto& j : joined_) j.stop.store(true);
  for (auto& j : joined_) finish(j.thread, j.done);
}

int Supervisor::stop_signal() {
  return SIGUSR1;
}

void Supervisor::finish(std::thread& t, const std::atomic<bool>& done) {
  // A signal sent just before the thread enters RECV is lost, so send until it has left.
  while (!done.load()) {
    ::pthread_kill(t.native_handle(), stop_signal());
    const timespec tick{0, 20'000};
    ::nanosleep(&tick, nullptr);  // waiting for the thread to notice, not a synchronisation
  }
  t.join();
}

JobId Supervisor::adopt_root(Pid pid, const NotifyChannel* channel) {
  std::lock_guard lk(mu_);
  roots_.push_back(pid);
  // The job's identity; start_job() gives it its quotas once they are known.
  JobSpec spec;
  spec.root = pid;
  const JobId job = jobs_.create(spec);
  if (channel) channel_jobs_[channel] = job;
  job_use_[job].root = pid;
  // The tenant: whose uid the root runs as (read before its pidfd, so for a reused pid it
  // names the wrong uid only for a process that is gone; ensure_proc then fails).
  if (const auto st = target::status(pid)) job_use_[job].owner = st->ruid;
  if (ProcState* p = ensure_proc(pid, nullptr, job)) p->job = job;
  // Our own child (`sandbox run`'s CMD): as a subreaper we inherit its orphans, and they
  // stay in its job. (A `serve` root is someone else's child; its orphans go elsewhere.)
  if (const auto st = target::status(pid); st && st->ppid == self_ && orphan_job_ == 0) orphan_job_ = job;
  return job;
}

bool Supervisor::in_scope(Pid tgid) {
  return job_of(tgid) != 0;
}

JobId Supervisor::job_of(Pid tgid) {
  // The supervisor itself is never in scope (the contract limits scope to CMD and its
  // descendants); a process whose parent is the supervisor is either a root (known) or an
  // orphan reparented to us. A parent link of a live process names a live process, so
  // the walk never crosses a reused pid; it ends at a process we know (pidfd-tracked).
  // Delegation: the descendants of a launcher are in the nested job it asked for. Safe
  // because a process of that job cannot get a parent outside it while the launcher lives:
  // the nested job's root is the launcher's child, clone(CLONE_PARENT) gives a child its
  // caller's own parent, orphans go to the nearest subreaper (the launcher is one), and the
  // launcher's end kills the nested job (end_nested).
  const Pid start = tgid;
  for (int depth = 0; tgid > 1 && tgid != self_ && depth < 4096; ++depth) {
    if (auto it = procs_.find(tgid); it != procs_.end()) {
      if (const auto l = launchers_.find(tgid); tgid != start && l != launchers_.end()) return l->second;
      return it->second.job;
    }
    const auto st = target::status(tgid);
    if (!st) return 0;
    if (st->ppid == self_) return orphan_job_;
    tgid = st->ppid;
  }
  return 0;
}

Supervisor::ProcState* Supervisor::ensure_proc(Pid tgid, const target::TaskStatus* known, JobId job,
                                               int* why) {
  if (auto it = procs_.find(tgid); it != procs_.end()) return &it->second;
  // The job first, while the process is not known yet (else job_of would find it).
  if (job == 0) job = job_of(tgid);
  // A nested job uses its top job's budget: delegating cannot multiply a tenant's share.
  const JobId budget = jobs_.top(job);
  JobUse* use = job ? &job_use_[budget] : nullptr;
  TenantUse* tenant = use ? &tenant_use_[use->owner] : nullptr;
  if (tenant && tenant_fds(*tenant) >= tenant_budget_ && use->procs < job_budget_) {
    // The job is within its share, its tenant is not: the same refusal, named for the uid.
    if (why) *why = EAGAIN;
    if (!tenant->refusing) {
      tenant->refusing = true;
      log::printf(log::Level::warn,
                  "sandbox: uid %u holds %zu processes and %zu joins, its share of the supervisor's "
                  "descriptors across its jobs (RLIMIT_NOFILE %llu): pid %d and further new processes of "
                  "this uid are refused (EAGAIN) until some exit",
                  static_cast<unsigned>(use->owner), tenant->procs, tenant->joins,
                  static_cast<unsigned long long>(fd_limit_), tgid);
    }
    return nullptr;
  }
  if (use && use->procs >= job_budget_) {
    if (why) *why = EAGAIN;
    if (!use->refusing) {
      use->refusing = true;
      log::printf(
          log::Level::warn,
          "sandbox: job of root pid %d holds %zu processes, its share of the supervisor's descriptors "
          "(one pidfd per process, RLIMIT_NOFILE %llu): pid %d and further new processes of this job "
          "are refused (EAGAIN) until some exit",
          use->root, use->procs, static_cast<unsigned long long>(fd_limit_), tgid);
    }
    return nullptr;
  }
  // pidfd first: from here on, a reuse of this pid is visible as the pidfd's exit.
  const int fd = target::pidfd_open(tgid, false);
  if (fd < 0) {
    if (why) *why = fd == -EMFILE || fd == -ENFILE ? EAGAIN : ENOSYS;
    if (fd == -EMFILE || fd == -ENFILE)
      log::printf(log::Level::warn,
                  "sandbox: pidfd_open(%d): %s (RLIMIT_NOFILE %llu): its calls are refused (EAGAIN)", tgid,
                  std::strerror(-fd), static_cast<unsigned long long>(fd_limit_));
    return nullptr;
  }
  if (use) ++use->procs, ++tenant->procs;
  ProcState p;
  p.tgid = tgid;
  p.job = job;
  p.budget = budget;
  p.pidfd.reset(fd);
  // Read after the pidfd, so the uids are this process's (a reuse would show as its exit);
  // a `known` status comes from a thread blocked in our notification, alive all along.
  const auto st = known ? std::optional<target::TaskStatus>(*known) : target::status(tgid);
  if (st) {
    p.ruid = st->ruid, p.suid = st->suid, p.ppid = st->ppid;
    std::memcpy(p.comm, st->name, sizeof p.comm);
  }
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.u64 = watch_key(kProcess, tgid);
  ::epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, fd, &ev);
  return &procs_.emplace(tgid, std::move(p)).first->second;
}

bool Supervisor::watch_node(Pid pid, Pid tgid) {
  // A node needs its process watched: else its exit would go unseen and a reused pid
  // could inherit the node.
  if (!ensure_proc(tgid)) return false;
  if (pid == tgid || thread_nodes_.contains(pid)) return true;
  const int fd = target::pidfd_open(pid, true);  // PIDFD_THREAD: readable when the thread exits
  if (fd < 0) return true;  // older kernel (or no fd): the thread's exit() notification removes it
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.u64 = watch_key(kThreadNode, pid);
  ::epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, fd, &ev);
  thread_nodes_.emplace(pid, std::make_pair(tgid, UniqueFd(fd)));
  return true;
}

Supervisor::ThreadState* Supervisor::learn(Pid tid, const NotifyChannel* channel, int* why) {
  if (auto it = threads_.find(tid); it != threads_.end()) return &it->second;
  const auto st = target::status(tid);
  if (!st) return nullptr;
  // A notified process runs under the filter of that listener, and a process under a
  // filter with a listener can never install another: the listener names its job exactly,
  // even for an orphan whose parent links no longer lead to the root.
  JobId job = 0;
  if (auto it = channel_jobs_.find(channel); it != channel_jobs_.end()) job = it->second;
  // ... or a job nested in it (delegation), found through the launcher (job_of); never a job
  // outside the listener's.
  if (!launchers_.empty() && !procs_.contains(st->tgid))
    if (const JobId nested = job_of(st->tgid); nested != job && jobs_.within(nested, job)) job = nested;
  // The thread's status stands for its process's when it is the leader.
  ProcState* p = ensure_proc(st->tgid, st->tgid == tid ? &*st : nullptr, job, why);
  if (!p) return nullptr;
  if (st->tgid == tid) std::memcpy(p->comm, st->name, sizeof p->comm);  // e.g. the first call after an exec
  p->threads.push_back(tid);
  return &threads_.emplace(tid, ThreadState{st->tgid, -1}).first->second;
}

void Supervisor::drop_threads(ProcState& p) {
  for (Pid t : p.threads) threads_.erase(t);
  p.threads.clear();
}

void Supervisor::forget_process(Pid tgid) {
  auto it = procs_.find(tgid);
  if (it != procs_.end()) {
    if (auto u = job_use_.find(it->second.budget); u != job_use_.end()) {
      if (u->second.procs > 0) --u->second.procs;
      if (u->second.procs < job_budget_) u->second.refusing = false;
      TenantUse& t = tenant_use_[u->second.owner];
      if (t.procs > 0) --t.procs;
      if (tenant_fds(t) < tenant_budget_) t.refusing = false;
    }  // kept when empty (a few bytes per job): a later orphan of the job is still named by its root
    drop_threads(it->second);
    procs_.erase(it);  // closes the pidfd, which also leaves the epoll set
  }
  usage_state_.erase(tgid);
  for (auto t = thread_nodes_.begin(); t != thread_nodes_.end();) {
    if (t->second.first == tgid) usage_state_.erase(t->first);
    t = t->second.first == tgid ? thread_nodes_.erase(t) : std::next(t);
  }
  std::erase(roots_, tgid);  // a later process with this pid is not ours by that title
  // Each serving thread caches credentials by tid: none may outlive the process.
  for (OpenEmulator* e : emulators_) e->forget_process(tgid);
}

void Supervisor::sweep() {
  epoll_event evs[64];
  for (;;) {
    const int n = ::epoll_wait(epoll_.get(), evs, 64, 0);
    if (n <= 0) return;
    for (int i = 0; i < n; ++i) {
      const auto kind = evs[i].data.u64 >> 32;
      const auto pid = static_cast<Pid>(evs[i].data.u64 & 0xffffffffu);
      if (kind == kProcess) {
        if (const auto l = launchers_.find(pid); l != launchers_.end()) {
          const JobId nested = l->second;
          launchers_.erase(l);
          end_nested(nested);
        }
        const bool had_node = tracker_.find(pid) != nullptr;
        tracker_.process_exited(pid);
        const JobId job = jobs_.job_of(pid);
        jobs_.leave(pid, Ending::unknown, -1);
        if (job != 0 && (usage_raw_ | usage_coalesced_) != 0) publish_job_usage(job);
        if (job != 0 && !had_node) publish_member_usage(pid, true);
        if (had_node) emit({Event::Kind::exited, pid, pid});
        forget_process(pid);
      } else if (auto t = thread_nodes_.find(pid); t != thread_nodes_.end()) {
        const Pid tgid = t->second.first;
        tracker_.thread_exited(pid, tgid);
        thread_nodes_.erase(t);
        usage_state_.erase(pid);
        emit({Event::Kind::exited, pid, tgid});
      }
    }
    if (n < 64) return;
  }
}

// The threads serving one listener. Normally one thread receives and handles each call in
// turn, as cheaply as a single loop. A call that may wait (an open: a FIFO, a lease, a
// device, a path in userfaultfd memory) runs without the model's lock and is watched
// (opening::Waits); once it has waited kPatience while no other thread receives, the pool
// wakes a parked thread, or starts one, to receive meanwhile. A thread that finishes a call
// while another one receives parks instead of receiving too (two receivers would take turns,
// which costs a cross-thread wake-up per call). There are at most as many threads as calls
// waiting at once, plus one (bounded at kThreadsMax per listener). When the wait is over the
// started threads go again, with their emulator's descriptors and stack: one that finishes a
// call while the first thread is parked and no one receives hands receiving back to it and
// leaves, and one parked for kIdle leaves. So after a burst a listener is served by its first
// thread alone, as before it.
struct Supervisor::Receivers final : opening::ReceiverPool {
  static constexpr int kParkedMax = 8;
  static constexpr int kThreadsMax = 4096;
  static constexpr std::size_t kStack = 512 * 1024;
  static constexpr std::chrono::seconds kIdle{1};
  static constexpr int kIdleMs = 1000;

  Receivers(Supervisor& s, NotifyChannel& c, const std::atomic<bool>& st) : sup(s), ch(c), stop(st) {}
  Supervisor& sup;
  NotifyChannel& ch;
  const std::atomic<bool>& stop;
  pthread_t primary = ::pthread_self();
  std::atomic<bool> failed{false};  // the listener failed or the pool ends: every thread leaves
  std::atomic<int> receiving{0};    // threads in (or about to enter) RECV
  std::mutex mu;
  std::condition_variable unpark;
  int parked = 0, wakeups = 0;   // guarded by mu
  bool primary_parked = false;   // guarded by mu
  bool handback = false;         // guarded by mu: the primary is asked to receive again
  std::vector<pthread_t> extra;  // started threads still running (guarded by mu)

  bool running() const {
    return !stop.load(std::memory_order_relaxed) && !failed.load(std::memory_order_relaxed);
  }
  void ensure_receiver() override {
    std::lock_guard lk(mu);
    if (!running() || receiving.load() > 0) return;
    if (parked > wakeups) {
      ++wakeups;
      receiving.fetch_add(1);  // counted from now: no second wake-up for the same need
      unpark.notify_one();
      return;
    }
    start_locked();
  }
  void start_locked() {
    if (static_cast<int>(extra.size()) + 1 >= kThreadsMax) return;
    pthread_attr_t attr;
    ::pthread_attr_init(&attr);
    ::pthread_attr_setstacksize(&attr, kStack);
    ::pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    sigset_t all, old;
    sigfillset(&all);
    ::pthread_sigmask(SIG_BLOCK, &all, &old);  // it unblocks only the stop signal
    pthread_t t{};
    receiving.fetch_add(1);
    if (::pthread_create(&t, &attr, &Receivers::body, this) == 0)
      extra.push_back(t);
    else
      receiving.fetch_sub(1);  // no thread: the listener waits for the busy ones
    ::pthread_sigmask(SIG_SETMASK, &old, nullptr);
    ::pthread_attr_destroy(&attr);
  }
  // A started thread whose need is over: the primary is parked and no one receives, so the
  // primary takes receiving back (counted from now, as a wake-up is) and this one leaves.
  // One cross-thread wake-up per burst, not per call. True when handed back.
  bool hand_back() {
    std::lock_guard lk(mu);
    if (!primary_parked || handback || receiving.load() != 0 || !running()) return false;
    handback = true;
    receiving.fetch_add(1);
    unpark.notify_all();
    return true;
  }
  bool primary_is_parked() {
    std::lock_guard lk(mu);
    return primary_parked;
  }
  // After a call: false when this thread should leave. Parks while another thread receives.
  bool park(bool is_primary) {
    if (!is_primary && hand_back()) return false;
    if (receiving.load() == 0) return true;
    std::unique_lock lk(mu);
    if (!is_primary && parked >= kParkedMax) return false;
    ++parked;
    if (is_primary) primary_parked = true;
    const auto idle_until = std::chrono::steady_clock::now() + kIdle;
    bool retire = false;
    // With a deadline: the stop flag is set by a thread that only signals us, and a signal
    // does not end a condition variable's wait.
    while (!unpark.wait_for(lk, std::chrono::milliseconds(50),
                            [&] { return wakeups > 0 || (is_primary && handback) || !running(); })) {
      if (!is_primary && std::chrono::steady_clock::now() >= idle_until) {
        retire = true;  // no wake-up taken: the pool does not count on this thread
        break;
      }
    }
    --parked;
    if (is_primary) primary_parked = false;
    if (retire) return false;
    if (is_primary && handback) {
      handback = false;
      receiving.fetch_sub(1);  // receive() counts itself again
    } else if (wakeups > 0) {
      --wakeups;
      receiving.fetch_sub(1);  // receive() counts itself again
    }
    return running();
  }
  static void* body(void* arg) {
    auto& r = *static_cast<Receivers*>(arg);
    r.receiving.fetch_sub(1);  // receive() counts itself
    r.sup.receive(r, false);
    std::lock_guard lk(r.mu);
    std::erase_if(r.extra, [](pthread_t t) { return ::pthread_equal(t, ::pthread_self()); });
    return nullptr;
  }
};

void Supervisor::serve(NotifyChannel& channel, const std::atomic<bool>& stop) {
  struct sigaction sa {};
  sa.sa_handler = on_stop_signal;  // no SA_RESTART: the blocking RECV returns EINTR
  ::sigaction(stop_signal(), &sa, nullptr);
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, stop_signal());
  ::pthread_sigmask(SIG_UNBLOCK, &set, nullptr);
  Receivers r{*this, channel, stop};
  receive(r, true);
  // Leaving: the other threads are parked, wait in RECV, or in a call that the stop
  // signal interrupts.
  r.failed.store(true);
  for (;;) {
    {
      std::lock_guard lk(r.mu);
      r.unpark.notify_all();
      if (r.extra.empty()) break;
      for (pthread_t t : r.extra) ::pthread_kill(t, stop_signal());
    }
    const timespec tick{0, 200'000};
    ::nanosleep(&tick, nullptr);  // waiting for the threads to notice, not a synchronisation
  }
}

void Supervisor::receive(Receivers& r, bool primary) {
  OpenEmulator open(open_shared_);  // per thread: it owns this thread's private fs_struct
  if (int rc = open.init(); rc < 0)
    log::printf(log::Level::error, "sandbox: open emulation for a listener cannot start: %s%s",
                std::strerror(-rc), rc == -EMFILE || rc == -ENFILE ? " (out of file descriptors)" : "");
  if (!primary) {
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, stop_signal());
    ::pthread_sigmask(SIG_UNBLOCK, &set, nullptr);
  }
  {
    std::lock_guard lk(mu_);
    emulators_.push_back(&open);
  }
  opening::ReceiverPool* pool = r.ch.concurrent() ? &r : nullptr;
  seccomp_notif n{};
  while (r.running()) {
    // A started thread receiving while the primary is parked (its call ended after the last
    // one this thread received) hands back after kIdle without a call, so that a listener
    // gone quiet is served by its first thread alone. Only started threads pay the wait.
    if (pool && !primary && r.primary_is_parked() && r.ch.wait_ready(Receivers::kIdleMs) == 0) {
      if (r.hand_back()) break;
      continue;
    }
    r.receiving.fetch_add(1);
    const int rc = r.ch.receive(n);
    r.receiving.fetch_sub(1);
    if (rc == -EINTR) continue;
    // ENOENT: the caller left before we took its call -- or everyone left (hung up).
    if (rc == -ENOENT && !r.ch.hung_up()) continue;
    if (rc < 0) {
      r.failed.store(true);
      if (!primary) ::pthread_kill(r.primary, stop_signal());
      break;
    }
    {
      std::unique_lock lk(mu_);
      handle(r.ch, open, n, lk, pool);
    }
    if (pool && !r.park(primary)) break;
  }
  std::lock_guard lk(mu_);
  std::erase(emulators_, &open);
}

void Supervisor::handle(NotifyChannel& ch, OpenEmulator& open, const seccomp_notif& n,
                        std::unique_lock<std::mutex>& lk, opening::ReceiverPool* pool) {
  ++notifications_;
  sweep();
  const auto tid = static_cast<Pid>(n.pid);
  int why = ENOSYS;
  ThreadState* t = n.data.arch == AUDIT_ARCH_X86_64 ? learn(tid, &ch, &why) : nullptr;
  if (!t) {
    // Fail closed: a call we cannot attribute (another architecture -- the filter kills
    // those -- or a task whose /proc entry is gone) is refused, never let through. A
    // process over its job's budget is refused with EAGAIN ("Resource temporarily
    // unavailable"), but may exit: an exit has nothing to account and needs no state.
    const Op op = why == EAGAIN ? dispatch_.at(n.data.nr) : Op::none;
    seccomp_notif_resp r{n.id, 0, -why, 0};
    if (op == Op::exit || op == Op::exit_group) r = {n.id, 0, 0, SECCOMP_USER_NOTIF_FLAG_CONTINUE};
    ch.respond(r);
    ++unattributed_;
    return;
  }
  if (n.data.nr >= 0 && static_cast<std::size_t>(n.data.nr) < by_nr_.size())
    ++by_nr_[static_cast<std::size_t>(n.data.nr)];
  const Pid tgid = t->tgid;
  const std::uint64_t changes = tracker_.changes(), job_changes = jobs_.changes();
  ProcState& p = procs_.at(t->tgid);
  // This thread is making a new call, so any close() it had in flight has completed.
  if (t->closing_fd >= 0) {
    for (auto [it, end] = p.closing.equal_range(t->closing_fd); it != end; ++it)
      if (it->second.tid == tid) {
        p.closing.erase(it);
        break;
      }
    t->closing_fd = -1;
  }
  // A thread that leaves frees its tid, which a later thread may take: no entry may name it
  // as the one that reopened an fd (files.cpp relies on that tid staying the same task).
  if (!p.closing.empty() && dispatch_.at(n.data.nr) == Op::exit)
    for (auto& [fd, e] : p.closing)
      if (e.reopened == tid) e.reopened = 0;
  Call c{ch, open, n, tid, t->tgid, p, *t, lk, pool};
  if (!job_gate(c)) return;
  if (p.exec) settle_exec(c);  // the first call since an exec: did it run?
  switch (const Op op = dispatch_.at(n.data.nr)) {
    case Op::brk: on_brk(c); break;
    case Op::mmap: on_mmap(c); break;
    case Op::munmap: on_munmap(c); break;
    case Op::mprotect: on_mprotect(c); break;
    case Op::mremap: on_mremap(c); break;
    case Op::open:
    case Op::openat:
    case Op::openat2:
    case Op::creat: on_open(c, op); break;
    case Op::close: on_close(c); break;
    case Op::exit: on_exit(c, false); break;
    case Op::exit_group: on_exit(c, true); break;
    case Op::execve: on_execve(c); break;
    case Op::credentials: on_credentials(c); break;
    case Op::root_change: on_root_change(c); break;
    case Op::rlimit_change: on_rlimit_change(c); break;
    case Op::vm_clone: on_vm_clone(c); break;
    case Op::abi_register:
    case Op::abi_fetch:
    case Op::abi_deregister:
    case Op::abi_resource_cap:
    case Op::abi_resource_reset: on_abi(c, op); break;
    case Op::none:
    case Op::deny_eperm:
    case Op::deny_enosys: reply_error(c, ENOSYS); break;
  }
  // Usage watchers (the trace, `watch` with usage): only when a counter changed.
  if ((usage_raw_ | usage_coalesced_) != 0) {
    if (tracker_.changes() != changes) publish_usage(tid, tgid);
    if (jobs_.changes() != job_changes) {
      publish_job_usage(jobs_.job_of(tgid));
      publish_member_usage(tgid, false);
    }
  }
}

bool Supervisor::reply_continue(Call& c) {
  // CONTINUE lets the kernel run the call with the arguments it reads itself. Safe for
  // every call we continue: either nothing is decided from target memory (brk, mmap,
  // close, exit, execve: register arguments only), or the decision concerns a task with
  // no node and no counting job (an untracked open), where there is nothing to account.
  seccomp_notif_resp r{c.n.id, 0, 0, SECCOMP_USER_NOTIF_FLAG_CONTINUE};
  return c.ch.respond(r) == 0;
}

bool Supervisor::reply_value(Call& c, std::int64_t value) {
  seccomp_notif_resp r{c.n.id, value, 0, 0};
  return c.ch.respond(r) == 0;
}

bool Supervisor::reply_error(Call& c, int err) {
  seccomp_notif_resp r{c.n.id, 0, -err, 0};
  return c.ch.respond(r) == 0;
}

bool Supervisor::admit(Call& c, const Delta& d, int deny_errno) {
  // The job first: its totals include the caller's own node's counts, so a job quota is
  // crossed no later than the same quota on the command's node.
  if (auto jv = jobs_.check(c.tgid, d)) {
    if (jv->rule == HeapRule::kernel && jv->resource == Resource::heap && !jobs_.killed(jv->job))
      jv->unmapped = unmapped_at_kill(jv->job, c.tgid, jv->usage - std::min(jv->usage, d.heap_bytes));
    kill_job(*jv);
    reply_error(c, deny_errno);
    return false;
  }
  auto v = tracker_.check(c.tid, c.tgid, d);
  if (!v) return true;
  v->rule = jobs_.rule(c.tgid);
  if (v->rule == HeapRule::kernel && v->resource == Resource::heap)
    v->unmapped = unmapped_at_kill(0, c.tgid, v->usage - std::min(v->usage, d.heap_bytes));
  kill_for(*v);
  reply_error(c, deny_errno);  // usually ENOENT already: the SIGKILL ended the wait
  return false;
}

void Supervisor::kill_for(const Violation& v) {
  // Signal through the pidfd, never by number: the process may be gone and its pid reused.
  if (ProcState* p = ensure_proc(v.tgid)) target::pidfd_kill(p->pidfd.get());
  ++(v.resource == Resource::heap ? kills_heap_ : kills_files_);
  Event e{Event::Kind::killed, v.node, v.tgid};
  e.violation = v;
  emit(e);
}

void Supervisor::emit(const Event& e, UsageTo usage) {
  if (subscribers_.empty()) return;
  // The last usage of a node that goes arrives before the news that it went.
  if ((e.kind == Event::Kind::exited || e.kind == Event::Kind::deregistered) && !usage_pending_.empty())
    release_usage(e.pid);
  // Non-root watchers see only their own targets: the uid of the event's process; an
  // inside watcher only its own job's (whatever its uid: a setuid target is not root here).
  uid_t ruid = 0, suid = 0;
  JobId job = 0;
  bool known = false;
  Event stamped = e;
  if (stamped.time_ns == 0) {  // not stamped already (a coalesced usage event is, when decided)
    timespec now{};
    ::clock_gettime(CLOCK_REALTIME, &now);
    stamped.time_ns =
        static_cast<std::uint64_t>(now.tv_sec) * 1'000'000'000u + static_cast<std::uint64_t>(now.tv_nsec);
  }
  if (auto it = procs_.find(e.tgid ? e.tgid : e.pid); it != procs_.end()) {
    ruid = it->second.ruid, suid = it->second.suid, job = it->second.job, known = true;
    std::memcpy(stamped.comm, it->second.comm, sizeof stamped.comm);
    if (stamped.job == 0) stamped.job = job;  // every event about a job's process names the job
  } else if (e.pid == 0 && e.job != 0) {
    // An event about a job as a whole: seen as its owner's, with the name of its root.
    std::uint32_t owner = 0;
    Pid root = 0;
    if (jobs_.owner(e.job, owner, root)) {
      ruid = suid = owner, job = e.job, known = true;
      if (const auto r = procs_.find(root); r != procs_.end())
        std::memcpy(stamped.comm, r->second.comm, sizeof stamped.comm);
    }
  }
  // A container is one job: every event about it, or about any of its processes, names it.
  if (const auto c = job_containers_.find(stamped.job ? stamped.job : job);
      stamped.container.empty() && c != job_containers_.end())
    stamped.container = c->second;
  for (auto& [id, s] : subscribers_) {
    if (e.kind == Event::Kind::usage && s.filter.raw_usage != (usage == UsageTo::raw)) continue;
    if (!s.filter.wants(stamped)) continue;
    const Caller& w = s.caller;
    if (w.inside ? (known && w.job != 0 && jobs_.within(job, w.job))
                 : (w.uid == 0 || (known && (w.uid == ruid || w.uid == suid))))
      s.fn(stamped);
  }
}

// ---- outside operations (Control) ----------------------------------------------------

Caller Supervisor::identify(const ucred& peer, int peer_pidfd) {
  // One membership rule, from kernel facts (docs/security.md, "Who is inside"). Never from
  // parent links alone: clone(CLONE_PARENT), double forks and reparenting change them, so
  // a process of a job may have no known ancestor. The fact that cannot be changed is the
  // seccomp filter: inherited across every fork and clone, never removed. A process that
  // runs under no filter at all cannot be one of ours; one that does may be.
  Caller c{peer.uid, peer.gid, peer.pid};
  // pid 0: the peer is in a pid namespace we cannot see into. Every target is visible in
  // ours (we read its /proc), so such a peer is none of ours: outside.
  if (peer.pid <= 0) return c;
  // Unclassified until proven otherwise: no rights at all.
  c.inside = true;
  // SO_PEERPIDFD pins the very process that called connect(). Without it, or if that
  // process is gone (it connected, handed the socket on and exited), nothing we read
  // under its pid is known to be about it: unclassified.
  if (peer_pidfd < 0 || target::pidfd_exited(peer_pidfd)) return c;
  std::lock_guard lk(mu_);
  sweep();
  const JobId job = job_of(peer.pid);
  const auto st = target::status(peer.pid);
  // Still alive after the reads: the pid we read named the pinned peer, not a reuse.
  if (target::pidfd_exited(peer_pidfd) || !st) return c;
  if (job != 0) {
    c.job = job;  // a known process of a job, or a descendant of one: inside
  } else if (st->seccomp == 0) {
    // Filters are never removed: no filter now means none at connect(), so no call of
    // the connecting process went through any listener, ours included. Outside.
    c.inside = false;
  }
  // Else: under a filter that may be ours (a job's process before its first notified
  // call), or someone else's (a container's profile): we cannot tell, so no rights.
  // The connection keeps what was decided for the connecting process: handed to another
  // process it only carries the rights its owner chose to give away.
  return c;
}

void Supervisor::reclassify(Caller& c, int peer_pidfd) {
  // A member never leaves its job; an outside or unclassified peer may since have become
  // known as a member (its first notified call, its join): then it is inside, and only
  // inside -- rights only shrink. The same pinning as identify().
  if (c.pid <= 0 || (c.inside && c.job != 0) || peer_pidfd < 0) return;
  std::lock_guard lk(mu_);
  sweep();
  const JobId job = job_of(c.pid);
  if (job == 0 || target::pidfd_exited(peer_pidfd)) return;
  c.inside = true;
  c.job = job;
}

Supervisor::View Supervisor::view_of(const Caller& c) {
  if (c.inside) return View{Actor::target, c.job, c.uid};
  return View{Actor::outside, std::nullopt, c.uid};
}

int Supervisor::imposed_by_other(const View& v, Pid pid) const {
  if (v.actor != Actor::outside || v.uid == 0) return 0;
  const Node* n = tracker_.find(pid);
  if (!n || (!n->heap_quota_bytes && !n->file_quota)) return 0;
  const auto it = node_imposer_.find(pid);
  return it != node_imposer_.end() && it->second != v.uid ? EPERM : 0;
}

OpResult Supervisor::job_imposed_by_other(const Caller& c, JobId job) const {
  if (c.uid == 0) return {};
  const auto it = job_imposer_.find(job);
  if (it == job_imposer_.end() || it->second == c.uid) return {};
  return {EPERM, "job " + std::to_string(job) + ": its quotas were set by uid " + std::to_string(it->second) +
                     "; only that uid or root may lift or change them"};
}

OpResult Supervisor::authorize(const Caller& c, Pid pid) {
  // An inside caller has the ABI's rights, scoped to its job by its View: no uid rule
  // (its uid may be a setuid program's, which gives it nothing here).
  if (c.inside || c.uid == 0 || pid < 1) return {};
  // kill(2)'s rule: the caller's uid is the target's real or saved uid.
  const auto st = target::status(pid);
  if (!st) return {};  // no such task: the operation's own error (ESRCH/EINVAL) applies
  if (c.uid == st->ruid || c.uid == st->suid) return {};
  return {EPERM, "pid " + std::to_string(pid) + " belongs to uid " + std::to_string(st->ruid)};
}

OpResult Supervisor::result(int err, Pid pid, Op op) {
  if (err == 0) return {};
  const bool registering = op == Op::abi_register;
  std::string what;
  switch (err) {
    case EINVAL:
      what = pid < 1                      ? "invalid pid"
             : op == Op::abi_resource_cap ? "not registered, or a quota below -1"
                                          : "not registered";
      break;
    case ESRCH:
      what = op == Op::abi_deregister ? "not registered" : "no live task with this pid in the sandbox";
      break;
    case ENFILE: what = registering ? "already registered" : "quotas already set"; break;
    case EPERM:
      what = op == Op::abi_register || op == Op::abi_fetch
                 ? "not permitted"
                 : "a quota imposed from outside cannot be lifted from inside, nor by a uid other than the "
                   "one that imposed it";
      break;
    case EAGAIN:
      what = "its job holds all the processes the supervisor can watch for it; try again later";
      break;
    default: what = errno_name(err);
  }
  return {err, "pid " + std::to_string(pid) + ": " + what};
}

// The five operations, shared by the ABI handler and the socket. A node of another job is
// invisible to a target's view: its errors are those for a pid with no node and no task.
int Supervisor::op_register(const View& v, Pid pid) {
  ViewGuard g(*directory_, v.job);
  const int rc = tracker_.register_node(pid, v.actor);
  if (rc == 0) {
    const Pid tgid = tracker_.find(pid)->tgid;
    if (!watch_node(pid, tgid)) {
      // Unwatched, the node would outlive its process: no node (EAGAIN, the cause logged).
      tracker_.deregister(pid, Actor::outside);
      return EAGAIN;
    }
    emit({Event::Kind::registered, pid, tgid});
  }
  return rc;
}

int Supervisor::op_fetch(const View& v, Pid pid, Node& out) {
  if (const Node* n = tracker_.find(pid); n && !visible(v, n->tgid)) return EINVAL;
  const int rc = tracker_.fetch(pid, out);
  if (rc == 0) out.heap_rule = jobs_.rule(out.tgid);
  return rc;
}

int Supervisor::op_deregister(const View& v, Pid pid) {
  const Node* n = tracker_.find(pid);
  if (n && !visible(v, n->tgid)) return ESRCH;
  const Pid tgid = n ? n->tgid : 0;
  if (const int denied = imposed_by_other(v, pid)) return denied;
  const int rc = tracker_.deregister(pid, v.actor);
  if (rc == 0) {
    node_imposer_.erase(pid);
    thread_nodes_.erase(pid);
    emit({Event::Kind::deregistered, pid, tgid});
  }
  return rc;
}

int Supervisor::op_cap(const View& v, Pid pid, const CapFn& cap) {
  if (const int denied = imposed_by_other(v, pid)) return denied;
  std::optional<Violation> enforce;
  int rc;
  {
    ViewGuard g(*directory_, v.job);
    rc = cap(v.actor, enforce);
  }
  if (rc == 0) {
    if (v.actor == Actor::outside)
      node_imposer_[pid] = v.uid;
    else
      node_imposer_.erase(pid);
    const Node* n = tracker_.find(pid);
    Event e{Event::Kind::quota_set, pid, n->tgid};
    e.heap_quota_bytes = n->heap_quota_bytes, e.file_quota = n->file_quota;
    emit(e);
  }
  if (enforce) kill_for(*enforce);  // enforced at once, as in the kernel
  return rc;
}

int Supervisor::op_reset(const View& v, Pid pid) {
  if (const int denied = imposed_by_other(v, pid)) return denied;
  ViewGuard g(*directory_, v.job);
  const int rc = tracker_.resource_reset(pid, v.actor);
  if (rc == 0) node_imposer_.erase(pid);
  if (rc == 0) emit({Event::Kind::quota_reset, pid, tracker_.find(pid)->tgid});
  return rc;
}

OpResult Supervisor::register_node(const Caller& c, Pid pid) {
  std::lock_guard lk(mu_);
  sweep();
  if (auto a = authorize(c, pid); !a.ok()) return a;
  return result(op_register(view_of(c), pid), pid, Op::abi_register);
}

OpResult Supervisor::fetch(const Caller& c, Pid pid, Node& out) {
  std::lock_guard lk(mu_);
  sweep();
  if (auto a = authorize(c, pid); !a.ok()) return a;
  return result(op_fetch(view_of(c), pid, out), pid, Op::abi_fetch);
}

OpResult Supervisor::deregister(const Caller& c, Pid pid) {
  std::lock_guard lk(mu_);
  sweep();
  if (auto a = authorize(c, pid); !a.ok()) return a;
  return result(op_deregister(view_of(c), pid), pid, Op::abi_deregister);
}

template <typename Cap>
OpResult Supervisor::cap_outside(const Caller& c, Pid pid, Cap&& cap) {
  std::lock_guard lk(mu_);
  sweep();
  if (auto a = authorize(c, pid); !a.ok()) return a;
  return result(op_cap(view_of(c), pid, cap), pid, Op::abi_resource_cap);
}

OpResult Supervisor::resource_cap(const Caller& c, Pid pid, std::int64_t heap_mib, std::int64_t files) {
  return cap_outside(c, pid, [&](Actor a, std::optional<Violation>& enforce) {
    return tracker_.resource_cap(pid, heap_mib, files, a, enforce);
  });
}

OpResult Supervisor::resource_cap_bytes(const Caller& c, Pid pid, std::int64_t heap_bytes,
                                        std::int64_t files) {
  return cap_outside(c, pid, [&](Actor a, std::optional<Violation>& enforce) {
    return tracker_.resource_cap_bytes(pid, heap_bytes, files, a, enforce);
  });
}

OpResult Supervisor::replace_cap(const Caller& c, Pid pid, std::optional<std::uint64_t> heap_bytes,
                                 std::optional<std::uint64_t> files) {
  const auto value = [](std::optional<std::uint64_t> v) -> std::int64_t {
    if (!v) return -1;
    return *v > static_cast<std::uint64_t>(INT64_MAX) ? INT64_MAX : static_cast<std::int64_t>(*v);
  };
  // One lock for both steps: no notification is decided between them, so the node is
  // never without a limit. Every check of the cap (values, node, rights) is made before
  // the reset, so a replace that fails changes nothing.
  std::lock_guard lk(mu_);
  sweep();
  if (auto a = authorize(c, pid); !a.ok()) return a;
  const View v = view_of(c);
  if (const int denied = imposed_by_other(v, pid)) return result(denied, pid, Op::abi_resource_reset);
  int rc;
  {
    ViewGuard g(*directory_, v.job);
    rc = tracker_.resource_reset(pid, v.actor);  // EPERM from inside on an outside quota
  }
  if (rc != 0) return result(rc, pid, Op::abi_resource_reset);
  node_imposer_.erase(pid);
  return result(op_cap(v, pid,
                       [&](Actor a, std::optional<Violation>& enforce) {
                         return tracker_.resource_cap_bytes(pid, value(heap_bytes), value(files), a, enforce);
                       }),
                pid, Op::abi_resource_cap);
}

OpResult Supervisor::resource_reset(const Caller& c, Pid pid) {
  std::lock_guard lk(mu_);
  sweep();
  if (auto a = authorize(c, pid); !a.ok()) return a;
  return result(op_reset(view_of(c), pid), pid, Op::abi_resource_reset);
}

std::vector<Node> Supervisor::list(const Caller& c) {
  std::lock_guard lk(mu_);
  sweep();
  const View v = view_of(c);
  std::vector<Node> out;
  for (const Node& n : tracker_.nodes())
    if (authorize(c, n.pid).ok() && visible(v, n.tgid)) {
      out.push_back(n);
      out.back().heap_rule = jobs_.rule(n.tgid);
      if (const auto it = job_containers_.find(job_of(n.tgid)); it != job_containers_.end())
        out.back().container = it->second;
    }
  return out;
}

std::uint64_t Supervisor::subscribe(const Caller& c, std::function<void(const Event&)> fn) {
  return subscribe(c, WatchFilter{}, std::move(fn));
}

std::uint64_t Supervisor::subscribe(const Caller& c, const WatchFilter& f,
                                    std::function<void(const Event&)> fn) {
  std::lock_guard lk(mu_);
  const std::uint64_t id = next_subscriber_++;
  subscribers_.emplace(id, Subscriber{c, f, std::move(fn)});
  if (f.usage()) ++(f.raw_usage ? usage_raw_ : usage_coalesced_);
  return id;
}

void Supervisor::unsubscribe(std::uint64_t id) {
  std::lock_guard lk(mu_);
  const auto it = subscribers_.find(id);
  if (it == subscribers_.end()) return;
  if (it->second.filter.usage()) --(it->second.filter.raw_usage ? usage_raw_ : usage_coalesced_);
  subscribers_.erase(it);
}

OpResult Supervisor::impose(Pid pid, const Policy& policy) {
  const Caller self{::getuid(), ::getgid(), ::getpid()};
  if (!policy.track && !policy.heap_quota_bytes && !policy.file_quota) return {};
  if (auto r = register_node(self, pid); !r.ok()) return r;
  if (!policy.heap_quota_bytes && !policy.file_quota) return {};
  const auto bytes = [](std::optional<std::uint64_t> v) -> std::int64_t {
    if (!v) return -1;
    return *v > static_cast<std::uint64_t>(INT64_MAX) ? INT64_MAX : static_cast<std::int64_t>(*v);
  };
  return resource_cap_bytes(self, pid, bytes(policy.heap_quota_bytes), bytes(policy.file_quota));
}

// ---- sandbox serve: joined targets --------------------------------------------------

std::vector<sock_filter> Supervisor::filter_program() {
  std::lock_guard lk(mu_);
  if (filter_.empty()) filter_ = build_filter(opt_.policy);
  return filter_;
}

std::vector<sock_filter> Supervisor::filter_program_for(HeapRule rule) {
  if (rule == opt_.policy.heap_rule) return filter_program();
  std::lock_guard lk(mu_);
  if (other_filter_.empty()) {
    Policy p = opt_.policy;
    p.heap_rule = rule;
    other_filter_ = build_filter(p);
  }
  return other_filter_;
}

OpResult Supervisor::join(const Caller& c, JoinRequest req) {
  UniqueFd fd(req.listener_fd);
  if (!fd) return {EBADF, "join: no seccomp listener fd was passed"};
  // A supervised process cannot make a listener of its own (the kernel allows one per
  // filter chain); any it sends was made outside, and would start a job the caller's own
  // quotas do not cover. Refused -- and so is a caller we cannot prove is not one of ours
  // (unclassified: under a seccomp filter and not known), or joining would move a process
  // of a job into a new job whose quotas it chose.
  if (c.unclassified())
    return {EPERM,
            "join: the joining process ran under a seccomp filter when it connected, so it cannot be told "
            "from a process of a job here; join from a process without a filter (docs/security.md)"};
  if (c.inside) return {EPERM, "join: the caller already runs under this supervisor"};
  // The listener decides which process is supervised, the pid only which node to create:
  // a client may only join itself, so it cannot get nodes or quotas on someone else.
  if (req.pid != c.pid) return {EPERM, "join: pid " + std::to_string(req.pid) + " is not the caller"};
  Policy q;
  q.track = req.track;
  q.heap_quota_bytes = req.heap_quota_bytes;
  q.file_quota = req.file_quota;
  // The joiner installed the filter of the rule it asks for (filter_program_for): a rule
  // other than the server policy's is its choice, like its own tighter quotas.
  q.heap_rule = req.heap_rule.value_or(opt_.policy.heap_rule);
  return attach(std::move(fd), req.pid, q, req.scope, "");
}

OpResult Supervisor::attach(UniqueFd fd, Pid pid, const Policy& asked, Scope scope,
                            const std::string& container) {
  // The server's policy is the operator's: each of its quotas applies, and a joining
  // target (or a container's metadata) may only tighten it (the smaller of the two), never
  // loosen or drop it.
  const auto tighter = [](std::optional<std::uint64_t> a, std::optional<std::uint64_t> b) {
    return a && b ? std::optional(std::min(*a, *b)) : a ? a : b;
  };
  Policy q;
  q.track = asked.track || opt_.policy.track;
  q.heap_quota_bytes = tighter(asked.heap_quota_bytes, opt_.policy.heap_quota_bytes);
  q.file_quota = tighter(asked.file_quota, opt_.policy.file_quota);
  // A join costs a few descriptors (listener, open emulator, pidfds): refused with the real
  // cause when they are not there, rather than half-served.
  if (const std::uint64_t used = proc::count_open_fds(); used + kFdReserve / 2 > fd_limit_)
    return {EMFILE, "join: the supervisor is out of file descriptors (" + std::to_string(used) +
                        " open, RLIMIT_NOFILE " + std::to_string(fd_limit_) + "); try again later"};
  // Per tenant: a uid's joins and processes draw on one budget (two jobs' shares), so one uid
  // joining many times cannot take what the others need.
  if (const auto st = target::status(pid)) {
    std::lock_guard lk(mu_);
    const TenantUse& t = tenant_use_[st->ruid];
    if (tenant_fds(t) + kJoinFds > tenant_budget_)
      return {EMFILE, "join: uid " + std::to_string(st->ruid) + " holds its share of the supervisor's " +
                          "descriptors (" + std::to_string(t.procs) + " processes, " +
                          std::to_string(t.joins) + " joins, of " + std::to_string(tenant_budget_) +
                          "); try again when some have ended"};
  }
  auto listener = std::make_unique<SeccompListener>(std::move(fd));
  listener->enable_sync_wakeup();
  if (const JobId in = job_by_ancestry(pid); in != 0)
    return {EPERM, "join: pid " + std::to_string(pid) + " is in job " + std::to_string(in) +
                       " already; a process cannot leave its job"};
  adopt_root(pid, listener.get());
  // Quotas imposed at join are outside quotas: the target cannot lift them.
  if (auto r = impose(pid, q); !r.ok()) return r;
  JobSpec spec;
  spec.root = pid;
  spec.scope = scope;
  spec.track = q.track;
  spec.heap_rule = asked.heap_rule;
  if (scope == Scope::job) spec.heap_quota_bytes = q.heap_quota_bytes, spec.file_quota = q.file_quota;
  const JobId job = start_job(*listener, spec);
  std::lock_guard lk(mu_);
  if (!container.empty()) job_containers_[job] = container;
  if (JobUse& u = job_use_[job]; !u.joined) {
    u.joined = true;
    ++tenant_use_[u.owner].joins;  // given back in maintain(), when the join ends
  }
  Joined& j = joined_.emplace_back();
  j.listener = std::move(listener);
  sigset_t all, old;
  sigfillset(&all);
  ::pthread_sigmask(SIG_BLOCK, &all, &old);  // the thread unblocks only its stop signal
  j.thread = std::thread([this, &j] {
    serve(*j.listener, j.stop);
    j.done.store(true);
  });
  ::pthread_sigmask(SIG_SETMASK, &old, nullptr);
  Event joined{Event::Kind::joined, pid, pid};
  joined.job = job;
  joined.container = container;
  emit(joined);
  OpResult done;
  done.job = job;
  return done;
}

void Supervisor::maintain() {
  std::list<Joined> finished;
  {
    std::lock_guard lk(mu_);
    sweep();
    // Nested jobs whose launcher has ended and whose processes are all gone.
    for (auto it = nested_.begin(); it != nested_.end();) {
      JobView v;
      const bool gone = jobs_.fetch(it->first, v) != 0;
      if (gone || (!launchers_.contains(it->second) && v.live == 0)) {
        if (!gone) jobs_.remove(it->first);
        job_imposer_.erase(it->first);
        it = nested_.erase(it);
      } else {
        ++it;
      }
    }
    for (auto it = joined_.begin(); it != joined_.end();) {
      // Hung up: no task uses the filter any more; its thread may block in RECV forever.
      if (it->listener->hung_up() || it->done.load() || it->stop.load()) {
        it->stop.store(true);
        if (const auto cj = channel_jobs_.find(it->listener.get()); cj != channel_jobs_.end()) {
          if (const auto u = job_use_.find(cj->second); u != job_use_.end() && u->second.joined) {
            u->second.joined = false;
            TenantUse& t = tenant_use_[u->second.owner];
            if (t.joins > 0) --t.joins;
            if (tenant_fds(t) < tenant_budget_) t.refusing = false;
          }
          release_usage(usage_key(cj->second));  // its last usage, while the job is still known
          usage_state_.erase(usage_key(cj->second));
          jobs_.remove(cj->second);  // each join is one job: it ends with its listener
          job_imposer_.erase(cj->second);
          job_containers_.erase(cj->second);
          channel_jobs_.erase(cj);
        }
        auto next = std::next(it);
        finished.splice(finished.end(), joined_, it);
        it = next;
      } else {
        ++it;
      }
    }
  }
  for (auto& j : finished) finish(j.thread, j.done);
}

std::uint64_t Supervisor::notifications() const {
  std::lock_guard lk(mu_);
  return notifications_;
}

std::size_t Supervisor::listeners() const {
  std::lock_guard lk(mu_);
  return joined_.size();
}

void Supervisor::kill_all() {
  {
    std::lock_guard lk(mu_);
    sweep();
    // Known processes by pidfd; their unknown descendants by walking /proc (in scope).
    for (auto& [tgid, p] : procs_) target::pidfd_kill(p.pidfd.get());
    proc::for_each_pid([&](Pid pid) {
      if (pid == self_ || !in_scope(pid)) return;
      if (const int fd = target::pidfd_open(pid, false); fd >= 0) {
        target::pidfd_kill(fd);
        ::close(fd);
      }
    });
  }
  for (auto& j : joined_) j.stop.store(true);
  maintain();
}

}  // namespace sandbox
