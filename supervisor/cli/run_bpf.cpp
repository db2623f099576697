// SPDX-License-Identifier: Apache-2.0
#include "cli/run_bpf.hpp"

#include <fcntl.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <poll.h>
#include <signal.h>
#include <stddef.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string>
#include <thread>

#include "base/unique_fd.hpp"
#include "bpf/engine.hpp"
#include "bpf/rules.h"
#include "cli/events.hpp"
#include "kill_line.hpp"
#include "shim.hpp"
#include "target/notify.hpp"
#include "target/target.hpp"

namespace sandbox {
namespace {

constexpr std::uint32_t kJob = 1;  // the run's one job

volatile sig_atomic_t g_bpf_child = 0;
void forward(int sig) {
  if (g_bpf_child > 0) ::kill(static_cast<pid_t>(g_bpf_child), sig);
}

// What the bpf engine does not do yet: these runs stay with the notify engine.
const char* unsupported(const RunOptions& o, const Policy& p) {
  if (p.heap_rule != HeapRule::kernel) return "the commit heap rule is accounted by the notify engine only";
  if (o.trace) return "--trace needs the notify engine";
  if (o.output || o.summary) return "--summary and -o need the notify engine";
  if (o.wait_job) return "--wait-job needs the notify engine";
  if (o.socket) return "--socket needs the notify engine (the bpf engine serves no control socket yet)";
  if (!p.notify_brk || !p.notify_mmap || !p.notify_open || !p.notify_close)
    return "a policy that leaves calls unaccounted needs the notify engine";
  return nullptr;
}

// Answers the five ABI calls from the maps, with the contract's errors (docs/semantics.md)
// and the target's view: only its own job is in scope.
class Abi {
 public:
  Abi(bpf::Engine& e, const Policy& p) : e_(e), p_(p) {}

  // A live task of our job (zombies are not live): its process, or 0.
  pid_t live_in_job(Pid pid) const {
    if (pid < 1) return 0;
    const auto st = target::status(pid);
    if (!st || !st->alive()) return 0;
    const auto job = e_.job_of(st->tgid);
    return job && *job == kJob ? st->tgid : 0;
  }
  bool node_in_job(Pid pid) const {
    const auto n = e_.node(pid);
    if (!n) return false;
    const auto job = e_.job_of(n->tgid);
    return job && *job == kJob;
  }

  // 0 or a positive errno; `value` for fetch is written here.
  int answer(SeccompListener& l, const seccomp_notif& n, int op) {
    const auto arg = [&](int i) { return n.data.args[i]; };
    const auto pid = static_cast<Pid>(static_cast<std::int32_t>(arg(op == 1 ? 1 : 0)));
    switch (op) {
      case 0: {  // register
        if (pid < 1) return EINVAL;
        const pid_t tgid = live_in_job(pid);
        if (tgid == 0) return ESRCH;
        return e_.add_node(pid, tgid) ? 0 : ENFILE;
      }
      case 1: {  // fetch
        if (pid < 1 || !node_in_job(pid)) return EINVAL;
        const auto c = e_.node(pid);
        if (!c) return EINVAL;
        struct {
          std::int32_t pid;
          std::uint32_t pad;
          std::uint64_t heapsize, openfile_count;
        } out{pid, 0, c->heapsize, c->openfile_count};
        // The caller is blocked in this call: its tid still names it (checked just before).
        if (!l.id_valid(n.id)) return EINVAL;
        return target::write_memory(static_cast<pid_t>(n.pid), arg(0), &out, sizeof out) < 0 ? EINVAL : 0;
      }
      case 2: {  // deregister
        if (pid < 1) return EINVAL;
        if (!node_in_job(pid)) return ESRCH;
        // A quota imposed from outside cannot be dropped from inside (stricter than the kernel).
        if (e_.quotas(pid).imposed) return EPERM;
        return e_.remove_node(pid) ? 0 : ESRCH;
      }
      case 3: {  // resource_cap
        const pid_t tgid = live_in_job(pid);
        if (tgid == 0) return ESRCH;
        if (!node_in_job(pid)) return EINVAL;
        const auto heap = static_cast<std::int64_t>(arg(1)), files = static_cast<std::int64_t>(arg(2));
        if (heap < -1 || files < -1) return EINVAL;
        if (e_.quotas(pid).set) return ENFILE;
        bpf::Quotas q;
        q.heap = tl_heap_quota_bytes(heap);
        q.files = files >= 0 ? static_cast<std::uint64_t>(files) : bpf::kUnlimited;
        q.set = heap >= 0 || files >= 0;
        e_.set_quotas(pid, q);
        enforce(pid, tgid, q);
        return 0;
      }
      case 4: {  // resource_reset
        if (live_in_job(pid) == 0) return ESRCH;
        if (!node_in_job(pid)) return EINVAL;
        if (e_.quotas(pid).imposed) return EPERM;
        e_.set_quotas(pid, bpf::Quotas{});
        return 0;
      }
      default: return ENOSYS;
    }
  }

