// SPDX-License-Identifier: Apache-2.0
// harness: running the sandbox's binaries from the integration tests -- one-shot commands
// with captured output, and long-lived processes driven line by line over pipes.
#pragma once

#include <doctest/doctest.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <map>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

extern char** environ;

struct Result {
  int status = -1;  // exit code as a shell reports it (128+N for signal N)
  std::string out, err;
  std::map<std::string, std::string> kv;  // "key=value" lines of stdout
  std::string operator[](const std::string& k) const {
    const auto it = kv.find(k);
    return it == kv.end() ? "<missing " + k + ">" : it->second;
  }
};

// Runs argv, capturing stdout and stderr; a watchdog kills it after `limit_s` seconds so a
// hang fails the test instead of stalling the suite.
inline Result run(const std::vector<std::string>& args, int limit_s = 60) {
  int out[2], err[2];
  REQUIRE(::pipe2(out, O_CLOEXEC) == 0);
  REQUIRE(::pipe2(err, O_CLOEXEC) == 0);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, out[1], 1);
  posix_spawn_file_actions_adddup2(&fa, err[1], 2);
  // Only 0, 1 and 2: a descriptor the test binary happens to hold (from an earlier test)
  // must not shift the fd numbers, and so the counts, of the program under test.
  posix_spawn_file_actions_addclosefrom_np(&fa, 3);
  std::vector<char*> argv;
  for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  pid_t pid = 0;
  const int rc = posix_spawn(&pid, argv[0], &fa, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  ::close(out[1]);
  ::close(err[1]);
  REQUIRE_MESSAGE(rc == 0, "posix_spawn " << args[0] << ": " << std::strerror(rc));
  Result r;
  pollfd fds[2] = {{out[0], POLLIN, 0}, {err[0], POLLIN, 0}};
  timespec start{};
  ::clock_gettime(CLOCK_MONOTONIC, &start);
  int open_fds = 2;
  bool killed = false;
  while (open_fds > 0) {
    const int n = ::poll(fds, 2, 1000);
    timespec now{};
    ::clock_gettime(CLOCK_MONOTONIC, &now);
    if (!killed && now.tv_sec - start.tv_sec > limit_s) {
      ::kill(pid, SIGKILL);
      killed = true;
    }
    if (n <= 0) continue;
    for (int i = 0; i < 2; ++i) {
      if (fds[i].fd < 0 || !(fds[i].revents & (POLLIN | POLLHUP))) continue;
      char buf[4096];
      const ssize_t got = ::read(fds[i].fd, buf, sizeof buf);
      if (got <= 0) {
        ::close(fds[i].fd);
        fds[i].fd = -1;
        --open_fds;
      } else {
        (i == 0 ? r.out : r.err).append(buf, static_cast<std::size_t>(got));
      }
    }
  }
  int st = 0;
  ::waitpid(pid, &st, 0);
  REQUIRE_MESSAGE(!killed, "timed out: " << args[0] << " ... stderr: " << r.err);
  r.status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
  std::istringstream lines(r.out);
  for (std::string line; std::getline(lines, line);)
    if (const auto eq = line.find('='); eq != std::string::npos)
      r.kv[line.substr(0, eq)] = line.substr(eq + 1);
  return r;
}

inline const std::string kSandbox = SANDBOX_BIN;
inline const std::string kProbe = PROBE_BIN;
inline const std::string kBin = BIN_DIR;

// The engine the suite runs its engine-independent cases under: SANDBOX_TEST_ENGINE=bpf makes
// sandboxed() (and so probe()) and sandbox_run() add `--engine bpf` (CTest's integration_engine_bpf).
inline bool under_bpf() {
  static const bool bpf = [] {
    const char* e = std::getenv("SANDBOX_TEST_ENGINE");
    return e && std::string(e) == "bpf";
  }();
  return bpf;
}

// `sandbox run` with the suite's engine: the start of a command line.
inline std::vector<std::string> sandbox_run(const std::vector<std::string>& rest = {}) {
  std::vector<std::string> args{kSandbox, "run"};
  if (under_bpf()) args.insert(args.end(), {"--engine", "bpf"});
  args.insert(args.end(), rest.begin(), rest.end());
  return args;
}

// A case that checks what only the notify engine does (a control socket, serve, --trace,
// -o/--summary, nested jobs, unprivileged runs, the commit rule): under SANDBOX_TEST_ENGINE=bpf
// it is skipped with its reason said in one line, and counted (main.cpp prints how many were
// skipped: doctest itself counts such a case as passed, with no assertion).
extern int g_skipped_under_bpf;
#define NOTIFY_ENGINE_ONLY(reason)                       \
  if (under_bpf()) {                                     \
    ++g_skipped_under_bpf;                               \
    MESSAGE("skipped under --engine bpf: " << (reason)); \
    return;                                              \
  }

