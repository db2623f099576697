// SPDX-License-Identifier: Apache-2.0
// sandbox-shim: puts CMD under a running `sandbox serve`.
//
//   sandbox-shim [--socket PATH] [--heap-quota SIZE] [--file-quota N] [--scope job|process] [--track]
//                [-v|-q] [--] CMD [ARG...]
//
// Options come from shim/options.hpp, the table `sandbox` uses too. Two processes:
//
//  - the child asks nothing of anyone but the server: it connects on its own (a client may
//    only join itself: the server checks the join's pid against the connection's), installs
//    the filter the server gave (no_new_privs first only where the kernel requires it: without
//    CAP_SYS_ADMIN), joins with its listener, tells the parent its job, waits for the go, and
//    execs CMD;
//  - the parent stays outside the filter, as `sandbox run`'s guard does: it watches the job's
//    `killed` events on a connection of its own, passes signals on to CMD, and when CMD has
//    ended reports a quota kill with the one line `sandbox run` prints (kill_line.hpp) and
//    exits with the same status `sandbox run` would (docs/cli.md).
//
// Free of Boost and JSON libraries: the request lines are formatted by hand and the answers
// read by looking for fixed keys in the compact lines our server writes.
#include <linux/filter.h>
#include <poll.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "base/exit_status.hpp"
#include "base/size.hpp"
#include "kill_line.hpp"
#include "options.hpp"
#include "shim.hpp"

namespace {

namespace opt = sandbox::options;

// Exit statuses: docs/cli.md (the same as `sandbox run` and `sandbox ctl`).
namespace exit_status = sandbox::exit_status;
constexpr int kRefused = exit_status::refused, kUsage = exit_status::usage,
              kUnreachable = exit_status::unreachable, kCannotRun = exit_status::cannot_run,
              kNotFound = exit_status::not_found, kQuotaKill = exit_status::quota_kill;
using json = nlohmann::json;

struct Options {
  std::optional<std::string> socket;
  std::optional<sandbox::Quota> heap, files;
  std::string scope = "job";  // the quotas hold for CMD and everything it starts, together
  std::string heap_rule;      // "": the server's policy's (docs/memory.md)
  bool track = false;
  int verbosity = opt::kDefaultLevel;
  std::vector<std::string> command;
};

Options parse(int argc, char** argv, int& exit_now) {
  Options o;
  CLI::App app("Runs CMD under a running `sandbox serve`, with quotas of its own (docs/cli.md).",
               "sandbox-shim");
  app.set_help_all_flag("", "");
  opt::add_version(app, "sandbox-shim " SANDBOX_VERSION);
  std::vector<std::string> help_only;
  app.add_option("CMD", help_only, "the command and its arguments, after the options or after --")
      ->type_name("CMD [ARG...]");
  opt::add_socket(app, o.socket);
  opt::add_heap_quota(app, o.heap);
  opt::add_file_quota(app, o.files);
  opt::add_scope(app, o.scope);
  opt::add_heap_rule(app, o.heap_rule);
  opt::add_track(app, o.track);
  opt::add_verbosity(app, o.verbosity);
  app.footer(
      "The quotas are outside quotas: CMD cannot lift them; the server's policy quotas hold too, a join may "
      "only tighten them.\n\n"
      "Exit status: CMD's own; 128+N if signal N killed it (137 for a quota kill, with one line on stderr);\n"
      "1 the server refused the join; 2 bad arguments; 3 the socket cannot be reached or is not trusted;\n"
      "126 CMD could not be started (not executable, nested sandbox); 127 CMD not found.");
  if (auto spec = opt::completion_request(app, argc, argv)) {  // for the bash completion
    std::fputs(spec->c_str(), stdout);
    exit_now = 0;
    return o;
  }
  std::vector<std::string> args;
  for (int i = 1; i < argc; ++i) args.emplace_back(argv[i]);
  bool dashes = false;
  const std::size_t start = opt::command_start(app, args, dashes);
  o.command.assign(args.begin() + static_cast<std::ptrdiff_t>(start + (dashes ? 1 : 0)), args.end());
  args.resize(start);
  std::reverse(args.begin(), args.end());
  exit_now = -1;
  try {
    app.parse(args);
    if (o.command.empty())
      throw CLI::ValidationError("missing CMD (usage: sandbox-shim [OPTIONS] -- CMD [ARG...])");
  } catch (const CLI::CallForHelp&) {
    std::fputs(app.help().c_str(), stdout);
    exit_now = 0;
  } catch (const CLI::CallForVersion& e) {
    std::printf("%s\n", e.what());
    exit_now = 0;
  } catch (const CLI::ParseError& e) {
    std::fprintf(stderr, "sandbox-shim: %s (see 'sandbox-shim --help')\n", opt::error_line(e, app).c_str());
    exit_now = kUsage;
  }
  if (!o.socket) o.socket = opt::client_socket_path();
  return o;
}

// After the filter is installed, exit_group would wait on a supervisor that may not serve
// us: write the message with write(2) (no allocation) and die by SIGKILL (see shim.hpp).
[[noreturn]] void die_filtered(const char* what, std::size_t len) {
  (void)!::write(2, what, len);
  ::kill(::getpid(), SIGKILL);
  for (;;) ::pause();
}

// One response line (up to '\n'); empty on EOF or error.
std::string read_line(int fd) {
  std::string line;
  char c;
  while (line.size() < (1u << 22)) {
    const ssize_t n = ::read(fd, &c, 1);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0 || c == '\n') break;
    line += c;
  }
  return line;
}

