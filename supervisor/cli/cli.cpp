// SPDX-License-Identifier: Apache-2.0
// cli: one CLI11 parser for all of `sandbox` (see cli.hpp). The settings shared with
// sandbox-shim come from shim/options.hpp; this file adds the commands and what only they take.
#include "cli/cli.hpp"

#include <algorithm>
#include <charconv>
#include <cstdio>
#include <cstdlib>
#include <string_view>

#include "cli/ctl.hpp"
#include "cli/oci_profile.hpp"
#include "cli/plot.hpp"
#include "cli/run.hpp"
#include "cli/serve.hpp"
#include "control/control.hpp"
#include "options.hpp"

#ifndef SANDBOX_VERSION
#define SANDBOX_VERSION "0.0.0"
#endif

namespace sandbox {

namespace {

namespace opt = options;

constexpr const char* kVersionText = "sandbox " SANDBOX_VERSION;

constexpr const char* kExitStatus =
    "Exit status (the same in every command; docs/cli.md):\n"
    "  0        success\n"
    "  1..255   run, sandbox-shim: CMD's own status\n"
    "  1        the supervisor answered an error (ctl; a refused join)\n"
    "  2        bad arguments or a malformed policy\n"
    "  3        the supervisor's socket cannot be reached or is not trusted (ctl, sandbox-shim)\n"
    "  126      CMD could not be started (not executable; the sandbox could not be set up for it)\n"
    "  127      CMD not found\n"
    "  128+N    CMD was killed by signal N; 137 (SIGKILL) for a quota kill, with one line on stderr\n";

std::string quote_arg(std::string_view v) {
  return "'" + std::string(v) + "'";
}

mode_t parse_mode(const std::string& flag, const std::string& v) {
  unsigned mode = 0;
  auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), mode, 8);
  if (v.empty() || ec != std::errc() || p != v.data() + v.size() || mode > 0777)
    throw CLI::ValidationError(flag, quote_arg(v) + " is not an octal mode like 0600");
  return static_cast<mode_t>(mode);
}

std::int64_t parse_int(const std::string& what, const std::string& v, std::int64_t lo, std::int64_t hi,
                       const char* expected) {
  std::int64_t n = 0;
  auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
  if (v.empty() || ec != std::errc() || p != v.data() + v.size() || n < lo || n > hi)
    throw CLI::ValidationError(what, quote_arg(v) + " is not " + expected);
  return n;
}

// DURATION: a whole number with a unit ms, s, m or h; a bare number is seconds. In ms.
std::uint64_t parse_duration(const std::string& flag, const std::string& v) {
  std::uint64_t n = 0;
  auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
  const std::string_view unit(p, static_cast<std::size_t>(v.data() + v.size() - p));
  std::uint64_t scale = 0;
  if (unit.empty() || unit == "s") scale = 1000;
  if (unit == "ms") scale = 1;
  if (unit == "m") scale = 60'000;
  if (unit == "h") scale = 3'600'000;
  constexpr std::uint64_t kMaxMs = std::uint64_t{1} << 40;  // about 35 years
  if (v.empty() || ec != std::errc() || p == v.data() || scale == 0 || n > kMaxMs / scale)
    throw CLI::ValidationError(flag, quote_arg(v) + " is not a duration (like 30s, 500ms, 5m, 1h)");
  return n * scale;
}

CLI::Option* add_mode(CLI::App& app, const char* flag, mode_t& out, const char* help) {
  return app
      .add_option_function<std::string>(
          flag, [&out, flag](const std::string& v) { out = parse_mode(flag, v); }, help)
      ->type_name("MODE");
}

CLI::Option* add_policy(CLI::App& app, std::optional<std::string>& out, const char* help) {
  return opt::add_path(app, "--policy", out, help, "FILE");
}

// The parser: CLI11 apps bound to the fields of `cmd`.
class Parser {
 public:
  Parser() {
    app_.name("sandbox");
    app_.description(
        "Runs commands under a seccomp supervisor that tracks and limits their heap growth and open files "
        "the\n"
        "way the tracker-limiter kernel patch does (docs/semantics.md), and answers their register/fetch/\n"
        "deregister/resource_cap/resource_reset system calls (451-455).");
    app_.footer(
        std::string("Each command takes -h/--help and -V/--version. --opt=value and --opt value are the "
                    "same.\nsandbox --help-all prints the help of every command.\n\n") +
        kExitStatus);
    app_.require_subcommand(0, 1);
    app_.set_help_all_flag("--help-all", "print the help of every command and exit");
    opt::add_version(app_, kVersionText);
    add_run();
    add_serve();
    add_ctl();
    add_plot();
    add_oci_profile();
  }

