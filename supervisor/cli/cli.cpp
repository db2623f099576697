#include "cli/cli.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <charconv>
#include <cstdlib>
#include <string_view>

#include "cli/policy.hpp"

namespace sandbox {

const char* usage_text() {
  return "usage: sandbox run [--heap-quota SIZE] [--file-quota N] [--scope job|process] [--track]\n"
         "                   [--policy FILE] [--summary] [-o FILE] [--trace FILE]\n"
         "                   [--socket PATH | --no-socket] [--verbose] [--] CMD [ARG...]\n"
         "       sandbox serve [--socket PATH] [--socket-mode MODE] [--policy FILE] [--metrics HOST:PORT]\n"
         "                     [--oci-listener PATH [--oci-listener-mode MODE] [--oci-policy-dir DIR]]\n"
         "                     [--verbose]\n"
         "       sandbox plot TRACE -o FILE.svg [--top N] [--title TEXT]\n"
         "       sandbox ctl [--socket PATH] [--json] "
         "register|fetch|deregister|cap|reset|list|watch|metrics|version "
         "...\n"
         "       sandbox oci-profile --listener PATH [--heap-quota SIZE] [--file-quota N]\n"
         "                   [--quota-policy NAME] [--track] [--policy FILE] [--config FILE [--replace]]\n"
         "       sandbox --help | --version\n"
         "\n"
         "Runs CMD under a seccomp supervisor that tracks and limits its heap growth and open\n"
         "files the way the tracker-limiter kernel patch does (docs/semantics.md), and answers\n"
         "its register/fetch/deregister/resource_cap/resource_reset system calls (451-455).\n"
         "\n"
         "  --heap-quota SIZE  kill the job when its heap grows past SIZE (a bare number is MiB;\n"
         "                     K, M, G suffixes accepted)\n"
         "  --file-quota N     kill the job when it holds more than N files opened by open/openat/\n"
         "                     openat2/creat\n"
         "  --scope job        (default) the quotas hold for CMD and every process it starts,\n"
         "                     together; going over kills them all\n"
         "  --scope process    the quotas hold for CMD's own process only (the kernel patch's\n"
         "                     resource_cap on CMD)\n"
         "  --summary          print one line on stderr at the end: peak heap, peak files,\n"
         "                     processes, notifications, the kill if any\n"
         "  -o, --output FILE  write what the run used as JSON (docs/protocol.md)\n"
         "  --track            register CMD from its first instruction even without a quota\n"
         "  --policy FILE      read quotas, ABI numbers and notified syscalls from a JSON policy\n"
         "                     (policies/README.md); the flags above override it\n"
         "  --socket PATH      serve the control socket there (default under $XDG_RUNTIME_DIR or /run;\n"
         "                     CMD finds it in $SANDBOX_SOCKET); --no-socket: none\n"
         "  --trace FILE       write heap and open files over time (and exec, kill, exit) to FILE as\n"
         "                     Chrome trace-event JSON: open it in ui.perfetto.dev, or draw it with\n"
         "                     `sandbox plot FILE -o usage.svg` (docs/observability.md)\n"
         "  --verbose, -v      say what the supervisor does\n"
         "\n"
         "sandbox serve runs a long-lived supervisor; targets join it with\n"
         "`sandbox-shim --socket PATH [--heap-quota SIZE] [--file-quota N] -- CMD`; with\n"
         "--metrics it serves Prometheus metrics on http://HOST:PORT/metrics (HOST defaults to\n"
         "127.0.0.1). Under systemd it takes its sockets from socket activation (LISTEN_FDS) and\n"
         "reports READY=1 (packaging/systemd/).\n"
         "sandbox ctl talks to a supervisor's socket (docs/protocol.md).\n"
         "sandbox oci-profile prints the linux.seccomp object that makes runc, crun or podman hand a\n"
         "container to `sandbox serve --oci-listener PATH`, with its quotas (docs/containers.md);\n"
         "with --config it sets it in that config.json.\n"
         "\n"
         "Exit status: CMD's own, 128+N if signal N killed it (137 for a quota kill),\n"
         "2 for bad arguments, 126/127 if CMD could not be started.\n";
}

namespace {

std::uint64_t parse_count(std::string_view flag, std::string_view v) {
  std::uint64_t n = 0;
  auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
  if (v.empty() || ec != std::errc() || p != v.data() + v.size() || n > INT64_MAX)
    throw UsageError(std::string(flag) + ": '" + std::string(v) +
                     "' is not a count (expected a whole number >= 0)");
  return n;
}

mode_t parse_mode(std::string_view flag, std::string_view v) {
  unsigned mode = 0;
  auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), mode, 8);
  if (v.empty() || ec != std::errc() || p != v.data() + v.size() || mode > 0777)
    throw UsageError(std::string(flag) + ": '" + std::string(v) + "' is not an octal mode like 0600");
  return static_cast<mode_t>(mode);
}