inline Result sandboxed(std::vector<std::string> opts, std::vector<std::string> cmd) {
  std::vector<std::string> args = sandbox_run();
  args.insert(args.end(), opts.begin(), opts.end());
  args.push_back("--");
  args.insert(args.end(), cmd.begin(), cmd.end());
  return run(args);
}

inline Result probe(const std::string& which, std::vector<std::string> opts = {}) {
  return sandboxed(std::move(opts), {kProbe, which});
}

// What a process and its descendants are doing: one line each, with the state, the kernel
// function it waits in and (root only) its kernel stack's top frames. Printed when a test
// gives up waiting for an exit, so that a hang seen once on a busy machine says where it hung.
inline std::string read_text(const std::string& path, std::size_t max = 4096) {
  std::string out;
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return out;
  char buf[4096];
  ssize_t n;
  while (out.size() < max && (n = ::read(fd, buf, sizeof buf)) > 0)
    out.append(buf, static_cast<std::size_t>(n));
  ::close(fd);
  return out;
}
inline std::string process_tree(pid_t pid, int depth = 0) {
  if (depth > 8) return "";
  const std::string dir = "/proc/" + std::to_string(pid);
  std::string status = read_text(dir + "/status"), state, name;
  std::istringstream st(status);
  for (std::string line; std::getline(st, line);) {
    if (line.rfind("Name:", 0) == 0) name = line.substr(5);
    if (line.rfind("State:", 0) == 0) state = line.substr(6);
  }
  std::string stack = read_text(dir + "/stack", 600);
  std::replace(stack.begin(), stack.end(), '\n', ' ');
  std::string out = std::string(static_cast<std::size_t>(depth) * 2, ' ') + std::to_string(pid) + name + " " +
                    state + " wchan=" + read_text(dir + "/wchan", 64) + " stack: " + stack + "\n";
  std::istringstream kids(read_text(dir + "/task/" + std::to_string(pid) + "/children"));
  for (pid_t k; kids >> k;) out += process_tree(k, depth + 1);
  return out;
}

// A long-lived child with pipes on stdin, stdout and stderr.
class Process {
 public:
  explicit Process(const std::vector<std::string>& args) {
    int in[2], out[2], err[2];
    REQUIRE(::pipe2(in, O_CLOEXEC) == 0);
    REQUIRE(::pipe2(out, O_CLOEXEC) == 0);
    REQUIRE(::pipe2(err, O_CLOEXEC) == 0);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, in[0], 0);
    posix_spawn_file_actions_adddup2(&fa, out[1], 1);
    posix_spawn_file_actions_adddup2(&fa, err[1], 2);
    posix_spawn_file_actions_addclosefrom_np(&fa, 3);
    std::vector<char*> argv;
    for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    const int rc = posix_spawn(&pid_, argv[0], &fa, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&fa);
    ::close(in[0]);
    ::close(out[1]);
    ::close(err[1]);
    REQUIRE_MESSAGE(rc == 0, "posix_spawn " << args[0] << ": " << std::strerror(rc));
    in_ = in[1], out_ = out[0], err_ = err[0];
  }
  Process(const Process&) = delete;
  Process& operator=(const Process&) = delete;
  ~Process() {
    if (pid_ > 0 && !reaped_) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
    for (int fd : {in_, out_, err_})
      if (fd >= 0) ::close(fd);
  }
  pid_t pid() const { return pid_; }
  void send(const std::string& line) {
    const std::string l = line + "\n";
    // A child that has gone makes the write fail (EPIPE): a failed check, not a SIGPIPE that
    // ends the whole test binary. SIGPIPE is blocked around the write, and the one it raised
    // is taken before it is unblocked.
    sigset_t pipe_only, old;
    ::sigemptyset(&pipe_only);
    ::sigaddset(&pipe_only, SIGPIPE);
    ::pthread_sigmask(SIG_BLOCK, &pipe_only, &old);
    const ssize_t n = ::write(in_, l.data(), l.size());
    const int err = errno;
    if (n < 0 && err == EPIPE) {
      const timespec now{};
      ::sigtimedwait(&pipe_only, nullptr, &now);
    }
    ::pthread_sigmask(SIG_SETMASK, &old, nullptr);
    REQUIRE_MESSAGE(n == static_cast<ssize_t>(l.size()),
                    "writing '" << line << "' to pid " << pid_ << ": " << std::strerror(err));
  }
  void close_stdin() {
    ::close(in_);
    in_ = -1;
  }
  // The next line on stdout (or stderr) containing `needle`; fails after `limit_s` seconds
  // (a bound against a hang: on a busy machine a sanitized supervisor may take seconds).
  std::string expect_out(const std::string& needle, int limit_s = 60) {
    return expect(out_, out_buf_, needle, limit_s);
  }
  std::string expect_err(const std::string& needle, int limit_s = 60) {
    return expect(err_, err_buf_, needle, limit_s);
  }
  // Waits for the exit; returns the status as a shell reports it. Fails after `limit_s`.
  int wait(int limit_s = 60) {
    for (int i = 0; i < limit_s * 100; ++i) {
      int st = 0;
      const pid_t w = ::waitpid(pid_, &st, WNOHANG);
      if (w == pid_) {
        reaped_ = true;
        return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
      }
      pollfd none{-1, 0, 0};
      ::poll(&none, 0, 10);  // a bounded wait for an exit, not a synchronisation
    }
    FAIL("process " << pid_ << " did not exit within " << limit_s << " s; its tree:\n" << process_tree(pid_));
    return -1;
  }
  void signal(int sig) { ::kill(pid_, sig); }
  const std::string& err_so_far() const { return err_buf_; }

 private:
  static std::string expect(int fd, std::string& buf, const std::string& needle, int limit_s) {
    timespec start{};
    ::clock_gettime(CLOCK_MONOTONIC, &start);
    for (;;) {
      std::size_t nl;
      while ((nl = buf.find('\n')) != std::string::npos) {
        std::string line = buf.substr(0, nl);
        buf.erase(0, nl + 1);
        if (line.find(needle) != std::string::npos) return line;
      }
      timespec now{};
      ::clock_gettime(CLOCK_MONOTONIC, &now);
      REQUIRE_MESSAGE(now.tv_sec - start.tv_sec < limit_s,
                      "no line with '" << needle << "' within " << limit_s << " s");
      pollfd p{fd, POLLIN, 0};
      if (::poll(&p, 1, 1000) <= 0) continue;
      char chunk[4096];
      const ssize_t n = ::read(fd, chunk, sizeof chunk);
      REQUIRE_MESSAGE(n > 0, "stream closed while waiting for '" << needle << "'");
      buf.append(chunk, static_cast<std::size_t>(n));
    }
  }
  pid_t pid_ = -1;
  int in_ = -1, out_ = -1, err_ = -1;
  bool reaped_ = false;
  std::string out_buf_, err_buf_;
};