  Command parse(int argc, const char* const argv[]) {
    if (auto spec = opt::completion_request(app_, argc, argv)) {  // for the bash completion
      cmd_.kind = Command::Kind::help;
      cmd_.text = std::move(*spec);
      return std::move(cmd_);
    }
    std::vector<std::string> args;
    for (int i = 1; i < argc; ++i) args.emplace_back(argv[i] ? argv[i] : "");
    if (args.empty()) throw UsageError("missing command (try 'sandbox run -- CMD')");
    // `sandbox run [options] [--] CMD ARG...`: CMD and what follows are CMD's, untouched.
    if (args[0] == "run") {
      const std::vector<std::string> rest(args.begin() + 1, args.end());
      bool dashes = false;
      const std::size_t start = opt::command_start(*run_, rest, dashes);
      cmd_.run.command.assign(rest.begin() + static_cast<std::ptrdiff_t>(start + (dashes ? 1 : 0)),
                              rest.end());
      args.resize(1 + start);
    }
    const std::vector<std::string> given = args;
    std::reverse(args.begin(), args.end());
    try {
      app_.parse(args);
    } catch (const CLI::CallForHelp&) {
      cmd_.kind = Command::Kind::help;
      cmd_.text = app_.help();
      return std::move(cmd_);
    } catch (const CLI::CallForAllHelp&) {
      cmd_.kind = Command::Kind::help;
      cmd_.text = help_all(app_, "");
      return std::move(cmd_);
    } catch (const CLI::CallForVersion&) {
      cmd_.kind = Command::Kind::version;
      cmd_.text = std::string(kVersionText) + "\n";
      return std::move(cmd_);
    } catch (const CLI::RequiredError& e) {
      if (std::string_view(e.what()).find("ubcommand") != std::string_view::npos)
        throw UsageError(subcommand_error(given), help_command());
      throw UsageError(opt::error_line(e, app_), help_command());
    } catch (const CLI::ExtrasError& e) {
      // A word where a command or subcommand belongs ("sandbox bogus"): named as one, with
      // the valid ones. Else an extra argument of a command that takes none.
      if (expects_subcommand()) throw UsageError(subcommand_error(given), help_command());
      throw UsageError(opt::error_line(e, app_), help_command());
    } catch (const CLI::ParseError& e) {
      throw UsageError(opt::error_line(e, app_), help_command());
    }
    try {
      finish();
    } catch (const CLI::ParseError& e) {
      throw UsageError(e.what(), help_command());
    }
    return std::move(cmd_);
  }

 private:
  // "sandbox ctl cap": the deepest command given, for "see 'sandbox ctl cap --help'".
  std::string help_command() const {
    std::string name = "sandbox";
    for (const CLI::App* a = &app_;;) {
      const auto subs = a->get_subcommands();
      if (subs.empty()) break;
      a = subs.front();
      name += " " + a->get_name();
    }
    return name;
  }

  // Whether the deepest command given has subcommands of its own (sandbox itself, ctl).
  bool expects_subcommand() {
    CLI::App* a = &app_;
    for (auto subs = a->get_subcommands(); !subs.empty(); subs = a->get_subcommands()) a = subs.front();
    return !a->get_subcommands([](CLI::App* c) { return !c->get_group().empty(); }).empty();
  }