  // resource_cap is enforced at once, as the patch's tl_resource_cap.
  void enforce(Pid pid, pid_t tgid, const bpf::Quotas& q) {
    const auto c = e_.node(pid);
    if (!c) return;
    const bool heap = tl_over(c->heapsize, q.heap), files = tl_over(c->openfile_count, q.files);
    if (!heap && !files) return;
    ::kill(tgid, SIGKILL);  // tgid was checked live in our job just now
    KillReport r;
    r.heap = heap;
    r.usage = heap ? c->heapsize : c->openfile_count;
    r.limit = heap ? q.heap : q.files;
    r.pid = pid, r.tgid = tgid, r.rule = "kernel";
    if (const auto st = target::status(pid)) r.name = st->name;
    std::fputs(kill_line("sandbox", r).c_str(), stderr);
  }

 private:
  bpf::Engine& e_;
  const Policy& p_;
};

int op_of(const Policy& p, int nr) {
  for (int i = 0; i < 5; ++i)
    if (p.abi_numbers[static_cast<std::size_t>(i)] == nr) return i;
  return -1;
}

void serve_abi(SeccompListener& l, Abi& abi, const Policy& p, int stop_fd) {
  for (;;) {
    pollfd fds[2] = {{l.fd(), POLLIN, 0}, {stop_fd, POLLIN, 0}};
    if (::poll(fds, 2, -1) < 0) {
      if (errno == EINTR) continue;
      return;
    }
    if (fds[1].revents) return;
    if (fds[0].revents & (POLLHUP | POLLERR | POLLNVAL)) return;
    seccomp_notif n{};
    if (l.receive(n) != 0) continue;
    seccomp_notif_resp r{};
    r.id = n.id;
    const int op = op_of(p, n.data.nr);
    const int rc = op < 0 ? ENOSYS : abi.answer(l, n, op);
    r.error = rc == 0 ? 0 : -rc;
    r.val = 0;
    l.respond(r);
  }
}

void print_kill(const bpf::Kill& k) {
  KillReport r;
  r.heap = !k.files;
  r.usage = k.usage, r.limit = k.limit;
  r.pid = k.pid, r.tgid = k.tgid;
  r.rule = "kernel";
  if (k.job != 0) {  // named as the notify engine names them: a job's culprit only
    r.name = k.comm;
    r.job_quota = true;
    r.job = k.job;
    r.live = k.live;
    r.other = k.other;
  }
  std::fputs(kill_line("sandbox", r).c_str(), stderr);
}

// Reaps what has ended among our children (CMD, and the job's orphans reparented to us as
// subreaper), keeping CMD's status.
void reap(pid_t child, int& status, bool& child_done) {
  int st = 0;
  for (pid_t w; (w = ::waitpid(-1, &st, WNOHANG | __WALL)) > 0;) {
    if (w == child) status = st, child_done = true;
  }
}

// Every process of the job, until none is left: a process forking while we kill joins the
// job first (sched_process_fork), so the next round finds its child. Bounded.
void kill_job(bpf::Engine& e, pid_t child, int& status, bool& child_done) {
  for (int round = 0; round < 1000; ++round) {
    const auto m = e.members(kJob);
    if (m.empty()) return;
    for (pid_t p : m) ::kill(p, SIGKILL);  // a tgid of the job, as the programs keep it
    reap(child, status, child_done);
    if (round > 10) ::sched_yield();
  }
}

}  // namespace

std::vector<sock_filter> bpf_engine_filter(const Policy& p) {
  std::vector<sock_filter> f;
  const auto stmt = [&](std::uint16_t code, std::uint32_t k) { f.push_back(BPF_STMT(code, k)); };
  const auto jeq = [&](std::uint32_t k, std::uint8_t jt, std::uint8_t jf) {
    f.push_back(BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, k, jt, jf));
  };
  // Any other ABI kills the process: its calls would reach other entry points (i386 close).
  stmt(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, arch));
  jeq(AUDIT_ARCH_X86_64, 1, 0);
  stmt(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS);
  stmt(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, nr));
  f.push_back(BPF_JUMP(BPF_JMP | BPF_JGE | BPF_K, 0x40000000u, 0, 1));  // x32
  stmt(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS);
  // bpf(): a target must not reach the maps or the links (a root target could otherwise get
  // them by id and detach or rewrite them).
  jeq(SYS_bpf, 0, 1);
  stmt(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EPERM);
  // io_uring opens files without do_sys_openat2: refused as under the notify engine.
  if (!p.allow_io_uring) {
    jeq(SYS_io_uring_setup, 0, 1);
    stmt(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | ENOSYS);
  }
  // prctl(PR_SET_MM): moves the break under the programs' feet (as under the notify engine).
  jeq(SYS_prctl, 0, 3);
  stmt(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, args[0]));
  jeq(PR_SET_MM, 0, 1);
  stmt(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EPERM);
  stmt(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, nr));
  if (p.abi_enabled) {
    for (std::size_t i = 0; i < p.abi_numbers.size(); ++i) {
      jeq(static_cast<std::uint32_t>(p.abi_numbers[i]), 0, 1);
      stmt(BPF_RET | BPF_K, SECCOMP_RET_USER_NOTIF);
    }
  }
  stmt(BPF_RET | BPF_K, SECCOMP_RET_ALLOW);
  return f;
}

