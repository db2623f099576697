// SPDX-License-Identifier: Apache-2.0
#include "cli/run.hpp"

#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
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
#include <nlohmann/json.hpp>
#include <string>
#include <thread>

#include "cli/ctl.hpp"
#include "cli/events.hpp"
#include "cli/report.hpp"
#include "control/server.hpp"
#include "kill_line.hpp"
#include "notify/supervisor.hpp"
#include "observe/output_file.hpp"
#include "observe/recorder.hpp"
#include "policy/policy.hpp"
#include "policy/syscalls.hpp"
#include "shim.hpp"
#include "target/notify.hpp"

#ifndef SANDBOX_VERSION
#define SANDBOX_VERSION "0.0.0"
#endif

namespace sandbox {
namespace {

volatile sig_atomic_t g_child = 0;
constexpr int kGuardGone = SIGUSR2;  // the guard died (see "the guard" below)
volatile sig_atomic_t g_guard_gone = 0;
volatile sig_atomic_t g_interrupted = 0;  // a termination signal received once CMD had exited

// Termination requests are passed on to CMD, which decides what to do with them. Signals
// the terminal sent to the whole foreground group (si_code SI_KERNEL) reached CMD already.
// Once CMD has exited (--wait-job), any of them ends the wait.
void forward_signal(int sig, siginfo_t* info, void*) {
  if (g_child > 0) {
    if (info->si_code != SI_KERNEL) ::kill(g_child, sig);
  } else {
    g_interrupted = sig;
  }
}
constexpr int kTerminationSignals[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT};

// CPU time and peak RSS of the processes the run reaped (RunReport says what they cover).
struct Reaped {
  std::uint64_t user_us = 0, system_us = 0;
  long maxrss_kib = 0;
  void add(const rusage& r) {
    user_us += static_cast<std::uint64_t>(r.ru_utime.tv_sec) * 1'000'000u +
               static_cast<std::uint64_t>(r.ru_utime.tv_usec);
    system_us += static_cast<std::uint64_t>(r.ru_stime.tv_sec) * 1'000'000u +
                 static_cast<std::uint64_t>(r.ru_stime.tv_usec);
    maxrss_kib = std::max(maxrss_kib, r.ru_maxrss);
  }
};

// wait4() for any child (WNOHANG in `flags`: without blocking); what it used goes to `acc`,
// its ending to the supervisor's records when `sup` is given.
pid_t reap(int flags, int& status, Supervisor* sup, Reaped* acc) {
  rusage ru{};
  const pid_t w = ::wait4(-1, &status, __WALL | flags, &ru);
  if (w > 0) {
    if (acc) acc->add(ru);
    if (sup) sup->reaped(w, status);
  }
  return w;
}

double seconds_since(const timespec& start) {
  timespec now{};
  ::clock_gettime(CLOCK_MONOTONIC, &now);
  return static_cast<double>(now.tv_sec - start.tv_sec) +
         static_cast<double>(now.tv_nsec - start.tv_nsec) / 1e9;
}

Policy effective_policy(const RunOptions& o) {
  Policy p = o.policy_file ? load_policy_file(*o.policy_file) : Policy{};
  if (o.heap_quota) p.heap_quota_bytes = o.heap_quota->limit;  // unlimited: none, whatever the policy says
  if (o.file_quota) p.file_quota = o.file_quota->limit;
  if (o.track) p.track = true;
  if (o.no_delegate) p.delegate = false;
  if (o.heap_rule) p.heap_rule = *o.heap_rule;
  return p;
}

// Kills and reaps whatever is left of the run once CMD has exited: nothing launched under
// the sandbox keeps running unsupervised. We are a subreaper, so orphans come to us.
void reap_leftovers(Supervisor* sup = nullptr, Reaped* acc = nullptr) {
  for (int round = 0; round < 10000; ++round) {
    const auto kids = target::own_children();
    if (kids.empty()) return;
    // Our own unreaped children: their pids cannot be reused until we wait for them.
    for (pid_t k : kids) ::kill(k, SIGKILL);
    int st;
    while (reap(0, st, sup, acc) > 0) {
    }
  }
}

void write_report(const RunOptions& o, const RunReport& r, observe::OutputFile* out);

// --summary and --output: what the job used, once everything has ended. The report file was
// opened before CMD started (`out`), and is written through that descriptor only.
void report(Supervisor& sup, JobId job, const RunOptions& o, RunReport r, observe::OutputFile* out) {
  r.argv = o.command;
  r.job = sup.job_view(job);
  r.heap_rule = std::string(to_string(r.job.heap_rule));  // --heap-rule or the policy's (docs/memory.md)
  r.processes = sup.job_history(job);
  r.notifications = sup.notifications();
  write_report(o, r, out);
}

// The summary line and the -o document of `r` (a run's, or a nested run's).
void write_report(const RunOptions& o, const RunReport& r, observe::OutputFile* out) {
  if (o.summary) std::fputs(summary_line(r).c_str(), stderr);
  if (!o.output) return;
  const std::string text = report_json(r);
  if (!out) {  // -o -: on stdout, after everything CMD wrote there
    if (std::fwrite(text.data(), 1, text.size(), stdout) != text.size() || std::fflush(stdout) != 0)
      std::fprintf(stderr, "sandbox: --output -: %s\n", std::strerror(errno));
    return;
  }
  if (!out->still_named())
    std::fprintf(stderr,
                 "sandbox: --output %s: the name was replaced during the run; the report went to the file "
                 "opened before CMD started, not to what the name is now\n",
                 o.output->c_str());
  std::string err = out->replace(text);
  if (const std::string closed = out->close(); err.empty()) err = closed;
  if (!err.empty()) std::fprintf(stderr, "sandbox: %s\n", err.c_str());
}

// ---- the end of a job --------------------------------------------------------------
// CMD has exited. Whatever is left of its job (background work, daemons) is killed, as
// before, or with --wait-job waited for, at most the bound; the user is told either way
// (docs/jobs.md, "When CMD exits").

std::string how_ended(int status) {
  if (WIFEXITED(status)) return "exited with status " + std::to_string(WEXITSTATUS(status));
  if (WIFSIGNALED(status))
    return "was killed by signal " + std::to_string(WTERMSIG(status)) + " (" + strsignal(WTERMSIG(status)) +
           ")";
  return "ended";
}

std::string duration_text(std::uint64_t ms) {
  return ms % 1000 == 0 ? std::to_string(ms / 1000) + "s" : std::to_string(ms) + "ms";
}

LeftRunning listed(const std::vector<std::pair<Pid, std::string>>& members) {
  LeftRunning l;
  l.count = members.size();
  for (const auto& [pid, comm] : members) {
    if (l.processes.size() == LeftRunning::kMaxListed) break;
    l.processes.push_back({pid, comm});
  }
  return l;
}

const char* them(std::size_t n) {
  return n == 1 ? "it" : "them";
}

// Waits until no process of the job is left, the bound passes or a termination signal
// comes; returns the outcome (LeftRunning::outcome). Event-driven: a pidfd per member
// polled (a member's exit wakes us; its children, if any, are listed anew then), the
// signals unblocked only inside ppoll (none is lost between a check and the wait).
std::string wait_for_job(Supervisor& sup, JobId job, const RunOptions& o, Supervisor* records,
                         Reaped& reaped) {
  sigset_t block, old;
  sigemptyset(&block);
  for (int sig : kTerminationSignals) sigaddset(&block, sig);
  sigaddset(&block, kGuardGone);
  ::pthread_sigmask(SIG_BLOCK, &block, &old);
  timespec deadline{};
  ::clock_gettime(CLOCK_MONOTONIC, &deadline);
  if (o.wait_job_ms) {
    deadline.tv_sec += static_cast<time_t>(*o.wait_job_ms / 1000);
    deadline.tv_nsec += static_cast<long>(*o.wait_job_ms % 1000) * 1'000'000;
    if (deadline.tv_nsec >= 1'000'000'000) deadline.tv_sec += 1, deadline.tv_nsec -= 1'000'000'000;
  }
  std::string outcome;
  for (;;) {
    int st;
    while (reap(WNOHANG, st, records, &reaped) > 0) {
    }
    if (sup.job_killed(job)) {
      outcome = "quota_kill";  // its kill line said so; the rest is killed below
      break;
    }
    const auto members = sup.live_members(job);
    if (members.empty()) {
      outcome = "ended";
      break;
    }
    const LeftRunning l = listed(members);
    if (g_guard_gone || g_interrupted) {
      const int sig = g_interrupted ? static_cast<int>(g_interrupted) : SIGKILL;
      if (o.verbosity >= 1)
        std::fprintf(
            stderr,
            "sandbox: interrupted (%s) while waiting for the job: %zu %s still running: %s; killed %s\n",
            g_interrupted ? (std::string("SIG") + sigabbrev_np(sig)).c_str() : "the launcher died", l.count,
            l.count == 1 ? "process" : "processes", process_list(l).c_str(), them(l.count));
      if (g_guard_gone) sup.kill_all();
      outcome = "killed_on_signal";
      break;
    }
    timespec now{}, left{};
    ::clock_gettime(CLOCK_MONOTONIC, &now);
    if (o.wait_job_ms) {
      left.tv_sec = deadline.tv_sec - now.tv_sec;
      left.tv_nsec = deadline.tv_nsec - now.tv_nsec;
      if (left.tv_nsec < 0) left.tv_sec -= 1, left.tv_nsec += 1'000'000'000;
      if (left.tv_sec < 0) {
        if (o.verbosity >= 1)
          std::fprintf(stderr,
                       "sandbox: %zu %s of the job still running %s after CMD exited: %s; killed %s\n",
                       l.count, l.count == 1 ? "process" : "processes", duration_text(*o.wait_job_ms).c_str(),
                       process_list(l).c_str(), them(l.count));
        outcome = "killed_after_wait";
        break;
      }
    }
    std::vector<pollfd> fds;
    for (const auto& [pid, comm] : members) {
      if (fds.size() == 1024) break;  // any exit among them wakes us to list the job anew
      const int fd = target::pidfd_open(pid, false);
      if (fd >= 0) fds.push_back({fd, POLLIN, 0});
    }
    // No pidfd at all (each one ended as it was listed, or no descriptor left): look again
    // soon rather than wait on nothing.
    timespec soon{0, 100'000'000};
    if (fds.empty() && (!o.wait_job_ms || left.tv_sec > 0 || left.tv_nsec > soon.tv_nsec)) left = soon;
    ::ppoll(fds.data(), fds.size(), o.wait_job_ms || fds.empty() ? &left : nullptr, &old);
    for (const pollfd& p : fds) ::close(p.fd);
  }
  ::pthread_sigmask(SIG_SETMASK, &old, nullptr);
  return outcome;
}

// What was left running when CMD exited, and what became of it; the leftovers that remain
// are killed by the caller (reap_leftovers).
LeftRunning end_of_job(Supervisor& sup, JobId job, const RunOptions& o, int cmd_status,
                       observe::TraceRecorder* recorder, Supervisor* records, Reaped& reaped) {
  if (sup.job_killed(job)) return {};  // a quota kill took the job: its line said so
  const auto members = sup.live_members(job);
  if (members.empty()) return {};
  LeftRunning l = listed(members);
  const bool wait = o.wait_job;
  if (recorder) {
    std::vector<std::pair<std::int64_t, std::string>> marks;
    for (const auto& p : l.processes) marks.emplace_back(p.pid, p.comm);
    recorder->left_running(job, l.count, marks, wait ? "wait" : "kill");
  }
  if (o.verbosity >= 1) {
    std::string then =
        wait ? std::string("waiting for ") + them(l.count) + " (" +
                   (o.wait_job_ms ? "at most " + duration_text(*o.wait_job_ms) : "no time limit") + ")"
             : std::string("killed ") + them(l.count) + " (--wait-job waits for them)";
    std::fprintf(stderr, "sandbox: %s %s and left %zu %s of its job running: %s; %s\n", o.command[0].c_str(),
                 how_ended(cmd_status).c_str(), l.count, l.count == 1 ? "process" : "processes",
                 process_list(l).c_str(), then.c_str());
  }
  l.outcome = wait ? wait_for_job(sup, job, o, records, reaped) : "killed";
  return l;
}

// ---- the guard ---------------------------------------------------------------------
// The process the user started stays the parent of the supervisor, and a subreaper. If the
// supervisor dies, even by SIGKILL, CMD dies with it (PR_SET_PDEATHSIG) and whatever CMD
// left running is reparented here, to the guard, which kills it: nothing launched under the
// sandbox runs on unaccounted. If the guard dies, the supervisor is told (its own
// PDEATHSIG, kGuardGone) and kills every target before it exits.
volatile sig_atomic_t g_supervisor = 0;

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

// ---- a nested run: delegation (docs/jobs.md) ------------------------------------------
// Inside a sandboxed job no listener can be had (EBUSY), so there is no supervisor of our
// own: the outer supervisor makes CMD a job nested in ours, and we are its launcher -- CMD's
// parent and subreaper, which is what keeps CMD's descendants in the nested job (job_of in
// supervisor.cpp). What the run used comes from the outer supervisor, for the nested job only.
using json = nlohmann::json;

std::optional<std::uint64_t> quota_of(const json& j, const char* mib_key, const char* bytes_key) {
  if (bytes_key && j.contains(bytes_key) && j[bytes_key].is_number_unsigned())
    return j[bytes_key].get<std::uint64_t>();
  if (!j.contains(mib_key) || !j[mib_key].is_number_unsigned()) return std::nullopt;  // -1: none
  const auto v = j[mib_key].get<std::uint64_t>();
  return bytes_key ? v << 20 : v;
}

std::uint64_t u64(const json& j, const char* key) {
  return j.contains(key) && j[key].is_number_unsigned() ? j[key].get<std::uint64_t>() : 0;
}

JobView job_view_of(const json& j) {
  JobView v;
  v.id = static_cast<JobId>(u64(j, "job"));
  v.root = static_cast<Pid>(u64(j, "root"));
  v.scope = Scope::job;
  v.counting = j.value("tracked", false);
  v.usage = {u64(j, "heapsize"), u64(j, "openfile_count")};
  v.peak_heap = u64(j, "peak_heap_bytes"), v.peak_files = u64(j, "peak_files");
  v.processes = u64(j, "processes"), v.live = u64(j, "live");
  v.heap_quota_bytes = quota_of(j, "heap_quota", "heap_quota_bytes");
  v.file_quota = quota_of(j, "file_quota", nullptr);
  v.parent = static_cast<JobId>(u64(j, "parent"));
  if (const auto k = j.find("killed"); k != j.end() && k->is_object()) {
    JobViolation kv;
    kv.job = v.id;
    kv.pid = static_cast<Pid>(u64(*k, "pid"));
    kv.resource = k->value("resource", "heap") == "files" ? Resource::files : Resource::heap;
    kv.usage = u64(*k, "usage"), kv.limit = u64(*k, "limit");
    v.killed = kv;
  }
  return v;
}

std::vector<ProcessRecord> records_of(const json& j) {
  std::vector<ProcessRecord> out;
  const auto rs = j.find("records");
  if (rs == j.end() || !rs->is_array()) return out;
  for (const json& r : *rs) {
    ProcessRecord p;
    p.pid = static_cast<Pid>(u64(r, "pid"));
    p.argv0 = r.value("argv0", "");
    p.peak_heap = u64(r, "peak_heap_bytes"), p.peak_files = u64(r, "peak_files");
    const std::string end = r.value("end", "unknown");
    for (Ending e : {Ending::running, Ending::exit, Ending::signal, Ending::killed, Ending::unknown})
      if (to_string(e) == end) p.end = e;
    p.code = r.value("code", -1);
    out.push_back(std::move(p));
  }
  return out;
}

KillReport kill_report_of(const json& e) {
  KillReport r;
  r.heap = e.value("reason", "") == "heap";
  r.usage = u64(e, "usage"), r.limit = u64(e, "limit");
  r.pid = static_cast<int>(u64(e, "pid")), r.tgid = static_cast<int>(u64(e, "tgid"));
  r.name = e.value("comm", "");
  r.job = static_cast<std::uint32_t>(u64(e, "job"));
  r.job_quota = e.contains("live");
  r.live = u64(e, "live");
  r.other = r.heap ? u64(e, "openfile_count") : u64(e, "heapsize");
  return r;
}

// -o FILE, opened before CMD exists and written through this descriptor at the end
// (observe/output_file.hpp): a target that can write its directory cannot redirect it.
// false (the reason said in one line) when it cannot be: run exits 2 before CMD starts.
bool open_output(const RunOptions& o, std::unique_ptr<observe::OutputFile>& out) {
  if (!o.output || *o.output == "-") return true;
  try {
    out = std::make_unique<observe::OutputFile>("--output", *o.output);
    return true;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "sandbox: %s\n", e.what());
    return false;
  }
}

// The delegate request for `child`: the run's quotas, as a join would carry them.
std::string delegate_line(const RunOptions& o, const Policy& policy, pid_t child) {
  json j;
  j["op"] = "delegate";
  j["pid"] = child;
  j["heap_quota_bytes"] = policy.heap_quota_bytes ? json(*policy.heap_quota_bytes) : json(-1);
  j["file_quota"] = policy.file_quota ? json(*policy.file_quota) : json(-1);
  j["track"] = policy.track || o.summary || o.output.has_value();
  j["records"] = o.output.has_value();
  return j.dump() + "\n";
}

// The child: waits for the go (its job is set), then becomes CMD. Reports an exec failure's
// errno on `go` (O_CLOEXEC: EOF means CMD runs).
[[noreturn]] void nested_child(int go, pid_t parent, char* const argv[]) {
  ::prctl(PR_SET_PDEATHSIG, SIGKILL);  // the launcher gone, CMD must not run on
  if (::getppid() != parent) ::_exit(exit_status::not_found);
  sigset_t none;
  sigemptyset(&none);
  ::sigprocmask(SIG_SETMASK, &none, nullptr);
  char c = 0;
  ssize_t n;
  do n = ::recv(go, &c, 1, 0);
  while (n < 0 && errno == EINTR);
  if (n != 1 || c != 'g') ::_exit(exit_status::cannot_run);
  ::execvp(argv[0], argv);
  const int err = errno;
  (void)!::send(go, &err, sizeof err, MSG_NOSIGNAL);
  ::_exit(err == ENOENT ? 127 : 126);
}

int run_nested(const RunOptions& o, const Policy& policy, char* const argv[]) {
  const char* path = std::getenv("SANDBOX_SOCKET");
  if (path == nullptr || *path == '\0') {
    std::fprintf(stderr, "sandbox: cannot start '%s': %s: no $SANDBOX_SOCKET names it to ask\n", argv[0],
                 shim::kNestedRefused);
    return exit_status::cannot_run;
  }
  if (o.trace) {
    std::fprintf(stderr, "sandbox: --trace: not available in a nested run (docs/jobs.md)\n");
    return exit_status::usage;
  }
  if (o.scope != Scope::job) {
    std::fprintf(stderr, "sandbox: --scope process: not available in a nested run (docs/jobs.md)\n");
    return exit_status::usage;
  }
  UniqueFd conn;
  try {
    conn = connect_to(path);
  } catch (const CtlIoError& e) {
    std::fprintf(stderr, "sandbox: cannot start '%s': nested run: %s\n", argv[0], e.what());
    return exit_status::cannot_run;
  }
  LineReader lines(conn.get());
  const auto ask = [&](const std::string& line, const std::string& id,
                       const std::function<void(const json&)>& event) {
    send_all(conn.get(), line);
    for (std::optional<std::string> l; (l = lines.next());) {
      json j = json::parse(*l, nullptr, false);
      if (j.is_discarded() || !j.is_object()) continue;
      if (j.contains("event")) {
        if (event) event(j);
      } else if (id.empty() || (j.contains("id") && j["id"] == id)) {
        return j;
      }
    }
    throw CtlIoError("the outer supervisor closed the connection");
  };
  // -o: opened now, before CMD exists, as in a run of our own.
  std::unique_ptr<observe::OutputFile> output;
  if (!open_output(o, output)) return exit_status::usage;
  if (o.no_socket) ::unsetenv("SANDBOX_SOCKET");  // CMD finds no socket (ours would be the outer's)
  ::prctl(PR_SET_CHILD_SUBREAPER, 1);             // CMD's orphans come to us: they stay in the nested job
  int sv[2];
  if (::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) != 0) {
    std::fprintf(stderr, "sandbox: socketpair: %s\n", std::strerror(errno));
    return exit_status::cannot_run;
  }
  UniqueFd go(sv[0]), child_end(sv[1]);
  const pid_t parent = ::getpid();
  const pid_t child = ::fork();
  if (child < 0) {
    std::fprintf(stderr, "sandbox: fork: %s\n", std::strerror(errno));
    return exit_status::cannot_run;
  }
  if (child == 0) {
    go.reset();
    nested_child(child_end.get(), parent, argv);
  }
  child_end.reset();
  g_child = child;
  const auto give_up = [&](const std::string& why) {
    std::fprintf(stderr, "sandbox: cannot start '%s': %s\n", argv[0], why.c_str());
    ::kill(child, SIGKILL);
    ::waitpid(child, nullptr, 0);
    return exit_status::cannot_run;
  };
  json made;
  JobId job = 0;
  try {
    made = ask(delegate_line(o, policy, child), "", nullptr);
    if (!made.value("ok", false))
      return give_up(std::string(shim::kNestedRefused) + ": " +
                     made.value("message", std::string("no reason given")));
    job = static_cast<JobId>(u64(made, "job"));
    // Its kills are watched before CMD runs: the one report that counts cannot be missed.
    ask("{\"op\":\"watch\",\"job\":" + std::to_string(job) + ",\"kinds\":[\"killed\"]}\n", "", nullptr);
  } catch (const CtlIoError& e) {
    return give_up(std::string("nested run: ") + e.what());
  }
  if (o.verbosity >= 2) {
    const JobView v = job_view_of(made);
    std::fprintf(
        stderr, "sandbox: nested run: pid %d is job %u inside job %u (heap quota %s, file quota %s)\n", child,
        job, v.parent, v.heap_quota_bytes ? std::to_string(*v.heap_quota_bytes).c_str() : "none",
        v.file_quota ? std::to_string(*v.file_quota).c_str() : "none");
  }
  struct sigaction sa {};
  sa.sa_sigaction = forward_signal;
  sa.sa_flags = SA_SIGINFO | SA_RESTART;
  for (int sig : {SIGINT, SIGTERM, SIGHUP, SIGQUIT}) ::sigaction(sig, &sa, nullptr);
  ::signal(SIGPIPE, SIG_IGN);
  const char g = 'g';
  (void)!::send(go.get(), &g, 1, MSG_NOSIGNAL);
  int err = 0, exit_code = -1;
  ssize_t got;
  do got = ::recv(go.get(), &err, sizeof err, 0);
  while (got < 0 && errno == EINTR);
  if (got == static_cast<ssize_t>(sizeof err)) {
    std::fprintf(stderr, "sandbox: cannot run '%s': %s\n", argv[0], std::strerror(err));
    exit_code = err == ENOENT ? exit_status::not_found : exit_status::cannot_run;
  }
  int status = 0;
  for (;;) {
    const pid_t w = ::waitpid(-1, &status, __WALL);
    if (w == child || (w < 0 && errno != EINTR)) break;
  }
  g_child = 0;
  reap_leftovers();
  // The job as it ended, with its kill if any. The kill's event is queued before a fetch is
  // answered but written after it: a second request's answer comes behind it (as sandbox-shim).
  JobView view;
  std::vector<ProcessRecord> records;
  try {
    const auto on_event = [&](const json& e) {
      if (e.value("event", "") == "killed" && o.verbosity >= 1)
        std::fputs(kill_line("sandbox", kill_report_of(e)).c_str(), stderr);
    };
    const json end = ask(std::string("{\"op\":\"fetch\",\"job\":") + std::to_string(job) +
                             (o.output ? ",\"records\":true" : "") + ",\"id\":\"end\"}\n",
                         "end", on_event);
    ask("{\"op\":\"version\",\"id\":\"sync\"}\n", "sync", on_event);
    view = job_view_of(end);
    records = records_of(end);
  } catch (const CtlIoError& e) {
    std::fprintf(stderr, "sandbox: nested run: %s\n", e.what());
  }
  if (exit_code < 0) {
    if (view.killed)
      exit_code = exit_status::quota_kill;  // a job quota kill, even if CMD itself got out first
    else if (WIFEXITED(status))
      exit_code = WEXITSTATUS(status);
    else if (WIFSIGNALED(status))
      exit_code = 128 + WTERMSIG(status);
    else
      exit_code = 1;
  }
  if (o.summary || o.output) {
    RunReport r;
    r.exit_status = exit_code;
    r.argv = o.command;
    r.heap_rule = kDefaultHeapRule;
    r.job = view;
    r.processes = std::move(records);
    write_report(o, r, output.get());
  }
  return exit_code;
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