// The guard: `sandbox run OPTS -- /bin/sh -c SCRIPT`, where SCRIPT prints "bg=PID" of a
// background process somewhere below CMD; the supervisor (the guard's only child) is
// SIGKILLed; the guard must say so, exit 137, and leave none of CMD's tree behind.
inline void check_guard_kills_tree(const std::vector<std::string>& opts, const std::string& script) {
  std::vector<std::string> args{kSandbox, "run"};
  args.insert(args.end(), opts.begin(), opts.end());
  for (const char* a : {"--", "/bin/sh", "-c"}) args.push_back(a);
  args.push_back(script);
  Process p(args);
  const std::string bg = p.expect_out("bg=").substr(3);
  // The background process is settled in its sleep (clock_nanosleep, 230, or nanosleep, 35,
  // in /proc/PID/syscall) before the supervisor goes: one still loading itself would fail a
  // notified call when the supervisor dies and exit by itself, and the case would test less.
  for (int i = 0;; ++i) {
    const std::string sc = read_text("/proc/" + bg + "/syscall", 64);
    if (sc.rfind("230 ", 0) == 0 || sc.rfind("35 ", 0) == 0) break;
    REQUIRE_MESSAGE(i < 6000, "pid " << bg << " never settled in its sleep: " << sc);
    pollfd none{-1, 0, 0};
    ::poll(&none, 0, 10);  // a bounded wait for a state, not a synchronisation
  }
  const std::string kids =
      read_text("/proc/" + std::to_string(p.pid()) + "/task/" + std::to_string(p.pid()) + "/children");
  const pid_t supervisor = std::atoi(kids.c_str());
  REQUIRE(supervisor > 0);
  // Not CMD's background process: the supervisor is the guard's child, CMD the supervisor's.
  REQUIRE(supervisor != std::atoi(bg.c_str()));
  REQUIRE(::kill(supervisor, SIGKILL) == 0);
  // Where each of them is, should the guard not end.
  INFO("the supervisor: " << process_tree(supervisor)
                          << "the background process: " << process_tree(std::atoi(bg.c_str())));
  CHECK(p.wait() == 137);
  const std::string err = p.err_so_far() + p.expect_err("supervisor died");
  CHECK(err.find("leftover target process") != std::string::npos);
  CHECK(::access(("/proc/" + bg).c_str(), F_OK) != 0);  // the background process is gone too
}
