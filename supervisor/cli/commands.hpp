// SPDX-License-Identifier: Apache-2.0
// commands: what `sandbox` was asked to do, as parsed -- one struct of options per command
// (cli.cpp fills them; run.cpp, serve.cpp, ctl.cpp, plot.cpp and oci_profile.cpp read them).
// Plain data, so a command's file needs this and not the parser.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "base/exit_status.hpp"
#include "base/size.hpp"
#include "model/jobs.hpp"

namespace sandbox {

struct UsageError : std::runtime_error {
  UsageError(const std::string& what, std::string help_command = "sandbox")
      : std::runtime_error(what), help(std::move(help_command)) {}
  std::string help;  // the command whose --help to point to ("sandbox run")
};

// Verbosity: 0 (-q) errors only; 1 (default) errors and kill lines; 2 (-v) what the
// supervisor does; 3 (-vv) every event too.
// Who accounts a run's calls (docs/design.md): the supervisor through seccomp user
// notification, BPF programs in the kernel, or bpf where available.
enum class RunEngine { notify, bpf, automatic };

struct RunOptions {
  std::optional<Quota> heap_quota;  // given: a limit or unlimited (overrides the policy's)
  std::optional<Quota> file_quota;
  bool track = false;
  std::optional<std::string> policy_file;
  int verbosity = 1;
  std::optional<std::string> socket;  // control socket path (default: see default_socket_path)
  bool no_socket = false;
  bool no_delegate = false;  // refuse nested jobs (policy "delegate": false)
  RunEngine engine = RunEngine::notify;
  Scope scope = Scope::job;           // what the quotas cover
  std::optional<HeapRule> heap_rule;  // given: overrides the policy's
  bool summary = false;               // one line on stderr at the end
  std::optional<std::string> output;  // JSON summary to this file ("-": stdout)
  // When CMD exits and processes of its job remain: kill them (false) or wait for them
  // (--wait-job), at most wait_job_ms if set (--wait-job=DURATION), then kill what is left.
  bool wait_job = false;
  std::optional<std::uint64_t> wait_job_ms;
  std::optional<std::string> trace;  // --trace FILE: usage over time, Chrome trace-event JSON
  std::vector<std::string> command;  // CMD ARG...
};

struct ServeOptions {
  std::string socket;          // control socket path
  bool socket_default = true;  // not given: in a directory that must be private (server.hpp)
  mode_t socket_mode = 0600;
  std::optional<std::string> policy_file;
  bool no_delegate = false;  // refuse nested jobs in joined targets (policy "delegate": false)
  int verbosity = 1;
  std::optional<std::string> metrics;  // --metrics HOST:PORT (validated by the server)
  bool metrics_per_target = false;     // --metrics-per-target: every tenant's series on TCP too
  // --oci-listener: the socket where OCI runtimes hand over container listeners
  std::optional<std::string> oci_listener;
  mode_t oci_listener_mode = 0600;
  std::optional<std::string> oci_policy_dir;  // where listenerMetadata's policy=NAME is looked up
};

struct OciProfileOptions {
  std::string listener;  // listenerPath: where `sandbox serve --oci-listener` listens
  std::optional<Quota> heap_quota;
  std::optional<Quota> file_quota;
  std::optional<std::string> quota_policy;  // a policy name for the metadata
  bool track = false;
  std::optional<std::string> policy_file;  // which syscall families are notified
  std::optional<std::string> config;       // set linux.seccomp in this config.json
  bool replace = false;                    // ... even if it has one
};

struct PlotCommand {
  std::string trace;   // TRACE (a file from `sandbox run --trace`)
  std::string output;  // -o FILE; "-" for stdout; "": the default (plot_output_for(trace))
  std::size_t top = 5;
  std::string title;
};

// `sandbox ctl SUBCOMMAND`: one request (watch: a stream) to a supervisor's socket.
struct CtlOptions {
  std::string sub;  // register fetch deregister cap reset list watch metrics version
  std::optional<std::string> socket;
  bool json = false;
  int verbosity = 1;
  std::optional<std::int64_t> pid;  // the PID argument
  std::optional<JobId> job;         // --job ID
  std::optional<Quota> heap_quota;  // cap
  std::optional<Quota> file_quota;
  bool replace = false;                   // cap --replace: one atomic change of existing quotas
  std::optional<std::int64_t> watch_pid;  // watch --pid
  std::vector<std::string> kinds;         // watch --kind (repeatable, or comma-separated)
  bool usage = false;                     // watch --usage
  bool openmetrics = false;               // metrics --openmetrics
};

struct Command {
  enum class Kind { run, serve, ctl, plot, oci_profile, help, version } kind = Kind::help;
  RunOptions run;
  ServeOptions serve;
  PlotCommand plot;
  OciProfileOptions oci_profile;
  CtlOptions ctl;
  std::string text;  // help, version: what to print on stdout
};

// DIR/sandbox.sock in the first directory no other user can write: $XDG_RUNTIME_DIR (if it
// is a directory owned by the user without group/other write), /run (root),
// /run/user/<uid> (same test), else /tmp/sandbox-<uid> (made 0700 by the server, which
// refuses it if someone else made it first). With a non-empty `tag` (sandbox run), the file
// name becomes sandbox-<tag>.sock. Computes a path only; creates nothing.
std::string default_socket_path(const std::string& tag = "");

}  // namespace sandbox