  // "ctl: unknown subcommand 'bogus' (one of: register, ...)" or "ctl: missing subcommand (...)":
  // the deepest command given, the first word after it that is neither an option nor an
  // option's value, and the subcommands it has.
  std::string subcommand_error(const std::vector<std::string>& given) {
    CLI::App* a = &app_;
    std::size_t i = 0;
    std::string path;
    for (;;) {
      const auto subs = a->get_subcommands();
      if (subs.empty()) break;
      a = subs.front();
      path += (path.empty() ? "" : " ") + a->get_name();
      while (i < given.size() && given[i] != a->get_name()) ++i;
      ++i;
    }
    std::string unknown;
    for (; i < given.size(); ++i) {
      const std::string& w = given[i];
      if (w.size() > 1 && w[0] == '-') {
        const CLI::Option* o = a->get_option_no_throw(w);
        if (o != nullptr && o->get_items_expected_min() > 0 && w.find('=') == std::string::npos) ++i;
        continue;
      }
      unknown = w;
      break;
    }
    std::string names;
    for (CLI::App* sub : a->get_subcommands([](CLI::App* c) { return !c->get_group().empty(); }))
      names += (names.empty() ? "" : ", ") + sub->get_name();
    // The names come from the definition (visible commands only), never from a list here.
    const std::string what = path.empty() ? "command" : "subcommand";
    const std::string missing = "missing " + what, named = "unknown " + what + " " + quote_arg(unknown);
    return (path.empty() ? "" : path + ": ") + (unknown.empty() ? missing : named) + " (one of: " + names +
           ")";
  }

  // The help of `app` and of every command below it, each in full (for help2man and
  // `sandbox --help-all`; CLI11's own All mode expands one level only).
  static std::string help_all(CLI::App& app, const std::string& prefix) {
    std::string text = app.help(prefix);
    const std::string name = prefix.empty() ? app.get_name() : prefix + " " + app.get_name();
    for (CLI::App* sub : app.get_subcommands([](CLI::App*) { return true; }))
      text += "\n" + std::string(72, '-') + "\n" + help_all(*sub, name);
    return text;
  }

  CLI::App* command(CLI::App& parent, const char* name, const char* description) {
    CLI::App* c = parent.add_subcommand(name, description);
    opt::add_version(*c, kVersionText);
    return c;
  }

  void add_run() {
    RunOptions& o = cmd_.run;
    run_ = command(app_, "run", "run CMD under a supervisor of its own, with quotas");
    // CMD is split off before CLI11 sees the arguments (opt::command_start); declared for the help.
    run_->add_option("CMD", help_only_, "the command and its arguments, after the options or after --")
        ->type_name("CMD [ARG...]");
    opt::add_heap_quota(*run_, o.heap_quota);
    opt::add_file_quota(*run_, o.file_quota);
    opt::add_scope(*run_, scope_);
    opt::add_heap_rule(*run_, heap_rule_);
    run_->add_option(
            "--engine", engine_,
            "how usage is accounted: notify (the supervisor answers each call, the default), bpf (BPF "
            "programs in the calling task, kill after the call; needs BTF and CAP_BPF), auto (bpf where "
            "available, else notify, saying which) (docs/design.md)")
        ->check(CLI::IsMember({"notify", "bpf", "auto"}))
        ->type_name("ENGINE");
    opt::add_track(*run_, o.track);
    add_policy(*run_, o.policy_file,
               "read quotas, ABI numbers and notified syscalls from a JSON policy (policies/README.md); the "
               "options above override it");
    run_->add_flag(
        "--summary", o.summary,
        "print one line on stderr at the end: peak heap, peak files, processes, notifications, the "
        "kill if any");
    opt::add_path(*run_, "-o,--output", o.output,
                  "write what the run used as JSON to FILE, or to stdout for - (docs/jobs.md); FILE is "
                  "opened before CMD starts and must be a regular file or new",
                  "FILE");
    run_->add_option_function<std::string>(
            "--wait-job",
            [&o](const std::string& v) {
              o.wait_job = true;
              // CLI11 passes "true" for the bare flag.
              if (!v.empty() && v != "true") o.wait_job_ms = parse_duration("--wait-job", v);
            },
            "when CMD exits while processes of its job still run (background work, daemons), wait for "
            "them, at most DURATION if given (--wait-job=30s), then kill what is left; without it they are "
            "killed at once (docs/jobs.md)")
        ->expected(0, 1)
        ->type_name("[=DURATION]");
    opt::add_path(*run_, "--trace", o.trace,
                  "write heap and open files over time (and exec, kill, exit) to FILE as Chrome trace-event "
                  "JSON; draw it with `sandbox plot FILE -o usage.svg` (docs/observability.md)",
                  "FILE");
    auto* socket = opt::add_socket(*run_, o.socket,
                                   "serve the control socket at PATH (default: sandbox-run-PID.sock under "
                                   "$XDG_RUNTIME_DIR or /run); CMD "
                                   "finds it in $SANDBOX_SOCKET");
    run_->add_flag("--no-socket", o.no_socket, "serve no control socket")->excludes(socket);
    run_->add_flag(
        "--no-delegate", o.no_delegate,
        "refuse nested jobs: a `sandbox run` or `sandbox-shim` inside CMD stops with one line, exit "
        "126 (policy \"delegate\": false; docs/jobs.md)");
    opt::add_verbosity(*run_, o.verbosity);
    run_->footer(std::string("The quotas are outside quotas: CMD cannot lift them (docs/semantics.md).\n\n") +
                 kExitStatus);
  }