// A line of the server (an answer or an event), parsed; a discarded value if not JSON.
json parse_line(std::string_view line) {
  return json::parse(line, nullptr, false);
}

std::optional<std::string> string_field(const json& j, const char* key) {
  const auto it = j.is_object() ? j.find(key) : j.end();
  if (it == j.end() || !it->is_string()) return std::nullopt;
  return it->get<std::string>();
}

std::optional<std::uint64_t> number_field(const json& j, const char* key) {
  const auto it = j.is_object() ? j.find(key) : j.end();
  if (it == j.end() || !it->is_number_unsigned()) return std::nullopt;
  return it->get<std::uint64_t>();
}

bool is_ok(const json& answer) {
  const auto it = answer.is_object() ? answer.find("ok") : answer.end();
  return it != answer.end() && it->is_boolean() && it->get<bool>();
}

bool is_ok_line(std::string_view line) {
  return is_ok(parse_line(line));
}

// The join's answer, read by the joined child before the supervisor serves it: whether it
// is ok and its "job". Deliberately no JSON library here: nothing may be allocated until
// the answer is in (a brk or mmap would wait on a supervisor that lacks our listener), so
// this reads the compact line our own server writes, by hand and into nothing.
std::optional<std::uint64_t> joined_job(std::string_view line) {
  if (line.find("\"ok\":true") == std::string_view::npos) return std::nullopt;
  constexpr std::string_view key = "\"job\":";
  const auto at = line.find(key);
  if (at == std::string_view::npos) return 0;
  std::uint64_t v = 0;
  std::size_t i = at + key.size(), digits = 0;
  for (; i < line.size() && line[i] >= '0' && line[i] <= '9' && digits < 19; ++i, ++digits)
    v = v * 10 + static_cast<std::uint64_t>(line[i] - '0');
  if (digits == 0) return 0;
  return v;
}

std::string failure(std::string_view line) {
  if (line.empty()) return "the server closed the connection";
  if (auto m = string_field(parse_line(line), "message")) return *m;
  return std::string(line);
}

std::optional<std::vector<sock_filter>> decode(std::string_view hex) {
  if (hex.empty() || hex.size() % 16) return std::nullopt;
  std::vector<sock_filter> prog(hex.size() / 16);
  for (std::size_t i = 0; i < prog.size(); ++i) {
    const std::string chunk(hex.substr(i * 16, 16));
    char* end = nullptr;
    const unsigned long long v = std::strtoull(chunk.c_str(), &end, 16);
    if (end != chunk.c_str() + 16) return std::nullopt;
    prog[i].code = static_cast<__u16>(v >> 48);
    prog[i].jt = static_cast<__u8>(v >> 40);
    prog[i].jf = static_cast<__u8>(v >> 32);
    prog[i].k = static_cast<__u32>(v);
  }
  return prog;
}

