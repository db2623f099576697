#include "supervisor.hpp"

#include <linux/audit.h>
#include <signal.h>
#include <sys/epoll.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>

namespace sandbox {
namespace {

enum WatchKind : std::uint64_t { kProcess = 1, kThreadNode = 2 };
std::uint64_t watch_key(WatchKind k, Pid pid) {
  return (k << 32) | static_cast<std::uint32_t>(pid);
}

void on_stop_signal(int) {}

}  // namespace

// "Is pid a live task in the sandbox's scope?" answered from /proc. A task is in scope
// when its process is one we have seen a notification from, or descends from a root we
// launched (orphans are reparented to us: the CLI makes the supervisor a subreaper).
class Supervisor::Directory final : public TaskDirectory {
 public:
  explicit Directory(Supervisor& s) : s_(s) {}
  std::optional<TaskFacts> live_task(Pid pid) override {
    if (pid < 1) return std::nullopt;
    const auto st = target::status(pid);
    if (!st || !st->alive() || !s_.in_scope(st->tgid)) return std::nullopt;
    return TaskFacts{st->tgid};
  }

 private:
  Supervisor& s_;
};

Supervisor::Supervisor(Options options)
    : opt_(std::move(options)),
      dispatch_(build_dispatch(opt_.policy)),
      overcommit_(target::overcommit()),
      directory_(std::make_unique<Directory>(*this)),
      tracker_(*directory_),
      epoll_(::epoll_create1(EPOLL_CLOEXEC)),
      self_(::getpid()) {}

Supervisor::~Supervisor() = default;

int Supervisor::stop_signal() {
  return SIGUSR1;
}

void Supervisor::adopt_root(Pid pid) {
  std::lock_guard lk(mu_);
  roots_.push_back(pid);
  ensure_proc(pid);
}

bool Supervisor::in_scope(Pid tgid) {
  for (int depth = 0; tgid > 1 && depth < 4096; ++depth) {
    if (tgid == self_ || procs_.contains(tgid)) return true;
    for (Pid r : roots_)
      if (r == tgid) return true;
    const auto st = target::status(tgid);
    if (!st) return false;
    tgid = st->ppid;
  }
  return false;
}

Supervisor::ProcState* Supervisor::ensure_proc(Pid tgid) {
  if (auto it = procs_.find(tgid); it != procs_.end()) return &it->second;
  // pidfd first: from here on, a reuse of this pid is visible as the pidfd's exit.
  const int fd = target::pidfd_open(tgid, false);
  if (fd < 0) return nullptr;
  ProcState p;
  p.tgid = tgid;
  p.pidfd.reset(fd);
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.u64 = watch_key(kProcess, tgid);
  ::epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, fd, &ev);
  return &procs_.emplace(tgid, std::move(p)).first->second;
}

void Supervisor::watch_node(Pid pid, Pid tgid) {
  ensure_proc(tgid);
  if (pid == tgid || thread_nodes_.contains(pid)) return;
  const int fd = target::pidfd_open(pid, true);  // PIDFD_THREAD: readable when the thread exits
  if (fd < 0) return;  // older kernel: the thread's exit() notification still removes it
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.u64 = watch_key(kThreadNode, pid);
  ::epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, fd, &ev);
  thread_nodes_.emplace(pid, std::make_pair(tgid, UniqueFd(fd)));
}

Supervisor::ThreadState* Supervisor::learn(Pid tid) {
  if (auto it = threads_.find(tid); it != threads_.end()) return &it->second;
  const auto st = target::status(tid);
  if (!st) return nullptr;
  ProcState* p = ensure_proc(st->tgid);
  if (!p) return nullptr;
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
    drop_threads(it->second);
    procs_.erase(it);  // closes the pidfd, which also leaves the epoll set
  }
  for (auto t = thread_nodes_.begin(); t != thread_nodes_.end();)
    t = t->second.first == tgid ? thread_nodes_.erase(t) : std::next(t);
  open_.forget_process(tgid);
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
        const bool had_node = tracker_.find(pid) != nullptr;
        tracker_.process_exited(pid);
        forget_process(pid);
        if (had_node) emit({Event::Kind::exited, pid, std::nullopt});
      } else if (auto t = thread_nodes_.find(pid); t != thread_nodes_.end()) {
        tracker_.thread_exited(pid, t->second.first);
        thread_nodes_.erase(t);
        emit({Event::Kind::exited, pid, std::nullopt});
      }
    }
    if (n < 64) return;
  }
}

void Supervisor::serve(NotifyChannel& channel) {
  struct sigaction sa {};
  sa.sa_handler = on_stop_signal;  // no SA_RESTART: the blocking RECV returns EINTR
  ::sigaction(stop_signal(), &sa, nullptr);
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, stop_signal());
  ::pthread_sigmask(SIG_UNBLOCK, &set, nullptr);
  {
    std::lock_guard lk(mu_);
    ch_ = &channel;
    if (int rc = open_.init(); rc < 0 && opt_.verbose)
      std::fprintf(stderr, "sandbox: open emulation: unshare(CLONE_FS) failed: errno %d\n", -rc);
  }
  seccomp_notif n{};
  while (!stop_.load(std::memory_order_relaxed)) {
    const int rc = channel.receive(n);
    if (rc == -EINTR || rc == -ENOENT) continue;
    if (rc < 0) break;
    std::lock_guard lk(mu_);
    handle(channel, n);
  }
  std::lock_guard lk(mu_);
  ch_ = nullptr;
}