  // Already under a supervisor (the kernel says so: a listener cannot be had, EBUSY): ask
  // it for a nested job instead of failing.
  if (shim::probe_nested() == 1) return run_nested(options, policy, argv.data());

  // The control socket's path is decided before the fork: CMD finds it in $SANDBOX_SOCKET.
  std::string socket_path;
  if (!options.no_socket) {
    socket_path = options.socket ? *options.socket : default_socket_path("run-" + std::to_string(::getpid()));
    ::setenv("SANDBOX_SOCKET", socket_path.c_str(), 1);
  }

  // The guard and the supervisor (forked below, inheriting it) are out of CMD's reach: a
  // non-dumpable process cannot be ptraced, nor its /proc/<pid>/fd, mem or environ read, nor
  // its descriptors (the seccomp listener) copied with pidfd_getfd(), by a process of the
  // same uid without CAP_SYS_PTRACE (a `sandbox run` by a user runs CMD as that user).
  // Credential changes (open emulation) leave it off; CMD's exec turns it back on for CMD
  // alone, which must stay readable by its supervisor. Signals still reach both: stopping
  // them only makes CMD's notified calls wait, killing either kills CMD (docs/security.md).
  ::prctl(PR_SET_DUMPABLE, 0);
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
  // -o: opened now, before CMD exists, and written through this descriptor at the end
  // (observe/output_file.hpp): a target that can write its directory cannot redirect it.
  std::unique_ptr<observe::OutputFile> output;
  if (!open_output(options, output)) return exit_status::usage;
  // --trace: every event and every usage change, from the first one on.
  std::unique_ptr<observe::TraceRecorder> recorder;
  if (options.trace) {
    try {
      // "run CMD ARGS": one line (a multi-line `sh -c` script's newlines are spaces), cut at 80.
      recorder = std::make_unique<observe::TraceRecorder>(
          *options.trace, "run " + observe::command_label(options.command, 76));
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
  for (int sig : kTerminationSignals) ::sigaction(sig, &sa, nullptr);
  ::signal(SIGPIPE, SIG_IGN);

  // Go: the target execs. EOF on the control socket means exec succeeded (O_CLOEXEC).
  timespec started{};
  ::clock_gettime(CLOCK_MONOTONIC, &started);
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
  Supervisor* records = reporting ? &sup : nullptr;
  Reaped reaped;
  for (;;) {
    int st = 0;
    const pid_t w = reap(0, st, records, &reaped);
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
  RunReport run_report;
  if (exit_code < 0) run_report.left = end_of_job(sup, job, options, status, recorder.get(), records, reaped);
  reap_leftovers(records, &reaped);
  run_report.wall_seconds = seconds_since(started);
  run_report.user_cpu_seconds = static_cast<double>(reaped.user_us) / 1e6;
  run_report.system_cpu_seconds = static_cast<double>(reaped.system_us) / 1e6;
  run_report.peak_rss_bytes = static_cast<std::uint64_t>(reaped.maxrss_kib) * 1024;

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
  run_report.exit_status = exit_code;
  if (reporting) report(sup, job, options, std::move(run_report), output.get());
  return exit_code;
}

}  // namespace sandbox
