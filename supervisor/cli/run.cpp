#include "cli/run.hpp"

#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <functional>
#include <memory>
#include <string>
#include <thread>

#include "cli/events.hpp"
#include "cli/policy.hpp"
#include "cli/report.hpp"
#include "control/server.hpp"
#include "notify/notify.hpp"
#include "notify/supervisor.hpp"
#include "notify/syscalls.hpp"
#include "observe/recorder.hpp"
#include "shim.hpp"

#ifndef SANDBOX_VERSION
#define SANDBOX_VERSION "0.0.0"
#endif

namespace sandbox {
namespace {

volatile sig_atomic_t g_child = 0;

// Termination requests are passed on to CMD, which decides what to do with them. Signals
// the terminal sent to the whole foreground group (si_code SI_KERNEL) reached CMD already.
void forward_signal(int sig, siginfo_t* info, void*) {
  if (g_child > 0 && info->si_code != SI_KERNEL) ::kill(g_child, sig);
}

Policy effective_policy(const RunOptions& o) {
  Policy p = o.policy_file ? load_policy_file(*o.policy_file) : Policy{};
  if (o.heap_quota) p.heap_quota_bytes = o.heap_quota->limit;  // unlimited: none, whatever the policy says
  if (o.file_quota) p.file_quota = o.file_quota->limit;
  if (o.track) p.track = true;
  if (o.heap_rule) p.heap_rule = *o.heap_rule;
  return p;
}

// Kills and reaps whatever is left of the run once CMD has exited: nothing launched under
// the sandbox keeps running unsupervised. We are a subreaper, so orphans come to us.
void reap_leftovers(Supervisor* sup = nullptr) {
  for (int round = 0; round < 10000; ++round) {
    const auto kids = target::own_children();
    if (kids.empty()) return;
    // Our own unreaped children: their pids cannot be reused until we wait for them.
    for (pid_t k : kids) ::kill(k, SIGKILL);
    int st;
    pid_t w;
    while ((w = ::waitpid(-1, &st, __WALL)) > 0)
      if (sup) sup->reaped(w, st);
  }
}

// --summary and --output: what the job used, once everything has ended.
void report(Supervisor& sup, JobId job, const RunOptions& o, int exit_status) {
  RunReport r;
  r.exit_status = exit_status;
  r.job = sup.job_view(job);
  r.processes = sup.job_history(job);
  r.notifications = sup.notifications();
  if (o.summary) std::fputs(summary_line(r).c_str(), stderr);
  if (!o.output) return;
  const std::string text = report_json(r);
  FILE* f = std::fopen(o.output->c_str(), "w");
  if (!f || std::fwrite(text.data(), 1, text.size(), f) != text.size() || std::fclose(f) != 0)
    std::fprintf(stderr, "sandbox: --output %s: %s\n", o.output->c_str(), std::strerror(errno));
}

// ---- the guard ---------------------------------------------------------------------
// The process the user started stays the parent of the supervisor, and a subreaper. If the
// supervisor dies, even by SIGKILL, CMD dies with it (PR_SET_PDEATHSIG) and whatever CMD
// left running is reparented here, to the guard, which kills it: nothing launched under the
// sandbox runs on unaccounted. If the guard dies, the supervisor is told (its own
// PDEATHSIG, kGuardGone) and kills every target before it exits.
constexpr int kGuardGone = SIGUSR2;
volatile sig_atomic_t g_supervisor = 0;
volatile sig_atomic_t g_guard_gone = 0;

void forward_to_supervisor(int sig, siginfo_t* info, void*) {
  if (g_supervisor > 0 && info->si_code != SI_KERNEL) ::kill(g_supervisor, sig);
}
void on_guard_gone(int) {
  g_guard_gone = 1;
}

int guard(pid_t supervisor) {
  g_supervisor = supervisor;
  struct sigaction sa {};
  sa.sa_sigaction = forward_to_supervisor;
  sa.sa_flags = SA_SIGINFO | SA_RESTART;
  for (int sig : {SIGINT, SIGTERM, SIGHUP, SIGQUIT}) ::sigaction(sig, &sa, nullptr);
  int status = 0;
  for (;;) {
    const pid_t w = ::waitpid(-1, &status, __WALL);
    if (w == supervisor) break;
    if (w < 0 && errno != EINTR) return 1;
    // any other child is an orphan of CMD's, reparented after the supervisor's death
  }
  g_supervisor = 0;
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  const int killed = static_cast<int>(target::own_children().size());
  reap_leftovers();
  std::fprintf(stderr, "sandbox: the supervisor died (%s); %d leftover target process(es) killed\n",
               strsignal(WTERMSIG(status)), killed);
  return 128 + WTERMSIG(status);
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

  // The control socket's path is decided before the fork: CMD finds it in $SANDBOX_SOCKET.
  std::string socket_path;
  if (!options.no_socket) {
    socket_path = options.socket ? *options.socket : default_socket_path("run-" + std::to_string(::getpid()));
    ::setenv("SANDBOX_SOCKET", socket_path.c_str(), 1);
  }

  ::prctl(PR_SET_CHILD_SUBREAPER, 1);
  const pid_t guard_pid = ::getpid();
  if (const pid_t sup_pid = ::fork(); sup_pid != 0) {
    if (sup_pid < 0) {
      std::fprintf(stderr, "sandbox: fork: %s\n", std::strerror(errno));
      return 126;
    }
    return guard(sup_pid);
  }
  // The supervisor from here on.
  struct sigaction gone {};
  gone.sa_handler = on_guard_gone;  // no SA_RESTART: waitpid() returns EINTR
  ::sigaction(kGuardGone, &gone, nullptr);
  ::prctl(PR_SET_PDEATHSIG, kGuardGone);
  if (::getppid() != guard_pid) ::_exit(1);

  // The supervisor and its control socket exist before CMD does: CMD finds the socket in
  // $SANDBOX_SOCKET only once it is bound and ours (a default path in a directory no other
  // user can write); else CMD gets no $SANDBOX_SOCKET at all, never a path someone else
  // may hold.
  const bool verbose = options.verbosity >= 2;
  Supervisor sup(Supervisor::Options{policy, verbose, 1});  // one tenant: every descriptor
  sup.subscribe(Caller{0, 0, ::getpid()},
                [level = options.verbosity](const Event& e) { print_event(e, level); });
  // --trace: every event and every usage change, from the first one on.
  std::unique_ptr<observe::TraceRecorder> recorder;
  if (options.trace) {
    try {
      std::string job = "run";
      for (const auto& a : options.command) job += " " + a;
      if (job.size() > 80) job = job.substr(0, 77) + "...";
      recorder = std::make_unique<observe::TraceRecorder>(*options.trace, job);
    } catch (const std::exception& e) {
      std::fprintf(stderr, "sandbox: %s\n", e.what());
      return 2;
    }
    WatchFilter all;
    all.kinds = ~0u;
    all.raw_usage = true;
    sup.subscribe(Caller{0, 0, ::getpid()}, all, [r = recorder.get()](const Event& e) { r->on_event(e); });
  }
  boost::asio::io_context io;
  std::unique_ptr<Server> server;
  if (!socket_path.empty()) {
    Server::Options so;
    so.path = socket_path;
    so.private_dir = !options.socket;
    so.version = SANDBOX_VERSION;
    try {
      server = std::make_unique<Server>(io, sup, so);
      server->start();
      if (verbose) std::fprintf(stderr, "sandbox: control socket %s\n", socket_path.c_str());
    } catch (const std::exception& e) {
      server.reset();
      if (options.socket) {  // asked for explicitly: not starting CMD without it
        std::fprintf(stderr, "sandbox: %s\n", e.what());
        return 2;
      }
      std::fprintf(stderr, "sandbox: control socket disabled: %s\n", e.what());
      ::unsetenv("SANDBOX_SOCKET");
    }
  }

  int sv[2];
  if (::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) != 0) {
    std::fprintf(stderr, "sandbox: socketpair: %s\n", std::strerror(errno));
    return 126;
  }
  UniqueFd control(sv[0]), child_end(sv[1]);
  ::prctl(PR_SET_CHILD_SUBREAPER, 1);  // CMD's orphans come to the supervisor while it lives
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
    if (failure.stage == shim::Stage::seccomp && failure.err == EBUSY)
      std::fprintf(stderr, "sandbox: cannot start '%s': %s\n", argv[0], shim::kNestedMessage);
    else
      std::fprintf(stderr, "sandbox: cannot start '%s': %s: %s\n", argv[0], shim::stage_name(failure.stage),
                   std::strerror(failure.err));
    ::waitpid(child, &status, 0);
    return 126;
  }
  SeccompListener listener(std::move(listener_fd));
  const bool sync = listener.enable_sync_wakeup();