  void add_serve() {
    ServeOptions& o = cmd_.serve;
    serve_ =
        command(app_, "serve",
                "run a long-lived supervisor that targets join with sandbox-shim, with a control socket");
    opt::add_socket(*serve_, serve_socket_,
                    "the control socket (default: sandbox.sock under $XDG_RUNTIME_DIR, "
                    "/run for root, /run/user/UID or /tmp/sandbox-UID)");
    add_mode(*serve_, "--socket-mode", o.socket_mode, "the control socket's mode (default 0600)");
    add_policy(*serve_, o.policy_file,
               "a JSON policy (policies/README.md): its quotas hold for every joined target; a join may only "
               "tighten them");
    serve_->add_flag("--no-delegate", o.no_delegate,
                     "refuse nested jobs inside joined targets (policy \"delegate\": false; docs/jobs.md)");
    opt::add_path(*serve_, "--metrics", o.metrics,
                  "serve Prometheus metrics on http://HOST:PORT/metrics (HOST defaults to 127.0.0.1)",
                  "HOST:PORT");
    serve_->add_flag(
        "--metrics-per-target", o.metrics_per_target,
        "the metrics endpoint shows every tenant's targets and jobs (pid, comm, uid, usage, quotas) "
        "to anyone who can reach it; default: totals only (`sandbox ctl metrics` shows each caller "
        "its own)");
    auto* oci = opt::add_path(*serve_, "--oci-listener", o.oci_listener,
                              "take containers from OCI runtimes (runc, crun, podman) on this socket "
                              "(docs/containers.md)");
    add_mode(*serve_, "--oci-listener-mode", o.oci_listener_mode, "the OCI listener's mode (default 0600)")
        ->needs(oci);
    opt::add_path(*serve_, "--oci-policy-dir", o.oci_policy_dir,
                  "where a container's policy=NAME is looked up (NAME.json)", "DIR")
        ->needs(oci);
    opt::add_verbosity(*serve_, o.verbosity);
    serve_->footer(
        "Targets join with `sandbox-shim --socket PATH [--heap-quota SIZE] [--file-quota N] -- CMD`; "
        "`sandbox "
        "ctl` talks to the socket (docs/protocol.md). Under systemd it takes its sockets from socket "
        "activation (LISTEN_FDS) and reports READY=1 (packaging/systemd/). SIGTERM or SIGINT: every target "
        "is killed, then it exits 0.\n\n" +
        std::string(kExitStatus));
  }

  // A PID argument or --job ID (one of the two) on `sub`.
  void add_target(CLI::App& sub, bool job_too) {
    sub.add_option("PID", pid_text_, "the task (thread) id")->type_name("");
    if (job_too)
      sub.add_option("--job", job_text_, "a job instead of a PID (sandbox ctl list shows them)")
          ->type_name("ID")
          ->excludes("PID");
  }

