#include "run.hpp"

#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <thread>

#include "notify.hpp"
#include "policy.hpp"
#include "shim.hpp"
#include "supervisor.hpp"
#include "syscalls.hpp"

namespace sandbox {
namespace {

volatile sig_atomic_t g_child = 0;

// Termination requests are passed on to CMD, which decides what to do with them. Signals
// the terminal sent to the whole foreground group (si_code SI_KERNEL) reached CMD already.
void forward_signal(int sig, siginfo_t* info, void*) {
  if (g_child > 0 && info->si_code != SI_KERNEL) ::kill(g_child, sig);
}

void print_event(const Event& e, bool verbose) {
  if (e.kind == Event::Kind::killed && e.violation) {
    const Violation& v = *e.violation;
    char who[64] = "";
    if (v.node != v.tgid) std::snprintf(who, sizeof who, " (thread %d's node)", v.node);
    if (v.resource == Resource::heap)
      std::fprintf(stderr,
                   "sandbox: killed pid %d%s: heap quota exceeded: %llu bytes (%.1f MiB) > "
                   "limit %llu bytes (%.1f MiB)\n",
                   v.tgid, who, static_cast<unsigned long long>(v.usage),
                   static_cast<double>(v.usage) / (1 << 20), static_cast<unsigned long long>(v.limit),
                   static_cast<double>(v.limit) / (1 << 20));
    else
      std::fprintf(stderr, "sandbox: killed pid %d%s: file quota exceeded: %llu open files > limit %llu\n",
                   v.tgid, who, static_cast<unsigned long long>(v.usage),
                   static_cast<unsigned long long>(v.limit));
    return;
  }
  if (!verbose) return;
  static const char* const names[] = {"registered", "deregistered", "exited",
                                      "killed",     "quota set",    "quota reset"};
  std::fprintf(stderr, "sandbox: pid %d: %s\n", e.pid, names[static_cast<int>(e.kind)]);
}

Policy effective_policy(const RunOptions& o) {
  Policy p = o.policy_file ? load_policy_file(*o.policy_file) : Policy{};
  if (o.heap_quota_bytes) p.heap_quota_bytes = o.heap_quota_bytes;
  if (o.file_quota) p.file_quota = o.file_quota;
  if (o.track) p.track = true;
  return p;
}

// Kills and reaps whatever is left of the run once CMD has exited: nothing launched under
// the sandbox keeps running unsupervised. We are a subreaper, so orphans come to us.
void reap_leftovers() {
  for (int round = 0; round < 10000; ++round) {
    const auto kids = target::own_children();
    if (kids.empty()) return;
    // Our own unreaped children: their pids cannot be reused until we wait for them.
    for (pid_t k : kids) ::kill(k, SIGKILL);
    int st;
    while (::waitpid(-1, &st, __WALL) > 0) {
    }
  }
}

}  // namespace

int run_command(const RunOptions& options) {
  Policy policy;
  std::vector<sock_filter> bpf;
  try {
    policy = effective_policy(options);
    bpf = build_filter(policy);
  } catch (const PolicyError& e) {
    std::fprintf(stderr, "sandbox: %s\n", e.what());
    return 2;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "sandbox: %s\n", e.what());
    return 126;
  }
  if (const char* why = check_notify_sizes(); *why) {
    std::fprintf(stderr, "sandbox: %s\n", why);
    return 126;
  }
  const sock_fprog prog{static_cast<unsigned short>(bpf.size()), bpf.data()};

