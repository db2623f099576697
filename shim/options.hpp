// SPDX-License-Identifier: Apache-2.0
// options: every setting `sandbox` and `sandbox-shim` take on their command lines, declared
// once -- its flag, its policy key, its protocol field, its help text and its value parser --
// and the CLI11 glue both use, so a setting has one name and one syntax everywhere
// (docs/cli.md is the table of the same). Header-only; CLI11 is header-only too, so the shim
// stays free of Boost and JSON.
#pragma once

#include <sys/stat.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/size.hpp"

namespace sandbox::options {

// One setting. `policy_key` and `protocol_field` are empty where the setting has none.
struct Setting {
  const char* flag;            // e.g. "--heap-quota"
  const char* value_name;      // SIZE, N, PATH ... ("" for a flag without a value)
  const char* policy_key;      // key in a policy file (policies/README.md)
  const char* protocol_field;  // field of the control protocol (docs/protocol.md)
  const char* help;
};

inline constexpr Setting kHeapQuota{
    "--heap-quota", "SIZE", "heap_quota", "heap_quota",
    "kill when the heap grows past SIZE (a bare number is MiB; K, M, G suffixes; unlimited or -1: none)"};
inline constexpr Setting kFileQuota{
    "--file-quota", "N", "file_quota", "file_quota",
    "kill when more than N files opened by open/openat/openat2/creat are held (unlimited or -1: none)"};
inline constexpr Setting kScope{"--scope", "job|process", "", "scope",
                                "what the quotas cover: CMD and every process it starts, together (job, the "
                                "default), or CMD's own process only (process)"};
inline constexpr Setting kHeapRule{"--heap-rule", "kernel|commit", "heap_rule", "heap_rule",
                                   "what the heap quota counts: address space asked for by brk and anonymous "
                                   "mmap, never credited (kernel, the default: the patch's rule), or Linux's "
                                   "commit charge, private writable memory credited on munmap (commit); "
                                   "docs/memory.md"};
inline constexpr Setting kTrack{"--track", "", "track", "track",
                                "register CMD from its first instruction even without a quota"};
inline constexpr Setting kSocket{
    "--socket", "PATH", "", "",
    "the supervisor's control socket (default: $SANDBOX_SOCKET, else sandbox.sock "
    "in $XDG_RUNTIME_DIR, /run for root, /run/user/UID or /tmp/sandbox-UID)"};
inline constexpr Setting kVerbose{"-v,--verbose", "", "", "",
                                  "say more: once for what the supervisor does, twice for every event"};
inline constexpr Setting kQuiet{"-q,--quiet", "", "", "", "say nothing but errors (no kill line either)"};

// Verbosity levels: -q 0, default 1, each -v one more.
inline constexpr int kQuietLevel = 0;
inline constexpr int kDefaultLevel = 1;

// DIR/sandbox.sock in the first directory no other user can write: $XDG_RUNTIME_DIR (if it
// is a directory owned by the user without group/other write), /run (root),
// /run/user/<uid> (same test), else /tmp/sandbox-<uid>. With a non-empty `tag` (sandbox
// run), the file name becomes sandbox-<tag>.sock. Computes a path only; creates nothing.
inline std::string default_socket_path(const std::string& tag = "") {
  // No other user can make or replace a name in it: a real directory of `uid`'s, not
  // writable by group or others.
  const auto users_own_dir = [](const std::string& dir, uid_t uid) {
    struct stat st {};
    return ::lstat(dir.c_str(), &st) == 0 && S_ISDIR(st.st_mode) && st.st_uid == uid &&
           (st.st_mode & (S_IWGRP | S_IWOTH)) == 0;
  };
  const std::string name = tag.empty() ? "sandbox.sock" : "sandbox-" + tag + ".sock";
  const uid_t uid = ::geteuid();
  if (const char* x = std::getenv("XDG_RUNTIME_DIR"); x && *x && users_own_dir(x, uid))
    return std::string(x) + "/" + name;
  if (uid == 0) return "/run/" + name;
  if (const std::string run_user = "/run/user/" + std::to_string(uid); users_own_dir(run_user, uid))
    return run_user + "/" + name;
  return "/tmp/sandbox-" + std::to_string(uid) + "/" + name;
}

// The socket a client (ctl, sandbox-shim) talks to without --socket: $SANDBOX_SOCKET, else
// default_socket_path(), where `sandbox serve` listens by default.
inline std::string client_socket_path() {
  if (const char* s = std::getenv("SANDBOX_SOCKET"); s != nullptr && *s != '\0') return s;
  return default_socket_path();
}

inline std::string quote_arg(std::string_view v) {
  return "'" + std::string(v) + "'";
}

inline CLI::Option* add_heap_quota(CLI::App& app, std::optional<Quota>& out) {
  return app
      .add_option_function<std::string>(
          kHeapQuota.flag,
          [&out](const std::string& v) {
            const auto q = parse_heap_quota(v);
            if (!q)
              throw CLI::ValidationError(kHeapQuota.flag,
                                         quote_arg(v) +
                                             " is not a size (expected e.g. 100M, 512K, 2G, a "
                                             "number of MiB, or unlimited)");
            out = *q;
          },
          kHeapQuota.help)
      ->type_name(kHeapQuota.value_name);
}

inline CLI::Option* add_file_quota(CLI::App& app, std::optional<Quota>& out) {
  return app
      .add_option_function<std::string>(
          kFileQuota.flag,
          [&out](const std::string& v) {
            const auto q = parse_file_quota(v);
            if (!q)
              throw CLI::ValidationError(
                  kFileQuota.flag,
                  quote_arg(v) + " is not a count (expected a whole number >= 0, or unlimited)");
            out = *q;
          },
          kFileQuota.help)
      ->type_name(kFileQuota.value_name);
}

// "job" or "process", checked here; the caller maps it to its own type.
inline CLI::Option* add_scope(CLI::App& app, std::string& out) {
  return app
      .add_option_function<std::string>(
          kScope.flag,
          [&out](const std::string& v) {
            if (v != "job" && v != "process")
              throw CLI::ValidationError(kScope.flag,
                                         quote_arg(v) + " is not a scope (expected job or process)");
            out = v;
          },
          kScope.help)
      ->type_name(kScope.value_name);
}

// "kernel" or "commit", checked here; the caller maps it to its own type.
inline CLI::Option* add_heap_rule(CLI::App& app, std::string& out) {
  return app
      .add_option_function<std::string>(
          kHeapRule.flag,
          [&out](const std::string& v) {
            if (v != "kernel" && v != "commit")
              throw CLI::ValidationError(kHeapRule.flag,
                                         quote_arg(v) + " is not a heap rule (expected kernel or commit)");
            out = v;
          },
          kHeapRule.help)
      ->type_name(kHeapRule.value_name);
}

inline CLI::Option* add_track(CLI::App& app, bool& out) {
  return app.add_flag(kTrack.flag, out, kTrack.help);
}

// A non-empty path.
inline CLI::Option* add_path(CLI::App& app, const char* flag, std::optional<std::string>& out,
                             const char* help, const char* value_name = "PATH") {
  const std::string name = std::string(flag).substr(std::string(flag).rfind(',') + 1);
  return app
      .add_option_function<std::string>(
          flag,
          [&out, name](const std::string& v) {
            if (v.empty()) throw CLI::ValidationError(name, "empty path");
            out = v;
          },
          help)
      ->type_name(value_name);
}

inline CLI::Option* add_socket(CLI::App& app, std::optional<std::string>& out,
                               const char* help = kSocket.help) {
  return add_path(app, kSocket.flag, out, help);
}

// -v (repeatable) and -q: `level` becomes 0 (quiet), 1 (default) or 1 + the number of -v.
inline void add_verbosity(CLI::App& app, int& level) {
  auto* v = app.add_flag_function(
      kVerbose.flag, [&level](std::int64_t n) { level = kDefaultLevel + static_cast<int>(n); },
      kVerbose.help);
  auto* q = app.add_flag_function(
      kQuiet.flag, [&level](std::int64_t) { level = kQuietLevel; }, kQuiet.help);
  v->excludes(q);
}

inline void add_version(CLI::App& app, const std::string& text) {
  app.set_version_flag("-V,--version", text, "print the version and exit");
}

// Where a command's own options end and CMD begins, for `sandbox run` and `sandbox-shim`:
// at a first `--` (dropped), or at the first argument that is neither an option nor the
// value of one. Everything from there on is CMD's, untouched. `args` are the arguments
// after the command's name; returns the index where CMD starts and sets `dashes` if a `--`
// is at that index.
inline std::size_t command_start(const CLI::App& app, const std::vector<std::string>& args, bool& dashes) {
  dashes = false;
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (a == "--") {
      dashes = true;
      return i;
    }
    if (a.size() < 2 || a[0] != '-') return i;                                // CMD ("-" alone is a name too)
    if (a.find('=') != std::string::npos && a.rfind("--", 0) == 0) continue;  // --opt=value
    // A known option that takes a value takes the next argument, whatever it looks like.
    const CLI::Option* o = app.get_option_no_throw(a);
    if (o != nullptr && o->get_type_size_max() > 0 && o->get_items_expected_min() > 0) ++i;
  }
  return args.size();
}