namespace {

// Step 1: the engine for this run, or the exit status (or nullopt: the notify engine) when
// there is none.
struct Chosen {
  std::unique_ptr<bpf::Engine> engine;
  std::optional<int> otherwise;  // with no engine: the run's status, or nullopt for notify
};

Chosen choose_engine(const RunOptions& o, const Policy& policy) {
  Chosen c;
  if (o.engine == RunEngine::notify) return c;
  const bool automatic = o.engine == RunEngine::automatic;
  std::string why;
  if (const char* no = unsupported(o, policy))
    why = no;
  else
    c.engine = bpf::Engine::open(why);
  if (!c.engine) {
    if (automatic) {
      if (o.verbosity >= 1)
        std::fprintf(stderr, "sandbox: engine: notify (bpf unavailable: %s)\n", why.c_str());
      return c;
    }
    std::fprintf(stderr, "sandbox: --engine bpf unavailable: %s\n", why.c_str());
    c.otherwise = exit_status::cannot_run;
    return c;
  }
  if (automatic && o.verbosity >= 1) std::fprintf(stderr, "sandbox: engine: bpf\n");
  if (o.verbosity >= 2)
    std::fprintf(stderr, "sandbox: BPF programs loaded and attached in %.1f ms\n", c.engine->load_ms());
  return c;
}

// Step 2: CMD forked under the ABI-only filter, waiting for its go; its listener received.
struct Launched {
  pid_t child = -1;
  UniqueFd control;
  std::optional<SeccompListener> listener;
};

std::optional<int> launch(const sock_fprog& prog, char* const argv[], Launched& l) {
  ::unsetenv("SANDBOX_SOCKET");  // no control socket under this engine (yet)
  int sv[2];
  if (::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) != 0) {
    std::fprintf(stderr, "sandbox: socketpair: %s\n", std::strerror(errno));
    return exit_status::cannot_run;
  }
  UniqueFd child_end(sv[1]);
  l.control = UniqueFd(sv[0]);
  ::prctl(PR_SET_CHILD_SUBREAPER, 1);  // the job's orphans come to us while we live
  const pid_t parent = ::getpid();
  l.child = ::fork();
  if (l.child < 0) {
    std::fprintf(stderr, "sandbox: fork: %s\n", std::strerror(errno));
    return exit_status::cannot_run;
  }
  if (l.child == 0) {
    // If the supervisor dies, CMD must not run on: its programs and maps die with it.
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent) ::_exit(127);
    shim::exec_target(prog, child_end.get(), argv[0], argv);
  }
  g_bpf_child = l.child;
  child_end.reset();
  shim::Message failure{};
  UniqueFd listener_fd(shim::receive_listener(l.control.get(), failure));
  if (!listener_fd) {
    if (failure.stage == shim::Stage::seccomp && failure.err == EBUSY)
      std::fprintf(stderr, "sandbox: cannot start '%s': %s\n", argv[0], shim::kNestedMessage);
    else
      std::fprintf(stderr, "sandbox: cannot start '%s': %s: %s\n", argv[0], shim::stage_name(failure.stage),
                   std::strerror(failure.err));
    int status = 0;
    ::waitpid(l.child, &status, 0);
    return exit_status::cannot_run;
  }
  l.listener.emplace(std::move(listener_fd));
  return std::nullopt;
}