  sup.adopt_root(child, &listener);
  if (const OpResult r = sup.impose(child, policy); !r.ok()) {
    std::fprintf(stderr, "sandbox: cannot register pid %d: %s\n", child, r.message.c_str());
    ::kill(child, SIGKILL);
    ::waitpid(child, &status, 0);
    return 126;
  }
  // The job: everything whose calls come through this listener. Under --scope job the
  // quotas hold for all of it together; CMD's own node (above) keeps the kernel's semantics.
  JobSpec job_spec;
  job_spec.root = child;
  job_spec.scope = options.scope;
  job_spec.heap_rule = policy.heap_rule;
  if (options.scope == Scope::job)
    job_spec.heap_quota_bytes = policy.heap_quota_bytes, job_spec.file_quota = policy.file_quota;
  // A trace shows the job's totals, so it counts them (as --summary does).
  job_spec.track = policy.track || options.summary || options.output || options.trace;
  job_spec.keep_history = options.output.has_value();
  const JobId job = sup.start_job(listener, job_spec);
  if (recorder) recorder->job(job, job_spec.heap_quota_bytes, job_spec.file_quota);
  if (verbose)
    std::fprintf(stderr,
                 "sandbox: supervising pid %d as job %u, scope %s (%zu BPF instructions, sync wake-up %s)\n",
                 child, job, std::string(to_string(options.scope)).c_str(), bpf.size(), sync ? "on" : "off");