// For the bash completion (packaging/bash-completion/sandbox): what `app` takes, from its own
// definition, one line each, so the completion never lists an option of its own:
//   sub NAME            a subcommand (hidden ones are not listed)
//   opt NAMES KIND      an option, NAMES comma-separated ("-o,--output")
//   arg KIND            a positional
// KIND: flag (no value), file, dir, command (a command line: CMD [ARG...]), choice:a,b (one of
// these words, from a value name like "job|process"), none (a value with nothing to offer).
// A subcommand that takes its parent's options after it (fallthrough) lists those too.
inline std::string completion_kind(const CLI::Option& o) {
  std::string t = o.get_type_name();
  if (o.get_positional() && t.empty()) t = o.get_name();
  if (!o.get_positional() && !(o.get_type_size_max() > 0 && o.get_items_expected_min() > 0)) return "flag";
  if (t.rfind("CMD", 0) == 0) return "command";
  if (t == "FILE" || t == "PATH" || t == "TRACE") return "file";
  if (t == "DIR") return "dir";
  if (t.find('|') != std::string::npos) {
    for (char& c : t)
      if (c == '|') c = ',';
    return "choice:" + t;
  }
  return "none";
}

inline std::string completion_spec(const CLI::App& app) {
  std::string out, seen = " ";
  for (const CLI::App* sub : app.get_subcommands([](const CLI::App* c) { return !c->get_group().empty(); }))
    out += "sub " + sub->get_name() + "\n";
  for (const CLI::App* a = &app; a != nullptr; a = a->get_fallthrough() ? a->get_parent() : nullptr) {
    for (const CLI::Option* o : a->get_options()) {
      if (o->get_group().empty()) continue;  // hidden
      if (o->get_positional()) {
        if (a == &app) out += "arg " + completion_kind(*o) + "\n";
        continue;
      }
      std::string names;
      for (const auto& n : o->get_snames()) names += (names.empty() ? "-" : ",-") + n;
      for (const auto& n : o->get_lnames()) names += (names.empty() ? "--" : ",--") + n;
      if (seen.find(" " + names + " ") != std::string::npos) continue;  // -h of the parent too
      seen += names + " ";
      out += "opt " + names + " " + completion_kind(*o) + "\n";
    }
  }
  return out;
}