std::uint64_t parse_heap(std::string_view flag, std::string_view v) {
  const auto bytes = parse_size(v);
  if (!bytes)
    throw UsageError(std::string(flag) + ": '" + std::string(v) +
                     "' is not a size (expected e.g. 100M, 512K, 2G, or a number of MiB)");
  return *bytes;
}

Command parse_oci_profile(int argc, const char* const argv[]) {
  Command cmd;
  cmd.kind = Command::Kind::oci_profile;
  OciProfileOptions& o = cmd.oci_profile;
  for (int i = 2; i < argc; ++i) {
    const std::string_view a = argv[i];
    const std::string_view name = a.substr(0, a.find('='));
    auto value = [&]() -> std::string_view {
      if (const auto eq = a.find('='); eq != std::string_view::npos) return a.substr(eq + 1);
      if (i + 1 >= argc) throw UsageError(std::string(name) + ": missing value");
      return argv[++i];
    };
    if (name == "--listener") {
      o.listener = std::string(value());
      if (o.listener.empty()) throw UsageError("--listener: empty path");
    } else if (name == "--heap-quota") {
      o.heap_quota_bytes = parse_heap(name, value());
    } else if (name == "--file-quota") {
      o.file_quota = parse_count(name, value());
    } else if (name == "--quota-policy") {
      o.quota_policy = std::string(value());
    } else if (a == "--track") {
      o.track = true;
    } else if (name == "--policy") {
      o.policy_file = std::string(value());
    } else if (name == "--config") {
      o.config = std::string(value());
      if (o.config->empty()) throw UsageError("--config: empty path");
    } else if (a == "--replace") {
      o.replace = true;
    } else if (a == "--help" || a == "-h") {
      cmd.kind = Command::Kind::help;
      return cmd;
    } else {
      throw UsageError("oci-profile: unknown option '" + std::string(a) + "'");
    }
  }
  if (o.listener.empty())
    throw UsageError("oci-profile: missing --listener PATH (where sandbox serve --oci-listener listens)");
  if (o.listener.front() != '/') throw UsageError("--listener: '" + o.listener + "' is not an absolute path");
  if (o.replace && !o.config) throw UsageError("--replace: only with --config FILE");
  return cmd;
}

Command parse_serve(int argc, const char* const argv[]) {
  Command cmd;
  cmd.kind = Command::Kind::serve;
  ServeOptions& o = cmd.serve;
  o.socket = default_socket_path();
  for (int i = 2; i < argc; ++i) {
    const std::string_view a = argv[i];
    const std::string_view name = a.substr(0, a.find('='));
    auto value = [&]() -> std::string_view {
      if (const auto eq = a.find('='); eq != std::string_view::npos) return a.substr(eq + 1);
      if (i + 1 >= argc) throw UsageError(std::string(name) + ": missing value");
      return argv[++i];
    };
    if (name == "--socket") {
      o.socket = std::string(value());
      o.socket_default = false;
      if (o.socket.empty()) throw UsageError("--socket: empty path");
    } else if (name == "--socket-mode") {
      o.socket_mode = parse_mode(name, value());
    } else if (name == "--policy") {
      o.policy_file = std::string(value());
    } else if (name == "--metrics") {
      o.metrics = std::string(value());
      if (o.metrics->empty()) throw UsageError("--metrics: empty address (expected HOST:PORT or :PORT)");
    } else if (name == "--oci-listener") {
      o.oci_listener = std::string(value());
      if (o.oci_listener->empty()) throw UsageError("--oci-listener: empty path");
    } else if (name == "--oci-listener-mode") {
      o.oci_listener_mode = parse_mode(name, value());
    } else if (name == "--oci-policy-dir") {
      o.oci_policy_dir = std::string(value());
      if (o.oci_policy_dir->empty()) throw UsageError("--oci-policy-dir: empty path");
    } else if (a == "--verbose" || a == "-v") {
      o.verbose = true;
    } else {
      throw UsageError("serve: unknown option '" + std::string(a) + "'");
    }
  }
  if (!o.oci_listener && o.oci_policy_dir)
    throw UsageError("--oci-policy-dir: only with --oci-listener PATH");
  return cmd;
}

Command parse_plot(int argc, const char* const argv[]) {
  Command cmd;
  cmd.kind = Command::Kind::plot;
  PlotCommand& o = cmd.plot;
  for (int i = 2; i < argc; ++i) {
    const std::string_view a = argv[i];
    const std::string_view name = a.substr(0, a.find('='));
    auto value = [&]() -> std::string_view {
      if (const auto eq = a.find('='); eq != std::string_view::npos && a.rfind("--", 0) == 0)
        return a.substr(eq + 1);
      if (i + 1 >= argc) throw UsageError(std::string(name) + ": missing value");
      return argv[++i];
    };
    if (a == "-o" || name == "--output") {
      o.output = std::string(value());
      if (o.output.empty()) throw UsageError("-o: empty file name");
    } else if (name == "--top") {
      o.top = parse_count(name, value());
    } else if (name == "--title") {
      o.title = std::string(value());
    } else if (a == "--help" || a == "-h") {
      cmd.kind = Command::Kind::help;
      return cmd;
    } else if (!a.empty() && a[0] == '-' && a != "-") {
      throw UsageError("plot: unknown option '" + std::string(a) + "'");
    } else if (o.trace.empty()) {
      o.trace = std::string(a);
    } else {
      throw UsageError("plot: one TRACE only (got '" + o.trace + "' and '" + std::string(a) + "')");
    }
  }
  if (o.trace.empty()) throw UsageError("plot: missing TRACE (usage: sandbox plot TRACE -o usage.svg)");
  if (o.output.empty()) throw UsageError("plot: missing -o FILE.svg (or -o - for stdout)");
  return cmd;
}

}  // namespace