void Supervisor::handle(NotifyChannel& ch, const seccomp_notif& n) {
  sweep();
  const auto tid = static_cast<Pid>(n.pid);
  ThreadState* t = n.data.arch == AUDIT_ARCH_X86_64 ? learn(tid) : nullptr;
  if (!t) {
    // Fail closed: a call we cannot attribute (another architecture -- the filter kills
    // those -- or a task whose /proc entry is gone) is refused, never let through.
    seccomp_notif_resp r{n.id, 0, -ENOSYS, 0};
    ch.respond(r);
    return;
  }
  ProcState& p = procs_.at(t->tgid);
  // This thread is making a new call, so any close() it had in flight has completed.
  if (t->closing_fd >= 0) {
    if (auto it = p.closing.find(t->closing_fd); it != p.closing.end() && it->second == tid)
      p.closing.erase(it);
    t->closing_fd = -1;
  }
  Call c{n, tid, t->tgid, p, *t};
  switch (const Op op = dispatch_.at(n.data.nr)) {
    case Op::brk: on_brk(c); break;
    case Op::mmap: on_mmap(c); break;
    case Op::open:
    case Op::openat:
    case Op::openat2:
    case Op::creat: on_open(c, op); break;
    case Op::close: on_close(c); break;
    case Op::exit: on_exit(c, false); break;
    case Op::exit_group: on_exit(c, true); break;
    case Op::execve: on_execve(c); break;
    case Op::credentials: on_credentials(c); break;
    case Op::abi_register:
    case Op::abi_fetch:
    case Op::abi_deregister:
    case Op::abi_resource_cap:
    case Op::abi_resource_reset: on_abi(c, op); break;
    case Op::none:
    case Op::deny_enosys: reply_error(c, ENOSYS); break;
  }
}

bool Supervisor::reply_continue(Call& c) {
  // CONTINUE lets the kernel run the call with the arguments it reads itself. Safe for
  // every call we continue: either nothing is decided from target memory (brk, mmap,
  // close, exit, execve: register arguments only), or the decision concerns a task with
  // no node (an untracked open), where there is nothing to account.
  seccomp_notif_resp r{c.n.id, 0, 0, SECCOMP_USER_NOTIF_FLAG_CONTINUE};
  return ch_->respond(r) == 0;
}

bool Supervisor::reply_value(Call& c, std::int64_t value) {
  seccomp_notif_resp r{c.n.id, value, 0, 0};
  return ch_->respond(r) == 0;
}

bool Supervisor::reply_error(Call& c, int err) {
  seccomp_notif_resp r{c.n.id, 0, -err, 0};
  return ch_->respond(r) == 0;
}

bool Supervisor::admit(Call& c, const Delta& d, int deny_errno) {
  const auto v = tracker_.check(c.tid, c.tgid, d);
  if (!v) return true;
  kill_for(*v);
  reply_error(c, deny_errno);  // usually ENOENT already: the SIGKILL ended the wait
  return false;
}

void Supervisor::kill_for(const Violation& v) {
  // Signal through the pidfd, never by number: the process may be gone and its pid reused.
  if (ProcState* p = ensure_proc(v.tgid)) target::pidfd_kill(p->pidfd.get());
  emit({Event::Kind::killed, v.node, v});
}

void Supervisor::emit(Event e) {
  if (opt_.on_event) opt_.on_event(e);
}

int Supervisor::outside_register(Pid pid) {
  std::lock_guard lk(mu_);
  sweep();
  const int rc = tracker_.register_node(pid, Actor::outside);
  if (rc == 0) {
    watch_node(pid, tracker_.find(pid)->tgid);
    emit({Event::Kind::registered, pid, std::nullopt});
  }
  return rc;
}

int Supervisor::outside_cap_bytes(Pid pid, std::int64_t heap_bytes, std::int64_t files) {
  std::lock_guard lk(mu_);
  sweep();
  std::optional<Violation> enforce;
  const int rc = tracker_.resource_cap_bytes(pid, heap_bytes, files, Actor::outside, enforce);
  if (rc == 0) emit({Event::Kind::quota_set, pid, std::nullopt});
  if (enforce) kill_for(*enforce);
  return rc;
}

int Supervisor::outside_fetch(Pid pid, Node& out) {
  std::lock_guard lk(mu_);
  sweep();
  return tracker_.fetch(pid, out);
}

std::vector<Node> Supervisor::outside_list() {
  std::lock_guard lk(mu_);
  sweep();
  return tracker_.nodes();
}

}  // namespace sandbox