bool send_line(int fd, const std::string& line, int pass_fd = -1) {
  return sandbox::shim::send_with_fd(fd, line.data(), line.size(), pass_fd) == 0;
}

// A connection to the server, checked: it runs as root or as us. Exits kUnreachable if not.
int connect_server(const std::string& path) {
  const int sock = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.size() >= sizeof addr.sun_path) {
    std::fprintf(stderr, "sandbox-shim: --socket: '%s': path too long\n", path.c_str());
    std::exit(kUsage);
  }
  std::memcpy(addr.sun_path, path.data(), path.size());
  if (sock < 0 || ::connect(sock, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    std::fprintf(stderr, "sandbox-shim: cannot reach the supervisor at %s: %s\n", path.c_str(),
                 std::strerror(errno));
    std::exit(kUnreachable);
  }
  // Nothing is sent to, or believed from, a server of another user: it would choose our
  // filter, get our listener and answer our opens.
  unsigned server_uid = 0;
  if (const int rc = sandbox::shim::check_server(sock, server_uid); rc < 0) {
    if (rc == -EPERM)
      std::fprintf(stderr,
                   "sandbox-shim: the server at %s runs as uid %u, neither root nor you: not joining "
                   "(another user may have taken the path)\n",
                   path.c_str(), server_uid);
    else
      std::fprintf(stderr, "sandbox-shim: %s: SO_PEERCRED: %s\n", path.c_str(), std::strerror(-rc));
    std::exit(kUnreachable);
  }
  return sock;
}

// ---- the child: joins, then becomes CMD --------------------------------------------------
// Messages to the parent on `status` (SOCK_SEQPACKET): "J<job>" joined; "X<status><text>" failed
// with that exit status, the text to print. EOF after "J" and the go: CMD was exec'd.
void tell(int status_fd, char status, const char* text, std::size_t len) {
  char msg[4096];
  msg[0] = 'X';
  msg[1] = status;
  len = std::min(len, sizeof msg - 2);
  std::memcpy(msg + 2, text, len);
  (void)!::send(status_fd, msg, len + 2, MSG_NOSIGNAL);  // send is not a notified call
}

// The last step of both children: wait for the parent's go, exec CMD; if that fails, say why
// on the status socket and exit with run's status for it (127 not found, else 126).
[[noreturn]] void exec_on_go(int status_fd, std::vector<char*>& argv) {
  char go = 0;
  ssize_t n;
  do n = ::recv(status_fd, &go, 1, 0);
  while (n < 0 && errno == EINTR);
  if (n != 1 || go != 'g') ::_exit(kCannotRun);
  // The listener and the sockets are O_CLOEXEC: exec drops them.
  ::execvp(argv[0], argv.data());
  const int err = errno;
  char why[4096];  // no allocation: after the join, what CMD's job is charged for is CMD's
  const int len = std::snprintf(why, sizeof why, "cannot run '%s': %s", argv[0], std::strerror(err));
  const int status = err == ENOENT ? kNotFound : kCannotRun;
  tell(status_fd, static_cast<char>(status), why, static_cast<std::size_t>(std::max(len, 0)));
  ::_exit(status);
}