// Step 3: the job and CMD's node in the maps before CMD runs a single instruction of its own
// (it waits for its go), so all it does from its exec on is accounted. False: CMD was killed.
bool enter_job(bpf::Engine& engine, const RunOptions& o, const Policy& policy, pid_t child) {
  const auto limit = [](std::optional<std::uint64_t> v) { return v ? *v : bpf::kUnlimited; };
  const bool job_scope = o.scope == Scope::job;
  if (!engine.add_job(kJob, child, job_scope ? limit(policy.heap_quota_bytes) : bpf::kUnlimited,
                      job_scope ? limit(policy.file_quota) : bpf::kUnlimited)) {
    std::fprintf(stderr, "sandbox: cannot add pid %d to the BPF maps: %s\n", child, std::strerror(errno));
    return false;
  }
  if (policy.track || policy.heap_quota_bytes || policy.file_quota) {
    engine.add_node(child, child);
    if (policy.heap_quota_bytes || policy.file_quota)
      engine.set_quotas(child,
                        bpf::Quotas{limit(policy.heap_quota_bytes), limit(policy.file_quota), true, true});
  }
  return true;
}

// Step 4: kills as the programs report them, until CMD ends; a job kill takes the whole job.
// Then whatever is left of the job is killed, as under the notify engine.
struct Ended {
  int status = 0;
  bool job_killed = false;
};