  void add_ctl() {
    CtlOptions& o = cmd_.ctl;
    ctl_ = command(app_, "ctl", "talk to a supervisor's control socket: the five operations, list, watch");
    ctl_->require_subcommand(1);
    opt::add_socket(*ctl_, o.socket);
    ctl_->add_flag("--json", o.json, "print the server's response lines as they are");
    opt::add_verbosity(*ctl_, o.verbosity);
    ctl_->footer(
        "The server must run as root or as you. A PID is a task (thread) id; a job is a command and every "
        "process it starts (docs/jobs.md).\n\n" +
        std::string(kExitStatus));
    const auto sub = [&](const char* name, const char* description) {
      CLI::App* s = command(*ctl_, name, description);
      s->fallthrough();  // --socket, --json, -v and -q after the subcommand too
      return s;
    };
    add_target(*sub("register", "start tracking PID"), false);
    add_target(*sub("fetch", "print PID's (or the job's) counters and quotas"), true);
    add_target(*sub("deregister", "stop tracking PID"), false);
    CLI::App* cap = sub("cap", "set PID's (or the job's) quotas (resource_cap); at least one to set");
    add_target(*cap, true);
    opt::add_heap_quota(*cap, o.heap_quota);
    opt::add_file_quota(*cap, o.file_quota);
    cap->add_flag("--replace", o.replace,
                  "replace quotas already set, in one step (no moment without a limit); a quota not given "
                  "becomes unlimited");
    add_target(*sub("reset", "remove PID's (or the job's) quotas (resource_reset)"), true);
    sub("list", "every node and job you may act on");
    CLI::App* watch = sub("watch", "stream events until interrupted or the supervisor ends");
    watch->add_option("--pid", watch_pid_text_, "only this node and its process")->type_name("PID");
    watch->add_option("--job", job_text_, "only this job and its processes")->type_name("ID");
    watch
        ->add_option("--kind", o.kinds,
                     "only these kinds: " + event_kind_names(" ") + " (repeatable, or comma-separated)")
        ->type_name("K,...")
        ->delimiter(',');
    watch->add_flag("--usage", o.usage, "add usage events (about ten a second per node or job)");
    sub("metrics", "print the metrics text (Prometheus text format)")
        ->add_flag("--openmetrics", o.openmetrics, "OpenMetrics instead");
    sub("version", "the server's version");
  }

  void add_plot() {
    PlotCommand& o = cmd_.plot;
    plot_ = command(app_, "plot", "draw a trace from `sandbox run --trace` as SVG");
    plot_->add_option("TRACE", o.trace, "the trace file")->required()->type_name("");
    plot_
        ->add_option("-o,--output", o.output,
                     "the SVG file (- for stdout; default: TRACE with .svg for .json, said on stderr)")
        ->type_name("FILE");
    plot_
        ->add_option_function<std::string>(
            "--top",
            [&o](const std::string& v) {
              o.top = static_cast<std::size_t>(
                  parse_int("--top", v, 0, INT64_MAX, "a count (a whole number >= 0)"));
            },
            "how many processes to draw (default 5)")
        ->type_name("N");
    plot_->add_option("--title", o.title, "the title (default: the trace's name)")->type_name("TEXT");
  }

  void add_oci_profile() {
    OciProfileOptions& o = cmd_.oci_profile;
    oci_ = command(app_, "oci-profile",
                   "print the linux.seccomp object that hands a container to `sandbox serve --oci-listener`");
    oci_->add_option("--listener", o.listener, "where `sandbox serve --oci-listener` listens (absolute)")
        ->required()
        ->type_name("PATH");
    opt::add_heap_quota(*oci_, o.heap_quota);
    opt::add_file_quota(*oci_, o.file_quota);
    oci_->add_option("--quota-policy", o.quota_policy,
                     "a policy NAME the server looks up in --oci-policy-dir")
        ->type_name("NAME");
    opt::add_track(*oci_, o.track);
    add_policy(*oci_, o.policy_file, "which syscall families are notified (policies/README.md)");
    auto* config = opt::add_path(*oci_, "--config", o.config, "set it in this config.json instead", "FILE");
    oci_->add_flag("--replace", o.replace, "with --config: replace a linux.seccomp it has")->needs(config);
    oci_->footer("docs/containers.md");
  }