[[noreturn]] void child(const Options& o, const std::vector<sock_filter>& prog, int status_fd, pid_t parent) {
  // If the parent dies, CMD must not run on without anyone to report for it.
  ::prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (::getppid() != parent) ::_exit(kCannotRun);
  sigset_t none;
  sigemptyset(&none);
  ::sigprocmask(SIG_SETMASK, &none, nullptr);
  const int sock = connect_server(*o.socket);  // our own connection: the join names us
  // The server classifies a connection when it accepts it, by whether the process runs
  // under a seccomp filter (Caller, docs/security.md): one answered request proves that
  // happened, so it is done before our filter is installed and we are judged as we were.
  if (!send_line(sock, "{\"op\":\"version\"}\n") || !is_ok_line(read_line(sock))) {
    const char what[] = "sandbox-shim: the server did not answer\n";
    tell(status_fd, kUnreachable, what, sizeof what - 1);
    ::_exit(kUnreachable);
  }
  // Everything the steps after the filter need is prepared now: from install_filter() on,
  // a notified call (brk from malloc, close, exit_group) would wait for a supervisor that
  // has not got our listener yet -- and after a refused join, for one that never will.
  // So until the join is answered: only sendmsg, read into a fixed buffer, write, kill.
  std::string join = "{\"op\":\"join\",\"pid\":" + std::to_string(::getpid());
  if (o.heap) join += ",\"heap_quota_bytes\":" + (o.heap->limit ? std::to_string(*o.heap->limit) : "-1");
  if (o.files) join += ",\"file_quota\":" + (o.files->limit ? std::to_string(*o.files->limit) : "-1");
  if (o.track) join += ",\"track\":true";
  if (!o.heap_rule.empty()) join += ",\"heap_rule\":\"" + o.heap_rule + "\"";
  join += ",\"scope\":\"" + o.scope + "\"}\n";
  std::vector<char*> argv;
  for (const auto& a : o.command) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  static char reply[4096];
  const sock_fprog fprog{static_cast<unsigned short>(prog.size()), const_cast<sock_filter*>(prog.data())};
  const int listener = sandbox::shim::install_filter_nnp_if_needed(fprog);
  if (listener < 0) {  // not filtered: exit is safe
    std::string why = listener == sandbox::shim::kNoNewPrivsFailed
                          ? std::string("prctl(PR_SET_NO_NEW_PRIVS): ") + std::strerror(errno)
                      : listener == -EBUSY ? std::string(sandbox::shim::kNestedMessage)
                                           : std::string("seccomp(SECCOMP_SET_MODE_FILTER, NEW_LISTENER): ") +
                                                 std::strerror(-listener);
    tell(status_fd, kCannotRun, why.data(), why.size());
    ::_exit(kCannotRun);
  }
  if (!send_line(sock, join, listener)) {
    const char what[] = "sandbox-shim: join: cannot send the request\n";
    die_filtered(what, sizeof what - 1);
  }
  std::size_t got = 0;
  while (got < sizeof reply - 1) {
    const ssize_t n = ::read(sock, reply + got, 1);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0 || reply[got] == '\n') break;
    ++got;
  }
  reply[got] = 0;
  const std::optional<std::uint64_t> job = joined_job(std::string_view(reply, got));
  if (!job) {
    // Nobody serves our notified calls: tell the parent (send is not notified) and die.
    char msg[sizeof reply + 32] = "join refused: ";
    const std::size_t prefix = std::strlen(msg);
    std::memcpy(msg + prefix, reply, got);
    tell(status_fd, kRefused, msg, prefix + got);
    die_filtered("", 0);
  }
  // Joined: the supervisor serves our calls from here on, so exit is safe. Still nothing is
  // allocated: what CMD's job is charged for should be CMD's.
  char joined[32];
  const int len = std::snprintf(joined, sizeof joined, "J%llu", static_cast<unsigned long long>(*job));
  (void)!::send(status_fd, joined, static_cast<std::size_t>(len), MSG_NOSIGNAL);
  exec_on_go(status_fd, argv);
}

// ---- the parent: watches, forwards signals, reports ---------------------------------------
volatile sig_atomic_t g_child = 0;

// Termination requests are passed on to CMD. Signals the terminal sent to the whole
// foreground group (si_code SI_KERNEL) reached CMD already.
void forward_signal(int sig, siginfo_t* info, void*) {
  if (g_child > 0 && info->si_code != SI_KERNEL) ::kill(g_child, sig);
}

sandbox::KillReport kill_report(const json& ev) {
  sandbox::KillReport r;
  const auto num = [&](const char* key) { return number_field(ev, key).value_or(0); };
  r.heap = string_field(ev, "reason").value_or("") == "heap";
  r.usage = num("usage"), r.limit = num("limit");
  r.pid = static_cast<int>(num("pid")), r.tgid = static_cast<int>(num("tgid"));
  r.name = string_field(ev, "comm").value_or("");
  r.container = string_field(ev, "container").value_or("");
  r.rule = string_field(ev, "heap_rule").value_or("");
  r.reserved = num("reserved_bytes"), r.unmapped = num("unmapped_bytes");
  if (number_field(ev, "live")) {  // a job quota: the job's totals with the crossing call
    r.job_quota = true;
    r.job = static_cast<std::uint32_t>(num("job"));
    r.live = num("live");
    r.other = r.heap ? num("openfile_count") : num("heapsize");
  }
  return r;
}