  std::vector<char*> argv;
  for (const auto& a : options.command) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);

  int sv[2];
  if (::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) != 0) {
    std::fprintf(stderr, "sandbox: socketpair: %s\n", std::strerror(errno));
    return 126;
  }
  UniqueFd control(sv[0]), child_end(sv[1]);
  ::prctl(PR_SET_CHILD_SUBREAPER, 1);
  const pid_t parent = ::getpid();
  const pid_t child = ::fork();
  if (child < 0) {
    std::fprintf(stderr, "sandbox: fork: %s\n", std::strerror(errno));
    return 126;
  }
  if (child == 0) {
    // If the supervisor dies, the target must not run on unaccounted.
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent) ::_exit(127);
    shim::exec_target(prog, child_end.get(), argv[0], argv.data());
  }
  g_child = child;
  child_end.reset();

  shim::Message failure{};
  UniqueFd listener_fd(shim::receive_listener(control.get(), failure));
  int status = 0;
  if (!listener_fd) {
    std::fprintf(stderr, "sandbox: cannot start '%s': %s: %s\n", argv[0], shim::stage_name(failure.stage),
                 std::strerror(failure.err));
    ::waitpid(child, &status, 0);
    return 126;
  }
  SeccompListener listener(std::move(listener_fd));
  const bool sync = listener.enable_sync_wakeup();

  Supervisor::Options so;
  so.policy = policy;
  so.verbose = options.verbose;
  so.on_event = [verbose = options.verbose](const Event& e) { print_event(e, verbose); };
  Supervisor sup(so);
  sup.adopt_root(child);
  if (policy.track || policy.heap_quota_bytes || policy.file_quota) {
    int rc = sup.outside_register(child);
    if (rc == 0 && (policy.heap_quota_bytes || policy.file_quota)) {
      const auto heap = policy.heap_quota_bytes ? static_cast<std::int64_t>(*policy.heap_quota_bytes) : -1;
      const auto files = policy.file_quota ? static_cast<std::int64_t>(*policy.file_quota) : -1;
      rc = sup.outside_cap_bytes(child, heap, files);
    }
    if (rc != 0) {
      std::fprintf(stderr, "sandbox: cannot register pid %d: %s\n", child, std::strerror(rc));
      ::kill(child, SIGKILL);
      ::waitpid(child, &status, 0);
      return 126;
    }
  }
  if (options.verbose)
    std::fprintf(stderr, "sandbox: supervising pid %d (%zu BPF instructions, sync wake-up %s)\n", child,
                 bpf.size(), sync ? "on" : "off");

  // The notify thread takes no signals but its stop signal; the main thread forwards.
  sigset_t all, old;
  sigfillset(&all);
  ::pthread_sigmask(SIG_BLOCK, &all, &old);
  std::atomic<bool> serving{true};
  std::thread notify([&] {
    sup.serve(listener);
    serving.store(false);
  });
  ::pthread_sigmask(SIG_SETMASK, &old, nullptr);
  struct sigaction sa {};
  sa.sa_sigaction = forward_signal;
  sa.sa_flags = SA_SIGINFO | SA_RESTART;
  for (int sig : {SIGINT, SIGTERM, SIGHUP, SIGQUIT}) ::sigaction(sig, &sa, nullptr);
  ::signal(SIGPIPE, SIG_IGN);

  // Go: the target execs. EOF on the control socket means exec succeeded (O_CLOEXEC).
  const char go = 'g';
  (void)!::send(control.get(), &go, 1, MSG_NOSIGNAL);
  shim::Message late{};
  ssize_t got;
  do got = ::recv(control.get(), &late, sizeof late, 0);
  while (got < 0 && errno == EINTR);
  int exit_code = -1;
  if (got == static_cast<ssize_t>(sizeof late) && late.kind == shim::Message::failed) {
    std::fprintf(stderr, "sandbox: cannot run '%s': %s\n", argv[0], std::strerror(late.err));
    exit_code = late.err == ENOENT ? 127 : 126;
  }

  for (;;) {
    const pid_t w = ::waitpid(-1, &status, __WALL);
    if (w == child) break;
    if (w < 0 && errno != EINTR) break;
  }
  g_child = 0;
  reap_leftovers();

  sup.request_stop();
  while (serving.load()) {
    ::pthread_kill(notify.native_handle(), Supervisor::stop_signal());
    const timespec tick{0, 1'000'000};
    ::nanosleep(&tick, nullptr);  // wait for the thread to notice, not a synchronisation
  }
  notify.join();

  if (exit_code >= 0) return exit_code;
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return 1;
}

}  // namespace sandbox