  // What CLI11 cannot say: which command, and the checks across options.
  void finish() {
    if (run_->parsed()) {
      cmd_.kind = Command::Kind::run;
      cmd_.run.scope = scope_ == "process" ? Scope::process : Scope::job;
      cmd_.run.engine = engine_ == "bpf"    ? RunEngine::bpf
                        : engine_ == "auto" ? RunEngine::automatic
                                            : RunEngine::notify;
      if (!heap_rule_.empty()) cmd_.run.heap_rule = parse_heap_rule(heap_rule_);
      if (cmd_.run.command.empty())
        throw CLI::ValidationError("run: missing CMD (usage: sandbox run [OPTIONS] -- CMD [ARG...])");
    } else if (serve_->parsed()) {
      cmd_.kind = Command::Kind::serve;
      cmd_.serve.socket_default = !serve_socket_;
      cmd_.serve.socket = serve_socket_ ? *serve_socket_ : default_socket_path();
    } else if (plot_->parsed()) {
      cmd_.kind = Command::Kind::plot;
      if (plot_->count("--output") != 0 && cmd_.plot.output.empty())
        throw CLI::ValidationError("-o: empty file name");
    } else if (oci_->parsed()) {
      cmd_.kind = Command::Kind::oci_profile;
      if (cmd_.oci_profile.listener.empty() || cmd_.oci_profile.listener.front() != '/')
        throw CLI::ValidationError("--listener",
                                   quote_arg(cmd_.oci_profile.listener) + " is not an absolute path");
    } else if (ctl_->parsed()) {
      finish_ctl();
    } else {
      throw CLI::ValidationError("missing command (try 'sandbox run -- CMD')");
    }
  }

  void finish_ctl() {
    cmd_.kind = Command::Kind::ctl;
    CtlOptions& o = cmd_.ctl;
    const CLI::App* sub = ctl_->get_subcommands().front();
    o.sub = sub->get_name();
    if (!job_text_.empty())
      o.job =
          static_cast<JobId>(parse_int("--job", job_text_, 1, UINT32_MAX, "a job id (a positive integer)"));
    if (!pid_text_.empty()) o.pid = parse_int("PID", pid_text_, INT32_MIN, INT32_MAX, "a PID (an integer)");
    if (!watch_pid_text_.empty())
      o.watch_pid = parse_int("--pid", watch_pid_text_, 1, INT32_MAX, "a PID (a positive integer)");
    const bool takes_target = sub->get_option_no_throw("PID") != nullptr;
    if (takes_target && !o.pid && !o.job)
      throw CLI::ValidationError(o.sub + ": missing PID" +
                                 (sub->get_option_no_throw("--job") ? " (or --job ID)" : ""));
    if (o.sub == "cap" && !o.heap_quota && !o.file_quota)
      throw CLI::ValidationError("cap: nothing to set (give --heap-quota SIZE, --file-quota N or both)");
    std::vector<std::string> kinds;
    for (const auto& k : o.kinds)
      if (!k.empty()) kinds.push_back(k);
    o.kinds = kinds;
  }

  CLI::App app_;
  Command cmd_;
  CLI::App *run_ = nullptr, *serve_ = nullptr, *ctl_ = nullptr, *plot_ = nullptr, *oci_ = nullptr;
  std::string scope_ = "job";
  std::string engine_ = "notify";
  std::string heap_rule_;  // "": the policy's
  std::optional<std::string> serve_socket_;
  std::string pid_text_, job_text_, watch_pid_text_;
  std::vector<std::string> help_only_;
};

}  // namespace

std::string default_socket_path(const std::string& tag) {
  return opt::default_socket_path(tag);
}

Command parse_command_line(int argc, const char* const argv[]) {
  Parser p;
  return p.parse(argc, argv);
}

std::string usage_text() {
  const char* argv[] = {"sandbox", "--help-all"};
  return parse_command_line(2, argv).text;
}

int ctl_main(int argc, const char* const argv[]) {
  std::vector<const char*> args{"sandbox"};
  for (int i = 0; i < argc; ++i) args.push_back(argv[i]);
  return sandbox_main(static_cast<int>(args.size()), args.data());
}

int sandbox_main(int argc, const char* const argv[]) {
  Command cmd;
  try {
    cmd = parse_command_line(argc, argv);
  } catch (const UsageError& e) {
    std::fprintf(stderr, "sandbox: %s (see '%s --help')\n", e.what(), e.help.c_str());
    return exit_status::usage;
  }
  switch (cmd.kind) {
    case Command::Kind::help:
    case Command::Kind::version: std::fputs(cmd.text.c_str(), stdout); return exit_status::ok;
    case Command::Kind::run: return run_command(cmd.run);
    case Command::Kind::serve: return serve_command(cmd.serve);
    case Command::Kind::ctl: return ctl_command(cmd.ctl);
    case Command::Kind::oci_profile: return oci_profile_command(cmd.oci_profile);
    case Command::Kind::plot: return plot_command(cmd.plot);
  }
  return exit_status::usage;
}

}  // namespace sandbox