// ---- nested: inside a sandboxed job (delegation, docs/jobs.md) ---------------------------
// No listener can be had (EBUSY): the supervisor we run under makes CMD a job nested in
// ours. We are its launcher (its parent, a subreaper): the child only waits for the go.
[[noreturn]] void nested_child(const Options& o, int status_fd, pid_t parent) {
  ::prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (::getppid() != parent) ::_exit(kCannotRun);
  sigset_t none;
  sigemptyset(&none);
  ::sigprocmask(SIG_SETMASK, &none, nullptr);
  std::vector<char*> argv;
  for (const auto& a : o.command) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  exec_on_go(status_fd, argv);
}

// Asks for the nested job of `pid`; its id, or nullopt with the reason printed.
std::optional<std::string> delegate(const Options& o, int sock, pid_t pid) {
  std::string line = "{\"op\":\"delegate\",\"pid\":" + std::to_string(pid);
  if (o.heap) line += ",\"heap_quota_bytes\":" + (o.heap->limit ? std::to_string(*o.heap->limit) : "-1");
  if (o.files) line += ",\"file_quota\":" + (o.files->limit ? std::to_string(*o.files->limit) : "-1");
  if (o.track) line += ",\"track\":true";
  line += ",\"scope\":\"" + o.scope + "\"}\n";
  const std::string answer = send_line(sock, line) ? read_line(sock) : std::string();
  const json parsed = parse_line(answer);
  const auto job = is_ok(parsed) ? number_field(parsed, "job") : std::nullopt;
  if (job) return std::to_string(*job);
  std::fprintf(stderr, "sandbox-shim: cannot start '%s': %s: %s\n", o.command[0].c_str(),
               sandbox::shim::kNestedRefused, failure(answer).c_str());
  return std::nullopt;
}

// Forks the child that joins (without `prog`: nested, it only waits for the go) and runs
// CMD; its pid, with our end of its status socket in `status_fd`, or -1 (the reason printed).
pid_t spawn(const Options& o, const std::optional<std::vector<sock_filter>>& prog, int watch,
            int& status_fd) {
  int sv[2];
  if (::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) != 0) {
    std::fprintf(stderr, "sandbox-shim: socketpair: %s\n", std::strerror(errno));
    return -1;
  }
  const pid_t parent = ::getpid();
  const pid_t pid = ::fork();
  if (pid < 0) {
    std::fprintf(stderr, "sandbox-shim: fork: %s\n", std::strerror(errno));
    ::close(sv[0]);
    ::close(sv[1]);
    return -1;
  }
  if (pid == 0) {
    ::close(sv[0]);
    ::close(watch);
    if (!prog) nested_child(o, sv[1], parent);
    child(o, *prog, sv[1], parent);
  }
  ::close(sv[1]);
  status_fd = sv[0];
  return pid;
}

// The filter the child will install, asked of the server: the commit heap rule's also
// notifies munmap, mprotect and mremap (the join must ask for the same rule). nullopt with
// `status` set (the reason printed) if it cannot be had.
std::optional<std::vector<sock_filter>> ask_filter(const Options& o, int watch, int& status) {
  const std::string request = o.heap_rule.empty()
                                  ? "{\"op\":\"filter\"}\n"
                                  : "{\"op\":\"filter\",\"heap_rule\":\"" + o.heap_rule + "\"}\n";
  if (!send_line(watch, request)) {
    std::fprintf(stderr, "sandbox-shim: %s: %s\n", o.socket->c_str(), std::strerror(errno));
    status = kUnreachable;
    return std::nullopt;
  }
  const std::string answer = read_line(watch);
  const json parsed = parse_line(answer);
  const auto hex = is_ok(parsed) ? string_field(parsed, "filter") : std::nullopt;
  auto prog = hex ? decode(*hex) : std::nullopt;
  if (!prog) {
    std::fprintf(stderr, "sandbox-shim: filter: %s\n", failure(answer).c_str());
    status = answer.empty() ? kUnreachable : kRefused;
  }
  return prog;
}