  // The notify and server threads take no signals (but the notify thread's stop signal);
  // the main thread forwards them to CMD.
  sigset_t all, old;
  sigfillset(&all);
  ::pthread_sigmask(SIG_BLOCK, &all, &old);
  std::thread io_thread;
  if (server) io_thread = std::thread([&io] { io.run(); });
  // Now and then, on the io thread: coalesced usage events held back are sent, and the
  // trace's buffer goes to its file (never from the notify thread).
  boost::asio::steady_timer tick_timer(io);
  bool ticking = true;
  std::function<void()> tick = [&] {
    tick_timer.expires_after(std::chrono::milliseconds(100));
    tick_timer.async_wait([&](const boost::system::error_code& ec) {
      if (ec || !ticking) return;
      sup.flush_usage();
      if (recorder) recorder->flush();
      tick();
    });
  };
  if (server || recorder) {
    tick();
    if (!io_thread.joinable()) io_thread = std::thread([&io] { io.run(); });
  }
  std::atomic<bool> done{false};
  std::atomic<bool> stop{false};
  std::thread notify([&] {
    sup.serve(listener, stop);
    done.store(true);
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

  const bool reporting = options.summary || options.output;
  for (;;) {
    int st = 0;
    const pid_t w = ::waitpid(-1, &st, __WALL);
    if (w > 0 && reporting) sup.reaped(w, st);
    if (w == child) {
      status = st;
      break;
    }
    if (w < 0 && errno != EINTR) break;
    if (g_guard_gone) {  // the guard was killed: take everything down with us
      g_guard_gone = 0;
      sup.kill_all();
    }
  }
  g_child = 0;
  reap_leftovers(reporting ? &sup : nullptr);

  stop.store(true);
  Supervisor::finish(notify, done);
  sup.maintain();  // notices the exits not seen by a notification (a kill): `exited` events
  boost::asio::post(io, [&] {
    ticking = false;
    tick_timer.cancel();
  });
  if (server) server->stop();  // watchers get {"event":"end"}
  if (io_thread.joinable()) io_thread.join();
  server.reset();
  if (recorder) {
    if (const std::string err = recorder->close(); !err.empty()) {
      std::fprintf(stderr, "sandbox: %s\n", err.c_str());
    } else if (verbose) {
      std::fprintf(stderr, "sandbox: trace written to %s (%llu counter points)\n", options.trace->c_str(),
                   static_cast<unsigned long long>(recorder->points()));
    }
  }

  if (verbose)
    std::fprintf(stderr, "sandbox: %llu notifications handled\n",
                 static_cast<unsigned long long>(sup.notifications()));
  if (exit_code < 0) {
    if (sup.job_killed(job))
      exit_code = 128 + SIGKILL;  // a job quota kill, even if CMD itself got out first
    else if (WIFEXITED(status))
      exit_code = WEXITSTATUS(status);
    else if (WIFSIGNALED(status))
      exit_code = 128 + WTERMSIG(status);
    else
      exit_code = 1;
  }
  if (reporting) report(sup, job, options, exit_code);
  return exit_code;
}

}  // namespace sandbox
