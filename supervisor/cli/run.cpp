// SPDX-License-Identifier: Apache-2.0
#include "cli/run.hpp"

#include <fcntl.h>
#include <malloc.h>
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
#include "cli/run_bpf.hpp"
#include "control/protocol.hpp"
#include "control/server.hpp"
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

// wait4() for child `which` (-1: any; WNOHANG in `flags`: without blocking); what it used
// goes to `acc`, its ending to the supervisor's records when `sup` is given.
pid_t reap(int flags, int& status, Supervisor* sup, Reaped* acc, pid_t which = -1) {
  rusage ru{};
  const pid_t w = ::wait4(which, &status, __WALL | flags, &ru);
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
// Each round waits for the children it killed, by pid: a blocking wait for any child would
// also wait for a grandchild reparented to us while that round ran (its parent, killed here,
// went), alive and not yet killed -- the guard hung so, its target's background sleep
// running on (1 run in 20 under load). The next round lists and kills those.
void reap_leftovers(Supervisor* sup = nullptr, Reaped* acc = nullptr) {
  for (int round = 0; round < 10000; ++round) {
    const auto kids = target::own_children();
    if (kids.empty()) return;
    // Our own unreaped children: their pids cannot be reused until we wait for them.
    for (pid_t k : kids) ::kill(k, SIGKILL);
    for (pid_t k : kids) {
      int st = 0;
      while (reap(0, st, sup, acc, k) < 0 && errno == EINTR) {
      }
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
  Status written = out->replace(text);
  if (Status closed = out->close(); written.ok()) written = std::move(closed);
  if (!written.ok()) std::fprintf(stderr, "sandbox: %s\n", written.message().c_str());
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

// The run's exit status once CMD has been reaped: a job quota kill's, even if CMD itself got
// out first; else CMD's own (128 + N for signal N).
int exit_status_of(bool job_killed, int status) {
  return job_killed ? exit_status::quota_kill : exit_status::of(status);
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

// The job whose end a run waits for, as its supervisor sees it (a run of our own) or as its
// launcher does (a nested run: the launcher's descendants, its subreaper's view).
struct JobEnd {
  JobId job = 0;
  std::function<bool()> killed;                                    // a quota kill took it
  std::function<std::vector<std::pair<Pid, std::string>>()> live;  // its live processes
  std::function<void()> kill_all;                                  // the guard died
};

// Waits until no process of the job is left, the bound passes or a termination signal
// comes; returns the outcome (LeftRunning::outcome). Event-driven: a pidfd per member
// polled (a member's exit wakes us; its children, if any, are listed anew then), the
// signals unblocked only inside ppoll (none is lost between a check and the wait).
std::string wait_for_job(const JobEnd& job, const RunOptions& o, Supervisor* records, Reaped& reaped) {
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
    if (job.killed()) {
      outcome = "quota_kill";  // its kill line said so; the rest is killed below
      break;
    }
    const auto members = job.live();
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
      if (g_guard_gone && job.kill_all) job.kill_all();
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
LeftRunning end_of_job(const JobEnd& job, const RunOptions& o, int cmd_status,
                       observe::TraceRecorder* recorder, Supervisor* records, Reaped& reaped) {
  if (job.killed()) return {};  // a quota kill took the job: its line said so
  const auto members = job.live();
  if (members.empty()) return {};
  LeftRunning l = listed(members);
  const bool wait = o.wait_job;
  if (recorder) {
    std::vector<std::pair<std::int64_t, std::string>> marks;
    for (const auto& p : l.processes) marks.emplace_back(p.pid, p.comm);
    recorder->left_running(job.job, l.count, marks, wait ? "wait" : "kill");
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
  l.outcome = wait ? wait_for_job(job, o, records, reaped) : "killed";
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

std::string text(const json& j, const char* key) {
  return j.contains(key) && j[key].is_string() ? j[key].get<std::string>() : std::string();
}

JobView job_view_of(const json& j) {
  JobView v;
  v.id = static_cast<JobId>(u64(j, "job"));
  v.root = static_cast<Pid>(u64(j, "root"));
  v.scope = parse_scope(text(j, "scope")).value_or(Scope::job);
  v.heap_rule = parse_heap_rule(text(j, "heap_rule")).value_or(HeapRule::kernel);
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
  j["track"] = policy.track || o.summary || o.output.has_value() || o.trace.has_value();
  j["records"] = o.output.has_value();
  j["scope"] = std::string(to_string(o.scope));
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

// The live processes below this one (a nested launcher is the subreaper of its job: every
// live process of the job descends from it), by pid, with their names.
std::vector<std::pair<Pid, std::string>> own_descendants() {
  std::vector<std::pair<Pid, std::string>> out;
  std::vector<pid_t> todo = target::own_children();
  while (!todo.empty() && out.size() < 65536) {
    const pid_t p = todo.back();
    todo.pop_back();
    const auto st = target::status(p);
    if (!st || !st->alive() || st->tgid != p) continue;
    out.emplace_back(p, std::string(st->name, strnlen(st->name, sizeof st->name)));
    for (pid_t c : target::children_of(p)) todo.push_back(c);
  }
  std::sort(out.begin(), out.end());
  return out;
}

// A connection to the outer supervisor: requests answered by id, events (a watch's) handed
// to `on_event` as they come before the answer.
class OuterSocket {
 public:
  explicit OuterSocket(const std::string& path) : fd_(connect_to(path)), lines_(fd_.get()) {}
  json ask(const std::string& line, const std::string& id, const std::function<void(const json&)>& on_event) {
    send_all(fd_.get(), line);
    for (std::optional<std::string> l; (l = lines_.next());) {
      json j = json::parse(*l, nullptr, false);
      if (j.is_discarded() || !j.is_object()) continue;
      if (j.contains("event")) {
        if (on_event) on_event(j);
      } else if (id.empty() || (j.contains("id") && j["id"] == id)) {
        return j;
      }
    }
    throw CtlIoError("the outer supervisor closed the connection");
  }
  void send(const std::string& line) { send_all(fd_.get(), line); }
  std::optional<std::string> next() { return lines_.next(); }
  void shut() { ::shutdown(fd_.get(), SHUT_RDWR); }

 private:
  UniqueFd fd_;
  LineReader lines_;
};

// --trace in a nested run: the outer supervisor's watch stream of the nested job (every
// kind, usage coalesced) read on a thread of its own, each line decoded back into the
// Event it was written from and given to the recorder, as a run of our own gives its own.
class NestedTrace {
 public:
  NestedTrace(const RunOptions& o, std::unique_ptr<observe::TraceRecorder> recorder)
      : o_(o), recorder_(std::move(recorder)) {}
  observe::TraceRecorder* recorder() { return recorder_.get(); }
  // Subscribed before CMD runs (the watch's answer read here): no event of the job is missed.
  void start(const std::string& path, const JobView& job) {
    recorder_->job(job.id, job.heap_quota_bytes, job.file_quota);
    socket_ = std::make_unique<OuterSocket>(path);
    std::string kinds;
    for (const EventKindName& k : kEventKinds)
      kinds += std::string(kinds.empty() ? "" : ",") + "\"" + std::string(k.name) + "\"";
    socket_->ask("{\"op\":\"watch\",\"job\":" + std::to_string(job.id) + ",\"kinds\":[" + kinds + "]}\n", "",
                 nullptr);
    // The launcher is a process of the outer job: what its thread maps counts there. So a
    // small stack, and no malloc arena of its own (a new arena reserves 128 MiB, which the
    // kernel heap rule counts).
    ::mallopt(M_ARENA_MAX, 1);
    pthread_attr_t attr;
    ::pthread_attr_init(&attr);
    ::pthread_attr_setstacksize(&attr, kReaderStack);
    const int err = ::pthread_create(
        &reader_, &attr,
        [](void* self) -> void* {
          static_cast<NestedTrace*>(self)->read();
          return nullptr;
        },
        this);
    ::pthread_attr_destroy(&attr);
    if (err != 0) throw CtlIoError(std::string("--trace: pthread_create: ") + std::strerror(err));
    reading_ = true;
  }
  // Everything the outer supervisor had to say about the job until now is in the trace:
  // its answer to a fetch (which follows every event queued before it) and one more
  // request behind it (sandbox-shim does the same), then the file is written.
  void finish(JobId job) {
    if (reading_) {
      try {
        socket_->send("{\"op\":\"fetch\",\"job\":" + std::to_string(job) + ",\"id\":\"t1\"}\n");
        socket_->send("{\"op\":\"version\",\"id\":\"tsync\"}\n");
      } catch (const CtlIoError&) {  // the reader sees the end of the stream too
      }
      // Bounded: an outer supervisor that stops answering must not keep the run from ending.
      timespec by{};
      ::clock_gettime(CLOCK_REALTIME, &by);
      by.tv_sec += kFinishSeconds;
      if (::pthread_timedjoin_np(reader_, nullptr, &by) != 0) {
        std::fprintf(stderr,
                     "sandbox: --trace: the outer supervisor did not answer in %ds; the trace may miss "
                     "its last events\n",
                     kFinishSeconds);
        socket_->shut();  // the reader's recv() returns 0: it ends
        ::pthread_join(reader_, nullptr);
      }
      reading_ = false;
    }
    if (const Status closed = recorder_->close(); !closed.ok())
      std::fprintf(stderr, "sandbox: %s\n", closed.message().c_str());
    else if (o_.verbosity >= 2)
      std::fprintf(stderr, "sandbox: trace written to %s (%llu counter points)\n", o_.trace->c_str(),
                   static_cast<unsigned long long>(recorder_->points()));
  }

 private:
  void read() {
    timespec last{};
    ::clock_gettime(CLOCK_MONOTONIC, &last);
    std::size_t bad = 0;
    try {
      for (std::optional<std::string> l; (l = socket_->next());) {
        if (l->find("\"tsync\"") != std::string::npos && l->rfind("{\"ok\"", 0) == 0) break;
        if (l->rfind("{\"ok\"", 0) == 0) continue;  // the fetch's answer
        if (l->rfind("{\"event\":\"end\"", 0) == 0) break;
        if (const Result<Event> e = protocol::decode_event(*l); e.ok()) {
          recorder_->on_event(*e);
        } else if (++bad <= 3) {  // a bad line is said, never acted on
          std::fprintf(stderr, "sandbox: --trace: from the outer supervisor: %s\n", e.message().c_str());
        }
        if (seconds_since(last) >= 0.1) {
          recorder_->flush();
          ::clock_gettime(CLOCK_MONOTONIC, &last);
        }
      }
    } catch (const CtlIoError& e) {
      std::fprintf(stderr, "sandbox: --trace: %s\n", e.what());
    }
  }
  const RunOptions& o_;
  std::unique_ptr<observe::TraceRecorder> recorder_;
  static constexpr std::size_t kReaderStack = 256 * 1024;  // decoding and recording: shallow
  static constexpr int kFinishSeconds = 10;
  std::unique_ptr<OuterSocket> socket_;
  pthread_t reader_{};
  bool reading_ = false;
};

class NestedRun {
 public:
  NestedRun(const RunOptions& o, const Policy& policy, char* const argv[])
      : o_(o), policy_(policy), argv_(argv) {}

  // Checks, the connection, -o and --trace: all before CMD exists. -1 to go on, else the
  // exit status.
  int prepare() {
    const char* path = std::getenv("SANDBOX_SOCKET");
    if (path == nullptr || *path == '\0') {
      std::fprintf(stderr, "sandbox: cannot start '%s': %s: no $SANDBOX_SOCKET names it to ask\n", argv_[0],
                   shim::kNestedRefused);
      return exit_status::cannot_run;
    }
    path_ = path;
    try {
      socket_ = std::make_unique<OuterSocket>(path_);
    } catch (const CtlIoError& e) {
      std::fprintf(stderr, "sandbox: cannot start '%s': nested run: %s\n", argv_[0], e.what());
      return exit_status::cannot_run;
    }
    // -o and --trace: opened now, before CMD exists, as in a run of our own.
    if (!open_output(o_, output_)) return exit_status::usage;
    if (o_.trace) {
      try {
        trace_ = std::make_unique<NestedTrace>(
            o_, std::make_unique<observe::TraceRecorder>(*o_.trace,
                                                         "run " + observe::command_label(o_.command, 76)));
      } catch (const std::exception& e) {
        std::fprintf(stderr, "sandbox: %s\n", e.what());
        return exit_status::usage;
      }
    }
    if (o_.no_socket) ::unsetenv("SANDBOX_SOCKET");  // CMD finds no socket (ours would be the outer's)
    return -1;
  }

  // CMD's process, waiting for the go; the nested job asked for it; its kills (and, with
  // --trace, everything about it) watched before it runs.
  int launch() {
    ::prctl(PR_SET_CHILD_SUBREAPER, 1);  // CMD's orphans come to us: they stay in the nested job
    int sv[2];
    if (::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) != 0) {
      std::fprintf(stderr, "sandbox: socketpair: %s\n", std::strerror(errno));
      return exit_status::cannot_run;
    }
    go_ = UniqueFd(sv[0]);
    UniqueFd child_end(sv[1]);
    const pid_t parent = ::getpid();
    child_ = ::fork();
    if (child_ < 0) {
      std::fprintf(stderr, "sandbox: fork: %s\n", std::strerror(errno));
      return exit_status::cannot_run;
    }
    if (child_ == 0) {
      go_.reset();
      nested_child(child_end.get(), parent, argv_);
    }
    g_child = child_;
    json made;
    try {
      made = socket_->ask(delegate_line(o_, policy_, child_), "", nullptr);
      if (!made.value("ok", false))
        return give_up(std::string(shim::kNestedRefused) + ": " +
                       made.value("message", std::string("no reason given")));
      view_ = job_view_of(made);
      socket_->ask("{\"op\":\"watch\",\"job\":" + std::to_string(view_.id) + ",\"kinds\":[\"killed\"]}\n", "",
                   nullptr);
      if (trace_) trace_->start(path_, view_);
    } catch (const CtlIoError& e) {
      return give_up(std::string("nested run: ") + e.what());
    }
    if (o_.verbosity >= 2)
      std::fprintf(stderr,
                   "sandbox: nested run: pid %d is job %u inside job %u (heap quota %s, file quota %s)\n",
                   child_, view_.id, view_.parent,
                   view_.heap_quota_bytes ? std::to_string(*view_.heap_quota_bytes).c_str() : "none",
                   view_.file_quota ? std::to_string(*view_.file_quota).c_str() : "none");
    return -1;
  }

  // Go; CMD's end; what it left running (killed, or waited for with --wait-job); the rest.
  void supervise() {
    struct sigaction sa {};
    sa.sa_sigaction = forward_signal;
    sa.sa_flags = SA_SIGINFO | SA_RESTART;
    for (int sig : kTerminationSignals) ::sigaction(sig, &sa, nullptr);
    ::signal(SIGPIPE, SIG_IGN);
    ::clock_gettime(CLOCK_MONOTONIC, &started_);
    const char g = 'g';
    (void)!::send(go_.get(), &g, 1, MSG_NOSIGNAL);
    int err = 0;
    ssize_t got;
    do got = ::recv(go_.get(), &err, sizeof err, 0);
    while (got < 0 && errno == EINTR);
    if (got == static_cast<ssize_t>(sizeof err)) {
      std::fputs(cannot_run_line(argv_[0], err).c_str(), stderr);
      exit_code_ = err == ENOENT ? exit_status::not_found : exit_status::cannot_run;
    }
    for (;;) {
      int st = 0;
      const pid_t w = reap(0, st, nullptr, &reaped_);
      if (w == child_) {
        status_ = st;
        break;
      }
      if (w < 0 && errno != EINTR) break;
    }
    g_child = 0;
    // A quota kill ends every process of the job; it is told by the fetch below.
    JobEnd end{view_.id, [] { return false; }, own_descendants, nullptr};
    if (exit_code_ < 0)
      report_.left = end_of_job(end, o_, status_, trace_ ? trace_->recorder() : nullptr, nullptr, reaped_);
    reap_leftovers(nullptr, &reaped_);
    report_.wall_seconds = seconds_since(started_);
  }

  // The job as it ended, with its kill if any, from the outer supervisor; the exit status.
  int report() {
    std::vector<ProcessRecord> records;
    try {
      // The kill's event is queued before a fetch is answered but written after it: a
      // second request's answer comes behind it (as sandbox-shim).
      const auto on_event = [&](const json& j) {
        if (const auto e = protocol::decode_event(j.dump()); e.ok() && e->kind == Event::Kind::killed)
          print_event(*e, o_.verbosity);
      };
      const json end = socket_->ask(std::string("{\"op\":\"fetch\",\"job\":") + std::to_string(view_.id) +
                                        (o_.output ? ",\"records\":true" : "") + ",\"id\":\"end\"}\n",
                                    "end", on_event);
      socket_->ask("{\"op\":\"version\",\"id\":\"sync\"}\n", "sync", on_event);
      view_ = job_view_of(end);
      records = records_of(end);
    } catch (const CtlIoError& e) {
      std::fprintf(stderr, "sandbox: nested run: %s\n", e.what());
    }
    if (trace_) trace_->finish(view_.id);
    if (view_.killed && report_.left.count > 0 && report_.left.outcome == "ended")
      report_.left.outcome = "quota_kill";  // what was waited for ended by the job's kill
    if (exit_code_ < 0) exit_code_ = exit_status_of(view_.killed.has_value(), status_);
    if (o_.summary || o_.output) {
      report_.exit_status = exit_code_;
      report_.argv = o_.command;
      report_.heap_rule = std::string(to_string(view_.heap_rule));  // the outer's rule: it counts
      report_.job = view_;
      report_.processes = std::move(records);
      report_.user_cpu_seconds = static_cast<double>(reaped_.user_us) / 1e6;
      report_.system_cpu_seconds = static_cast<double>(reaped_.system_us) / 1e6;
      report_.peak_rss_bytes = static_cast<std::uint64_t>(reaped_.maxrss_kib) * 1024;
      write_report(o_, report_, output_.get());
    }
    return exit_code_;
  }

 private:
  int give_up(const std::string& why) {
    std::fprintf(stderr, "sandbox: cannot start '%s': %s\n", argv_[0], why.c_str());
    ::kill(child_, SIGKILL);
    ::waitpid(child_, nullptr, 0);
    return exit_status::cannot_run;
  }
  const RunOptions& o_;
  const Policy& policy_;
  char* const* argv_;
  std::string path_;
  std::unique_ptr<OuterSocket> socket_;
  std::unique_ptr<observe::OutputFile> output_;
  std::unique_ptr<NestedTrace> trace_;
  UniqueFd go_;
  pid_t child_ = -1;
  JobView view_;
  timespec started_{};
  Reaped reaped_;
  int status_ = 0;
  int exit_code_ = -1;
  RunReport report_;
};

int run_nested(const RunOptions& o, const Policy& policy, char* const argv[]) {
  NestedRun run(o, policy, argv);
  if (const int rc = run.prepare(); rc >= 0) return rc;
  if (const int rc = run.launch(); rc >= 0) return rc;
  run.supervise();
  return run.report();
}

// ---- a run of our own: prepare, start the control plane, launch, supervise, report -------

// What a run needs before anything starts: the policy, its filter, CMD's argv.
struct Prepared {
  Policy policy;
  std::vector<sock_filter> bpf;
  std::vector<char*> argv;
};

// -1 to go on, else the exit status (a bad policy: 2; a kernel we cannot use: 126).
int prepare(const RunOptions& o, Prepared& p) {
  try {
    p.policy = effective_policy(o);
    p.bpf = build_filter(p.policy);
  } catch (const PolicyError& e) {
    std::fprintf(stderr, "sandbox: %s\n", e.what());
    return exit_status::usage;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "sandbox: %s\n", e.what());
    return exit_status::cannot_run;
  }
  if (const Status sizes = check_notify_sizes(); !sizes.ok()) {
    std::fprintf(stderr, "sandbox: %s\n", sizes.text().c_str());
    return exit_status::cannot_run;
  }
  for (const auto& a : o.command) p.argv.push_back(const_cast<char*>(a.c_str()));
  p.argv.push_back(nullptr);
  return -1;
}

// The guard and the supervisor: forks; the guard (the process the user started) returns its
// exit status from here, the supervisor goes on (-1).
int split_guard() {
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
      return exit_status::cannot_run;
    }
    return guard(sup_pid);
  }
  struct sigaction gone {};
  gone.sa_handler = on_guard_gone;  // no SA_RESTART: waitpid() returns EINTR
  ::sigaction(kGuardGone, &gone, nullptr);
  ::prctl(PR_SET_PDEATHSIG, kGuardGone);
  if (::getppid() != guard_pid) ::_exit(1);
  return -1;
}

class Run {
 public:
  Run(const RunOptions& o, const Prepared& p, std::string socket_path)
      : o_(o),
        p_(p),
        verbose_(o.verbosity >= 2),
        socket_path_(std::move(socket_path)),
        sup_(Supervisor::Options{p.policy, o.verbosity >= 2, 1}),  // one tenant: every descriptor
        tick_timer_(io_) {}

  // The supervisor's subscribers, -o, --trace and the control socket, before CMD exists.
  // -1 to go on, else the exit status.
  int start_control_plane() {
    // Kill lines: the run's own jobs'. A nested job's is its launcher's to say (it watches
    // for it): said here too, it would be said twice on the same terminal.
    sup_.subscribe(Caller{0, 0, ::getpid()}, [this, level = o_.verbosity](const Event& e) {
      const JobId own = job_.load();
      if (e.kind == Event::Kind::killed && e.job != 0 && own != 0 && e.job != own) return;
      print_event(e, level);
    });
    if (!open_output(o_, output_)) return exit_status::usage;
    if (o_.trace) {  // every event and every usage change, from the first one on
      try {
        // "run CMD ARGS": one line (a multi-line `sh -c` script's newlines are spaces), cut at 80.
        recorder_ = std::make_unique<observe::TraceRecorder>(*o_.trace,
                                                             "run " + observe::command_label(o_.command, 76));
      } catch (const std::exception& e) {
        std::fprintf(stderr, "sandbox: %s\n", e.what());
        return exit_status::usage;
      }
      WatchFilter all;
      all.kinds = ~0u;
      all.raw_usage = true;
      sup_.subscribe(Caller{0, 0, ::getpid()}, all,
                     [r = recorder_.get()](const Event& e) { r->on_event(e); });
    }
    if (socket_path_.empty()) return -1;
    Server::Options so;
    so.path = socket_path_;
    so.private_dir = !o_.socket;
    so.version = SANDBOX_VERSION;
    try {
      server_ = std::make_unique<Server>(io_, sup_.control(), so);
      server_->start();
      if (verbose_) std::fprintf(stderr, "sandbox: control socket %s\n", socket_path_.c_str());
    } catch (const std::exception& e) {
      server_.reset();
      if (o_.socket) {  // asked for explicitly: not starting CMD without it
        std::fprintf(stderr, "sandbox: %s\n", e.what());
        return exit_status::usage;
      }
      std::fprintf(stderr, "sandbox: control socket disabled: %s\n", e.what());
      ::unsetenv("SANDBOX_SOCKET");
    }
    return -1;
  }

  // CMD's process, its listener, its node and its job; it waits for the go. -1 to go on.
  int launch() {
    int sv[2];
    if (::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) != 0) {
      std::fprintf(stderr, "sandbox: socketpair: %s\n", std::strerror(errno));
      return exit_status::cannot_run;
    }
    control_ = UniqueFd(sv[0]);
    UniqueFd child_end(sv[1]);
    ::prctl(PR_SET_CHILD_SUBREAPER, 1);  // CMD's orphans come to the supervisor while it lives
    const pid_t parent = ::getpid();
    const sock_fprog prog{static_cast<unsigned short>(p_.bpf.size()),
                          const_cast<sock_filter*>(p_.bpf.data())};
    child_ = ::fork();
    if (child_ < 0) {
      std::fprintf(stderr, "sandbox: fork: %s\n", std::strerror(errno));
      return exit_status::cannot_run;
    }
    if (child_ == 0) {
      ::prctl(PR_SET_PDEATHSIG, SIGKILL);  // if the supervisor dies, the target must not run on
      if (::getppid() != parent) ::_exit(127);
      shim::exec_target(prog, child_end.get(), p_.argv[0], p_.argv.data());
    }
    g_child = child_;
    child_end.reset();
    shim::Message failure{};
    UniqueFd listener_fd(shim::receive_listener(control_.get(), failure));
    if (!listener_fd) {
      if (failure.stage == shim::Stage::seccomp && failure.err == EBUSY)
        std::fprintf(stderr, "sandbox: cannot start '%s': %s\n", p_.argv[0], shim::kNestedMessage);
      else
        std::fprintf(stderr, "sandbox: cannot start '%s': %s: %s\n", p_.argv[0],
                     shim::stage_name(failure.stage), std::strerror(failure.err));
      ::waitpid(child_, &status_, 0);
      return exit_status::cannot_run;
    }
    listener_ = std::make_unique<SeccompListener>(std::move(listener_fd));
    const bool sync = listener_->enable_sync_wakeup();
    sup_.adopt_root(child_, listener_.get());
    if (const OpResult r = sup_.impose(child_, p_.policy); !r.ok()) {
      std::fprintf(stderr, "sandbox: cannot register pid %d: %s\n", child_, r.message.c_str());
      ::kill(child_, SIGKILL);
      ::waitpid(child_, &status_, 0);
      return exit_status::cannot_run;
    }
    start_job();
    if (verbose_)
      std::fprintf(
          stderr, "sandbox: supervising pid %d as job %u, scope %s (%zu BPF instructions, sync wake-up %s)\n",
          child_, job_.load(), std::string(to_string(o_.scope)).c_str(), p_.bpf.size(), sync ? "on" : "off");
    return -1;
  }

  // The threads, the go, CMD's end, what it left running; everything of the job is gone after.
  void supervise() {
    start_threads();
    ::clock_gettime(CLOCK_MONOTONIC, &started_);
    // Go: the target execs.
    if (const int rc = go_and_await_exec(control_.get(), p_.argv[0]); rc >= 0) exit_code_ = rc;
    Supervisor* records = reporting() ? &sup_ : nullptr;
    for (;;) {
      int st = 0;
      const pid_t w = reap(0, st, records, &reaped_);
      if (w == child_) {
        status_ = st;
        break;
      }
      if (w < 0 && errno != EINTR) break;
      if (g_guard_gone) {  // the guard was killed: take everything down with us
        g_guard_gone = 0;
        sup_.kill_all();
      }
    }
    g_child = 0;
    const JobId job = job_.load();
    JobEnd end{job, [this, job] { return sup_.job_killed(job); },
               [this, job] { return sup_.live_members(job); }, [this] { sup_.kill_all(); }};
    if (exit_code_ < 0) report_.left = end_of_job(end, o_, status_, recorder_.get(), records, reaped_);
    reap_leftovers(records, &reaped_);
    report_.wall_seconds = seconds_since(started_);
    stop_threads();
  }

  int report() {
    if (verbose_)
      std::fprintf(stderr, "sandbox: %llu notifications handled\n",
                   static_cast<unsigned long long>(sup_.notifications()));
    if (exit_code_ < 0) exit_code_ = exit_status_of(sup_.job_killed(job_.load()), status_);
    report_.exit_status = exit_code_;
    report_.user_cpu_seconds = static_cast<double>(reaped_.user_us) / 1e6;
    report_.system_cpu_seconds = static_cast<double>(reaped_.system_us) / 1e6;
    report_.peak_rss_bytes = static_cast<std::uint64_t>(reaped_.maxrss_kib) * 1024;
    if (reporting()) sandbox::report(sup_, job_.load(), o_, std::move(report_), output_.get());
    return exit_code_;
  }

 private:
  bool reporting() const { return o_.summary || o_.output; }

  // The job: everything whose calls come through this listener. Under --scope job the
  // quotas hold for all of it together; CMD's own node (impose) keeps the kernel's semantics.
  void start_job() {
    JobSpec spec;
    spec.root = child_;
    spec.scope = o_.scope;
    spec.heap_rule = p_.policy.heap_rule;
    if (o_.scope == Scope::job)
      spec.heap_quota_bytes = p_.policy.heap_quota_bytes, spec.file_quota = p_.policy.file_quota;
    // A trace shows the job's totals, so it counts them (as --summary does).
    spec.track = p_.policy.track || reporting() || o_.trace;
    spec.keep_history = o_.output.has_value();
    job_ = sup_.start_job(*listener_, spec);
    if (recorder_) recorder_->job(job_.load(), spec.heap_quota_bytes, spec.file_quota);
  }

  // The notify and io threads take no signals (but the notify thread's stop signal); the
  // main thread forwards them to CMD. Now and then, on the io thread: coalesced usage events
  // held back are sent, and the trace's buffer goes to its file (never from the notify thread).
  void start_threads() {
    sigset_t all, old;
    sigfillset(&all);
    ::pthread_sigmask(SIG_BLOCK, &all, &old);
    if (server_ || recorder_) {
      tick();
      io_thread_ = std::thread([this] { io_.run(); });
    }
    notify_ = std::thread([this] {
      sup_.serve(*listener_, stop_);
      done_.store(true);
    });
    ::pthread_sigmask(SIG_SETMASK, &old, nullptr);
    struct sigaction sa {};
    sa.sa_sigaction = forward_signal;
    sa.sa_flags = SA_SIGINFO | SA_RESTART;
    for (int sig : kTerminationSignals) ::sigaction(sig, &sa, nullptr);
    ::signal(SIGPIPE, SIG_IGN);
  }

  void tick() {
    tick_timer_.expires_after(std::chrono::milliseconds(100));
    tick_timer_.async_wait([this](const boost::system::error_code& ec) {
      if (ec || !ticking_) return;
      sup_.flush_usage();
      if (recorder_) recorder_->flush();
      tick();
    });
  }

  void stop_threads() {
    stop_.store(true);
    Supervisor::finish(notify_, done_);
    sup_.maintain();  // notices the exits not seen by a notification (a kill): `exited` events
    boost::asio::post(io_, [this] {
      ticking_ = false;
      tick_timer_.cancel();
    });
    if (server_) server_->stop();  // watchers get {"event":"end"}
    if (io_thread_.joinable()) io_thread_.join();
    server_.reset();
    if (!recorder_) return;
    if (const Status closed = recorder_->close(); !closed.ok())
      std::fprintf(stderr, "sandbox: %s\n", closed.message().c_str());
    else if (verbose_)
      std::fprintf(stderr, "sandbox: trace written to %s (%llu counter points)\n", o_.trace->c_str(),
                   static_cast<unsigned long long>(recorder_->points()));
  }

  const RunOptions& o_;
  const Prepared& p_;
  const bool verbose_;
  const std::string socket_path_;
  Supervisor sup_;
  std::unique_ptr<observe::OutputFile> output_;
  std::unique_ptr<observe::TraceRecorder> recorder_;
  boost::asio::io_context io_;
  boost::asio::steady_timer tick_timer_;
  bool ticking_ = true;
  std::unique_ptr<Server> server_;
  UniqueFd control_;
  std::unique_ptr<SeccompListener> listener_;
  pid_t child_ = -1;
  std::atomic<JobId> job_{0};
  std::thread io_thread_, notify_;
  std::atomic<bool> done_{false}, stop_{false};
  timespec started_{};
  Reaped reaped_;
  int status_ = 0;
  int exit_code_ = -1;
  RunReport report_;
};

}  // namespace

int run_command(const RunOptions& options) {
  Prepared p;
  if (const int rc = prepare(options, p); rc >= 0) return rc;
  // Already under a supervisor (the kernel says so: a listener cannot be had, EBUSY): ask
  // it for a nested job instead of failing.
  if (shim::probe_nested() == 1) return run_nested(options, p.policy, p.argv.data());
  // --engine bpf|auto (cli/run_bpf.cpp): nullopt leaves the run to the notify engine below.
  if (const auto rc = run_with_engine(options, p.policy, p.argv.data(), split_guard)) return *rc;
  // The control socket's path is decided before the fork: CMD finds it in $SANDBOX_SOCKET.
  std::string socket_path;
  if (!options.no_socket) {
    socket_path = options.socket ? *options.socket : default_socket_path("run-" + std::to_string(::getpid()));
    ::setenv("SANDBOX_SOCKET", socket_path.c_str(), 1);
  }
  if (const int rc = split_guard(); rc >= 0) return rc;
  // The supervisor from here on. It and its control socket exist before CMD does: CMD finds
  // the socket in $SANDBOX_SOCKET only once it is bound and ours (a default path in a
  // directory no other user can write); else CMD gets no $SANDBOX_SOCKET at all, never a
  // path someone else may hold.
  Run run(options, p, socket_path);
  if (const int rc = run.start_control_plane(); rc >= 0) return rc;
  if (const int rc = run.launch(); rc >= 0) return rc;
  run.supervise();
  return run.report();
}

}  // namespace sandbox