// CMD (pid, of `job`) ended with wait status `st`: the exit status to give, and the line
// that explains a kill.
int report_end(const Options& o, int watch, const std::string& job, pid_t pid, int st) {
  // Did a quota kill end it? Asked, not guessed from the status. The supervisor kills and
  // queues the `killed` event to our session under one lock; a fetch takes that lock, so it
  // is answered after the event was queued -- but the event's line is written by a handler
  // that runs after the fetch's. A second request, sent once the fetch is answered, comes
  // back behind it: by its answer, every event of the kill has been read.
  bool killed = false, server_gone = true;
  const auto read_until = [&](const char* marker) {
    server_gone = true;  // until the marker comes back: EOF means the server went away
    for (std::string line; !(line = read_line(watch)).empty();) {
      if (o.verbosity >= 3) std::fprintf(stderr, "sandbox-shim: < %s\n", line.c_str());
      const json ev = parse_line(line);
      if (string_field(ev, "event") == "killed") {
        killed = true;
        if (o.verbosity >= 1) std::fputs(sandbox::kill_line("sandbox-shim", kill_report(ev)).c_str(), stderr);
      } else if (string_field(ev, "id") == marker) {
        server_gone = false;
        return;
      }
    }
  };
  if (send_line(watch, "{\"op\":\"fetch\",\"job\":" + job + ",\"id\":\"sync1\"}\n")) read_until("sync1");
  if (send_line(watch, "{\"op\":\"version\",\"id\":\"sync2\"}\n")) read_until("sync2");
  if (killed) return kQuotaKill;
  // 137 always comes with a line (docs/cli.md): a SIGKILL that was no quota kill says who.
  if (WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL && o.verbosity >= 1)
    std::fprintf(stderr,
                 server_gone ? "sandbox-shim: pid %d (%s) was killed: the server at %s shut down (it kills "
                               "every target when it stops)\n"
                             : "sandbox-shim: pid %d (%s) was killed by SIGKILL from outside the sandbox, "
                               "not by the supervisor (server %s)\n",
                 pid, o.command[0].c_str(), o.socket->c_str());
  return exit_status::of(st);
}

// The child's next message on its status socket ("" at EOF: CMD was exec'd, the socket
// being O_CLOEXEC, or the child ended).
std::string next_message(int status_fd) {
  char msg[4200];
  ssize_t n;
  do n = ::recv(status_fd, msg, sizeof msg, 0);
  while (n < 0 && errno == EINTR);
  return std::string(msg, n > 0 ? static_cast<std::size_t>(n) : 0);
}

// The child said it failed ("X" + status + why): the reason printed, the child reaped; the
// status it asked for.
int child_failed(const std::string& m, pid_t pid) {
  std::fprintf(stderr, "sandbox-shim: %s\n", m.substr(2).c_str());
  ::waitpid(pid, nullptr, 0);
  return static_cast<unsigned char>(m[1]);
}

// The job CMD's process is in once joined (or, nested, delegated to); else the exit status
// to give (the reason printed).
std::variant<std::string, int> await_join(const Options& o, bool nested, int watch, int status_fd,
                                          pid_t pid) {
  std::string msg;
  if (nested) {
    const auto job = delegate(o, watch, pid);
    if (!job) {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, nullptr, 0);
      return kCannotRun;
    }
    msg = "J" + *job;
  } else {
    msg = next_message(status_fd);
  }
  if (msg.size() >= 2 && msg[0] == 'X') return child_failed(msg, pid);
  if (msg.empty() || msg[0] != 'J') {
    int st = 0;
    ::waitpid(pid, &st, 0);
    if (WIFEXITED(st)) return WEXITSTATUS(st);  // it said why (cannot reach the server)
    std::fprintf(stderr, "sandbox-shim: the joining process ended before it joined (%s)\n",
                 WIFSIGNALED(st) ? strsignal(WTERMSIG(st)) : "?");
    return kCannotRun;
  }
  return msg.substr(1);
}