namespace {

// No other user can make or replace a name in it: a real directory of `uid`'s, not
// writable by group or others.
bool users_own_dir(const std::string& dir, uid_t uid) {
  struct stat st {};
  return ::lstat(dir.c_str(), &st) == 0 && S_ISDIR(st.st_mode) && st.st_uid == uid &&
         (st.st_mode & (S_IWGRP | S_IWOTH)) == 0;
}

}  // namespace

std::string default_socket_path(const std::string& tag) {
  const std::string name = tag.empty() ? "sandbox.sock" : "sandbox-" + tag + ".sock";
  const uid_t uid = ::geteuid();
  if (const char* x = std::getenv("XDG_RUNTIME_DIR"); x && *x && users_own_dir(x, uid))
    return std::string(x) + "/" + name;
  if (uid == 0) return "/run/" + name;
  if (const std::string run_user = "/run/user/" + std::to_string(uid); users_own_dir(run_user, uid))
    return run_user + "/" + name;
  return "/tmp/sandbox-" + std::to_string(uid) + "/" + name;
}

Command parse_command_line(int argc, const char* const argv[]) {
  Command cmd;
  if (argc < 2) throw UsageError("missing command (try 'sandbox run -- CMD' or 'sandbox --help')");
  const std::string_view sub = argv[1];
  if (sub == "--help" || sub == "-h" || sub == "help") return cmd;
  if (sub == "--version" || sub == "version") {
    cmd.kind = Command::Kind::version;
    return cmd;
  }
  if (sub == "ctl") {
    cmd.kind = Command::Kind::ctl;
    cmd.ctl_argc = argc - 1;
    cmd.ctl_argv = argv + 1;
    return cmd;
  }
  if (sub == "serve") return parse_serve(argc, argv);
  if (sub == "plot") return parse_plot(argc, argv);
  if (sub == "oci-profile") return parse_oci_profile(argc, argv);
  if (sub != "run")
    throw UsageError("unknown command '" + std::string(sub) +
                     "' (expected run, serve, ctl, plot or oci-profile)");
  cmd.kind = Command::Kind::run;
  RunOptions& o = cmd.run;
  int i = 2;
  auto value = [&](std::string_view flag, std::string_view arg) -> std::string_view {
    if (const auto eq = arg.find('='); eq != std::string_view::npos) return arg.substr(eq + 1);
    if (i + 1 >= argc) throw UsageError(std::string(flag) + ": missing value");
    return argv[++i];
  };
  for (; i < argc; ++i) {
    const std::string_view a = argv[i];
    const std::string_view name = a.substr(0, a.find('='));
    if (a == "--") {
      ++i;
      break;
    }
    if (a.empty() || a[0] != '-') break;
    if (name == "--heap-quota") {
      o.heap_quota_bytes = parse_heap(name, value(name, a));
    } else if (name == "--file-quota") {
      o.file_quota = parse_count(name, value(name, a));
    } else if (name == "--policy") {
      o.policy_file = std::string(value(name, a));
    } else if (name == "--socket") {
      o.socket = std::string(value(name, a));
      if (o.socket->empty()) throw UsageError("--socket: empty path");
    } else if (a == "--no-socket") {
      o.no_socket = true;
    } else if (name == "--trace") {
      o.trace = std::string(value(name, a));
      if (o.trace->empty()) throw UsageError("--trace: empty file name");
    } else if (a == "--track") {
      o.track = true;
    } else if (name == "--scope") {
      const auto v = value(name, a);
      const auto s = parse_scope(v);
      if (!s) throw UsageError("--scope: '" + std::string(v) + "' is not a scope (expected job or process)");
      o.scope = *s;
    } else if (a == "--summary") {
      o.summary = true;
    } else if (name == "--output" || a == "-o") {
      o.output = std::string(value(name, a));
      if (o.output->empty()) throw UsageError(std::string(name) + ": empty path");
    } else if (a == "--verbose" || a == "-v") {
      o.verbose = true;
    } else if (a == "--help" || a == "-h") {
      cmd.kind = Command::Kind::help;
      return cmd;
    } else {
      throw UsageError("unknown option '" + std::string(a) + "'");
    }
  }
  for (; i < argc; ++i) o.command.emplace_back(argv[i]);
  if (o.command.empty()) throw UsageError("run: missing CMD (usage: sandbox run [options] -- CMD [ARG...])");
  return cmd;
}

}  // namespace sandbox
