// cli: argv -> a command and its options. Pure parsing; bad input throws UsageError with
// one line naming the argument that was wrong.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "model/jobs.hpp"

namespace sandbox {

struct UsageError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

struct RunOptions {
  std::optional<std::uint64_t> heap_quota_bytes;
  std::optional<std::uint64_t> file_quota;
  bool track = false;
  std::optional<std::string> policy_file;
  bool verbose = false;
  std::optional<std::string> socket;  // control socket path (default: see default_socket_path)
  bool no_socket = false;
  Scope scope = Scope::job;           // what the quotas cover
  bool summary = false;               // one line on stderr at the end
  std::optional<std::string> output;  // JSON summary to this file
  std::optional<std::string> trace;   // --trace FILE: usage over time, Chrome trace-event JSON
  std::vector<std::string> command;   // CMD ARG...
};

struct ServeOptions {
  std::string socket;          // control socket path
  bool socket_default = true;  // not given: in a directory that must be private (server.hpp)
  mode_t socket_mode = 0600;
  std::optional<std::string> policy_file;
  bool verbose = false;
  std::optional<std::string> metrics;  // --metrics HOST:PORT (validated by the server)
  // --oci-listener: the socket where OCI runtimes hand over container listeners
  std::optional<std::string> oci_listener;
  mode_t oci_listener_mode = 0600;
  std::optional<std::string> oci_policy_dir;  // where listenerMetadata's policy=NAME is looked up
};

struct OciProfileOptions {
  std::string listener;  // listenerPath: where `sandbox serve --oci-listener` listens
  std::optional<std::uint64_t> heap_quota_bytes;
  std::optional<std::uint64_t> file_quota;
  std::optional<std::string> quota_policy;  // a policy name for the metadata
  bool track = false;
  std::optional<std::string> policy_file;  // which syscall families are notified
  std::optional<std::string> config;       // set linux.seccomp in this config.json
  bool replace = false;                    // ... even if it has one
};

struct PlotCommand {
  std::string trace;   // TRACE (a file from `sandbox run --trace`)
  std::string output;  // -o FILE; "-" for stdout
  std::size_t top = 5;
  std::string title;
};

struct Command {
  enum class Kind { run, serve, ctl, plot, oci_profile, help, version } kind = Kind::help;
  RunOptions run;
  ServeOptions serve;
  PlotCommand plot;
  OciProfileOptions oci_profile;
  int ctl_argc = 0;  // for ctl: argv from "ctl" on
  const char* const* ctl_argv = nullptr;
};

// DIR/sandbox.sock in the first directory no other user can write: $XDG_RUNTIME_DIR (if it
// is a directory owned by the user without group/other write), /run (root),
// /run/user/<uid> (same test), else /tmp/sandbox-<uid> (made 0700 by the server, which
// refuses it if someone else made it first). With a non-empty `tag` (sandbox run), the file
// name becomes sandbox-<tag>.sock. Computes a path only; creates nothing.
std::string default_socket_path(const std::string& tag = "");

Command parse_command_line(int argc, const char* const argv[]);
// `sandbox plot` (observe/plot_command.cpp): 0, 1 (bad trace, cannot write) or 2 (cannot read).
int plot_command(const PlotCommand& o);
const char* usage_text();

}  // namespace sandbox