// The server may go away while CMD runs (SIGKILLed, crashed): CMD must not run on
// unsupervised (each call it notified would fail). The watching connection's hangup says
// so; then CMD is killed here, as `sandbox run`'s guard kills its targets. By its pidfd:
// the pid is our unreaped child, so it names CMD until we wait for it. CMD's wait status.
int supervise(pid_t pid, int watch) {
  if (const int pidfd = static_cast<int>(::syscall(SYS_pidfd_open, pid, 0)); pidfd >= 0) {
    pollfd fds[2] = {{pidfd, POLLIN, 0}, {watch, POLLRDHUP, 0}};
    for (;;) {
      if (::poll(fds, 2, -1) < 0) {
        if (errno == EINTR) continue;  // a forwarded signal
        break;
      }
      if (fds[0].revents != 0) break;  // CMD ended
      if ((fds[1].revents & (POLLRDHUP | POLLHUP | POLLERR)) != 0) {
        ::syscall(SYS_pidfd_send_signal, pidfd, SIGKILL, nullptr, 0);
        break;
      }
    }
    ::close(pidfd);
  }
  int st = 0;
  while (::waitpid(pid, &st, 0) < 0 && errno == EINTR) {
  }
  return st;
}

}  // namespace

int main(int argc, char** argv) {
  int exit_now = -1;
  const Options o = parse(argc, argv, exit_now);
  if (exit_now >= 0) return exit_now;
  // Out of CMD's reach (as the supervisor, docs/security.md): no ptrace, no /proc/<pid>/fd,
  // no pidfd_getfd() of our connections by a same-uid target. The joining child inherits it
  // until CMD's exec, which gives CMD its own.
  ::prctl(PR_SET_DUMPABLE, 0);
  // Already under a supervisor, as the kernel says (EBUSY): a nested job, asked of it at
  // $SANDBOX_SOCKET (or --socket), instead of a join.
  const bool nested = sandbox::shim::probe_nested() == 1;
  // CMD finds the supervisor's socket where `sandbox run`'s CMD does (a nested sandbox asks there).
  ::setenv("SANDBOX_SOCKET", o.socket->c_str(), 1);

  // The watching connection, and the filter the child will install.
  const int watch = connect_server(*o.socket);
  if (nested && o.scope != "job") {
    std::fprintf(stderr, "sandbox-shim: --scope process: not available in a nested job (docs/jobs.md)\n");
    return kUsage;
  }
  if (nested) ::prctl(PR_SET_CHILD_SUBREAPER, 1);  // CMD's orphans come to us: they stay in its job
  std::optional<std::vector<sock_filter>> prog;
  if (!nested) {
    int status = 0;
    if (!(prog = ask_filter(o, watch, status))) return status;
  }
  int status_fd = -1;
  const pid_t pid = spawn(o, prog, watch, status_fd);
  if (pid < 0) return kCannotRun;
  g_child = pid;
  struct sigaction sa {};
  sa.sa_sigaction = forward_signal;
  sa.sa_flags = SA_SIGINFO | SA_RESTART;
  for (int sig : {SIGINT, SIGTERM, SIGHUP, SIGQUIT}) ::sigaction(sig, &sa, nullptr);
  ::signal(SIGPIPE, SIG_IGN);

  // The child's news: joined (with its job), or why not.
  const auto joined = await_join(o, nested, watch, status_fd, pid);
  if (const int* status = std::get_if<int>(&joined)) return *status;
  const std::string& job = std::get<std::string>(joined);
  // Watch the job's kills before CMD runs: the one report that counts cannot be missed.
  if (!send_line(watch, "{\"op\":\"watch\",\"job\":" + job + ",\"kinds\":[\"killed\"]}\n") ||
      !is_ok_line(read_line(watch)))
    std::fprintf(stderr, "sandbox-shim: warning: cannot watch job %s; a quota kill will not be explained\n",
                 job.c_str());
  if (o.verbosity >= 2) std::fprintf(stderr, "sandbox-shim: pid %d joined job %s\n", pid, job.c_str());
  const char go = 'g';
  (void)!::send(status_fd, &go, 1, MSG_NOSIGNAL);
  const std::string msg = next_message(status_fd);  // EOF: CMD was exec'd (the socket is O_CLOEXEC)
  if (msg.size() >= 2 && msg[0] == 'X') return child_failed(msg, pid);
  const int st = supervise(pid, watch);
  g_child = 0;
  return report_end(o, watch, job, pid, st);
}