Ended supervise(bpf::Engine& engine, const RunOptions& o, pid_t child) {
  Ended e;
  const auto on_kill = [&](const bpf::Kill& k) {
    if (k.job != 0) e.job_killed = true;
    if (o.verbosity >= 1) print_kill(k);
  };
  const int pidfd = target::pidfd_open(child, false);
  bool child_done = false;
  for (;;) {
    pollfd fds[2] = {{engine.kills_fd(), POLLIN, 0}, {pidfd, POLLIN, 0}};
    const int n = ::poll(fds, pidfd >= 0 ? 2 : 1, pidfd >= 0 ? -1 : 100);
    if (n < 0 && errno != EINTR) break;
    engine.drain(on_kill);
    if (e.job_killed) kill_job(engine, child, e.status, child_done);
    reap(child, e.status, child_done);
    if (child_done) break;
  }
  if (pidfd >= 0) ::close(pidfd);
  g_bpf_child = 0;
  engine.drain(on_kill);
  if (const auto left = engine.members(kJob); !left.empty() && !e.job_killed && o.verbosity >= 1)
    std::fprintf(stderr, "sandbox: %zu process%s of the job still running after CMD exited; killed\n",
                 left.size(), left.size() == 1 ? "" : "es");
  kill_job(engine, child, e.status, child_done);
  return e;
}

// Step 5: the run's exit status: the exec's failure, a quota kill, or CMD's own.
int finish(bpf::Engine& engine, int exec_failure, const Ended& e) {
  if (exec_failure >= 0) return exec_failure;
  const auto totals = engine.job(kJob);
  if (e.job_killed || (totals && totals->killed)) return exit_status::quota_kill;
  return exit_status::of(e.status);
}

}  // namespace

std::optional<int> run_with_engine(const RunOptions& o, const Policy& policy, char* const argv[],
                                   const std::function<int()>& split_guard) {
  Chosen chosen = choose_engine(o, policy);
  if (!chosen.engine) return chosen.otherwise;
  bpf::Engine& engine = *chosen.engine;

  // The guard and the supervisor, as under the notify engine: the supervisor is non-dumpable
  // (a same-uid target can neither ptrace it nor copy its descriptors, the links and maps,
  // with pidfd_getfd()), and if it dies the guard kills every target it leaves.
  if (const int rc = split_guard(); rc >= 0) return rc;
  std::vector<sock_filter> filter = bpf_engine_filter(policy);
  const sock_fprog prog{static_cast<unsigned short>(filter.size()), filter.data()};
  Launched l;
  if (const auto failed = launch(prog, argv, l)) return failed;
  if (!enter_job(engine, o, policy, l.child)) {
    ::kill(l.child, SIGKILL);
    ::waitpid(l.child, nullptr, 0);
    return exit_status::cannot_run;
  }
  if (o.verbosity >= 2)
    std::fprintf(stderr,
                 "sandbox: supervising pid %d as job %u under the bpf engine, scope %s (%zu filter "
                 "instructions: the ABI only)\n",
                 l.child, kJob, std::string(to_string(o.scope)).c_str(), filter.size());

  int stop[2];
  if (::pipe2(stop, O_CLOEXEC) != 0) {
    ::kill(l.child, SIGKILL);
    ::waitpid(l.child, nullptr, 0);
    return exit_status::cannot_run;
  }
  UniqueFd stop_r(stop[0]), stop_w(stop[1]);
  Abi abi(engine, policy);
  sigset_t all, old;
  sigfillset(&all);
  ::pthread_sigmask(SIG_BLOCK, &all, &old);
  std::thread abi_thread([&] { serve_abi(*l.listener, abi, policy, stop_r.get()); });
  ::pthread_sigmask(SIG_SETMASK, &old, nullptr);
  struct sigaction sa {};
  sa.sa_handler = forward;
  sa.sa_flags = SA_RESTART;
  for (int sig : {SIGINT, SIGTERM, SIGHUP, SIGQUIT}) ::sigaction(sig, &sa, nullptr);
  ::signal(SIGPIPE, SIG_IGN);

  const int exec_failure = go_and_await_exec(l.control.get(), argv[0]);
  const Ended ended = supervise(engine, o, l.child);
  (void)!::write(stop_w.get(), "x", 1);
  abi_thread.join();
  return finish(engine, exec_failure, ended);
}

}  // namespace sandbox
