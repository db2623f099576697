// SPDX-License-Identifier: Apache-2.0
// The notify loop: the threads receiving from one listener, the dispatch of a call to its
// handler, and the answers sent to the kernel.
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
#include "notify/supervisor.hpp"
#include "notify/supervisor_detail.hpp"

namespace sandbox {
namespace {

void on_stop_signal(int) {}

}  // namespace

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
  // A started thread that waited kIdle for a call: it leaves if another thread receives
  // (the primary went back to RECV while this one was waiting: seen under load), or hands
  // receiving back to a parked primary; else (the primary is still in a call) it stays.
  bool idle_can_leave() {
    if (receiving.load() > 0) return true;  // someone receives (or a woken thread is about to)
    return hand_back();
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
  if (const Status ready = open.init(); !ready.ok())
    log::printf(log::Level::error, "sandbox: open emulation for a listener cannot start: %s%s",
                std::strerror(ready.error()),
                ready.error() == EMFILE || ready.error() == ENFILE ? " (out of file descriptors)" : "");
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
    // A started thread never blocks in RECV for good: it waits at most kIdle for a call, and
    // hands back then if the primary is parked, so that a listener gone quiet is served by
    // its first thread alone. Waiting only once the primary was seen parked lost a race: the
    // primary could finish its call and park just after this thread had entered RECV, and a
    // tenant that then made no call kept this thread (and its stack and descriptors) for
    // ever. Only started threads pay the poll.
    if (pool && !primary && r.ch.wait_ready(Receivers::kIdleMs) == 0) {
      if (r.idle_can_leave()) break;
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
      handle(r.ch, open, n, lk, pool, [&](Reply& reply) { reply.send(r.ch, n.id); });
    }
    if (pool && !r.park(primary)) break;
  }
  std::lock_guard lk(mu_);
  std::erase(emulators_, &open);
}

void Supervisor::decide(NotifyChannel& ch, const seccomp_notif& n,
                        const std::function<void(Reply&)>& answer) {
  OpenEmulator open(open_shared_);
  std::unique_lock lk(mu_);
  handle(ch, open, n, lk, nullptr, answer);
}

void Supervisor::handle(NotifyChannel& ch, OpenEmulator& open, const seccomp_notif& n,
                        std::unique_lock<std::mutex>& lk, opening::ReceiverPool* pool,
                        const std::function<void(Reply&)>& answer) {
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
    Reply r = op == Op::exit || op == Op::exit_group ? Reply::proceed() : Reply::error(why);
    answer(r);
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
  const Op op = dispatch_.at(n.data.nr);
  // A thread that leaves frees its tid, which a later thread may take: no entry may name it
  // as the one that reopened an fd (files.cpp relies on that tid staying the same task).
  if (!p.closing.empty() && op == Op::exit)
    for (auto& [fd, e] : p.closing)
      if (e.reopened == tid) e.reopened = 0;
  Call c{ch, open, n, tid, t->tgid, p, *t, lk, pool};
  Reply r = [&] {
    if (auto stop = job_gate(c)) return std::move(*stop);
    if (p.exec) settle_exec(c);  // the first call since an exec: did it run?
    return dispatch(c, op);
  }();
  // An open answers with the lock released (it may have waited): taken again to commit.
  if (!lk.owns_lock()) lk.lock();
  answer(r);
  // Usage watchers (the trace, `watch` with usage): only when a counter changed.
  if (hub_.usage_wanted()) {
    if (tracker_.changes() != changes) publish_usage(tid, tgid);
    if (jobs_.changes() != job_changes) {
      publish_job_usage(jobs_.job_of(tgid));
      publish_member_usage(tgid, false);
    }
  }
}

Reply Supervisor::dispatch(Call& c, Op op) {
  switch (op) {
    case Op::brk: return on_brk(c);
    case Op::mmap: return on_mmap(c);
    case Op::munmap: return on_munmap(c);
    case Op::mprotect: return on_mprotect(c);
    case Op::mremap: return on_mremap(c);
    case Op::open:
    case Op::openat:
    case Op::openat2:
    case Op::creat: return on_open(c, op);
    case Op::close: return on_close(c);
    case Op::exit: return on_exit(c, false);
    case Op::exit_group: return on_exit(c, true);
    case Op::execve: return on_execve(c);
    case Op::credentials: return on_credentials(c);
    case Op::root_change: return on_root_change(c);
    case Op::rlimit_change: return on_rlimit_change(c);
    case Op::vm_clone: return on_vm_clone(c);
    case Op::abi_register:
    case Op::abi_fetch:
    case Op::abi_deregister:
    case Op::abi_resource_cap:
    case Op::abi_resource_reset: return on_abi(c, op);
    case Op::none:
    case Op::deny_eperm:
    case Op::deny_enosys: break;
  }
  return Reply::error(ENOSYS);
}

bool Supervisor::admit(Call& c, const Delta& d) {
  // The job first: its totals include the caller's own node's counts, so a job quota is
  // crossed no later than the same quota on the command's node.
  if (auto jv = jobs_.check(c.tgid, d)) {
    if (jv->rule == HeapRule::kernel && jv->resource == Resource::heap && !jobs_.killed(jv->job))
      jv->unmapped = unmapped_at_kill(jv->job, c.tgid, jv->usage - std::min(jv->usage, d.heap_bytes));
    kill_job(*jv);
    return false;
  }
  auto v = tracker_.check(c.tid, c.tgid, d);
  if (!v) return true;
  v->rule = jobs_.rule(c.tgid);
  if (v->rule == HeapRule::kernel && v->resource == Resource::heap)
    v->unmapped = unmapped_at_kill(0, c.tgid, v->usage - std::min(v->usage, d.heap_bytes));
  kill_for(*v);
  return false;  // its refusal is usually ENOENT already: the SIGKILL ended the wait
}

void Supervisor::kill_for(const Violation& v) {
  // Signal through the pidfd, never by number: the process may be gone and its pid reused.
  if (ProcState* p = ensure_proc(v.tgid)) target::pidfd_kill(p->pidfd.get());
  ++(v.resource == Resource::heap ? kills_heap_ : kills_files_);
  Event e{Event::Kind::killed, v.node, v.tgid};
  e.violation = v;
  hub_.emit(e);
}

}  // namespace sandbox