// `PROG --__complete [SUB...]` (hidden): the completion_spec of PROG SUB...; nullopt if argv is
// anything else. An unknown SUB gives an empty spec.
inline std::optional<std::string> completion_request(const CLI::App& app, int argc,
                                                     const char* const argv[]) {
  if (argc < 2 || argv[1] == nullptr || std::string_view(argv[1]) != "--__complete") return std::nullopt;
  const CLI::App* a = &app;
  for (int i = 2; i < argc && a != nullptr; ++i) {
    const CLI::App* next = nullptr;
    for (const CLI::App* sub : a->get_subcommands([](const CLI::App*) { return true; }))
      if (argv[i] != nullptr && sub->get_name() == argv[i]) next = sub;
    a = next;
  }
  return a != nullptr ? completion_spec(*a) : std::string();
}

// CLI11's error as one line, without its capitals for extras: "unknown option '--x'".
inline std::string error_line(const CLI::ParseError& e, const CLI::App& app) {
  std::string what = e.what();
  if (dynamic_cast<const CLI::ExtrasError*>(&e) != nullptr) {
    const auto extra = app.remaining(true);
    if (!extra.empty())
      what =
          (extra.front().size() > 1 && extra.front()[0] == '-' ? "unknown option " : "unexpected argument ") +
          quote_arg(extra.front());
  }
  // A repeated option: CLI11 says "--x: At Most 1 required but received 2".
  if (dynamic_cast<const CLI::ArgumentMismatch*>(&e) != nullptr) {
    const std::string_view mismatch = ": At Most 1 required but received ";
    if (const auto at = what.find(mismatch); at != std::string::npos)
      what = what.substr(0, at) + " given " + what.substr(at + mismatch.size()) + " times (give it once)";
  }
  for (char& c : what)
    if (c == '\n') c = ' ';
  while (!what.empty() && what.back() == ' ') what.pop_back();
  return what;
}

}  // namespace sandbox::options
