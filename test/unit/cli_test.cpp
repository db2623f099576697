// SPDX-License-Identifier: Apache-2.0
// Unit tests for the one command-line parser of `sandbox` (supervisor/cli/cli.cpp) and the
// option table it shares with sandbox-shim (shim/options.hpp): each friction point of issue 16.
#include "cli/cli.hpp"

#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "cli/plot.hpp"
#include "kill_line.hpp"
#include "options.hpp"

using namespace sandbox;

namespace {

Command parse(std::vector<std::string> args) {
  args.insert(args.begin(), "sandbox");
  std::vector<const char*> argv;
  for (const auto& a : args) argv.push_back(a.c_str());
  return parse_command_line(static_cast<int>(argv.size()), argv.data());
}

// The UsageError's one line, or "" if the arguments parse.
std::string error(std::vector<std::string> args) {
  try {
    parse(std::move(args));
  } catch (const UsageError& e) {
    const std::string what = e.what();
    CHECK(what.find('\n') == std::string::npos);
    return what;
  }
  return "";
}

bool has(const std::string& hay, const std::string& needle) {
  return hay.find(needle) != std::string::npos;
}

}  // namespace

TEST_CASE("cli: --opt=value and --opt value are the same, on every command") {
  const Command a =
      parse({"run", "--heap-quota=10M", "--file-quota", "3", "--socket=/tmp/x.sock", "--", "ls"});
  const Command b = parse({"run", "--heap-quota", "10M", "--file-quota=3", "--socket", "/tmp/x.sock", "ls"});
  for (const Command* c : {&a, &b}) {
    CHECK(c->kind == Command::Kind::run);
    CHECK(c->run.heap_quota == Quota{10u << 20});
    CHECK(c->run.file_quota == Quota{3});
    CHECK(*c->run.socket == "/tmp/x.sock");
    CHECK(c->run.command == std::vector<std::string>{"ls"});
  }
  CHECK(parse({"serve", "--socket=/tmp/s.sock", "--socket-mode=0666"}).serve.socket_mode == 0666);
  CHECK(parse({"serve", "--socket", "/tmp/s.sock", "--socket-mode", "0660"}).serve.socket_mode == 0660);
  CHECK(*parse({"ctl", "--socket=/tmp/s", "list"}).ctl.socket == "/tmp/s");
  CHECK(*parse({"ctl", "list", "--socket", "/tmp/s"}).ctl.socket == "/tmp/s");
  CHECK(parse({"plot", "t.json", "--output=o.svg", "--top=3"}).plot.top == 3);
  CHECK(parse({"oci-profile", "--listener=/run/l.sock", "--file-quota=-1"}).oci_profile.file_quota ==
        Quota{});
}

TEST_CASE("cli: CMD and what follows it are CMD's, with or without --") {
  CHECK(parse({"run", "--", "ls", "-l", "--heap-quota", "1"}).run.command ==
        std::vector<std::string>{"ls", "-l", "--heap-quota", "1"});
  CHECK(parse({"run", "ls", "--", "-x"}).run.command == std::vector<std::string>{"ls", "--", "-x"});
  CHECK(parse({"run", "--", "--", "x"}).run.command == std::vector<std::string>{"--", "x"});
  // The value of an option is never taken for CMD, whatever it looks like.
  const Command c = parse({"run", "--trace", "run", "-o", "-", "--file-quota", "-1", "echo"});
  CHECK(*c.run.trace == "run");
  CHECK(*c.run.output == "-");
  CHECK(c.run.file_quota == Quota{});
  CHECK(c.run.command == std::vector<std::string>{"echo"});
  CHECK(has(error({"run"}), "run: missing CMD"));
  CHECK(has(error({"run", "--heap-quota", "1M"}), "run: missing CMD"));
}

TEST_CASE("cli: -h/--help and -V/--version on every command and subcommand") {
  const std::vector<std::vector<std::string>> commands = {{},
                                                          {"run"},
                                                          {"serve"},
                                                          {"plot"},
                                                          {"oci-profile"},
                                                          {"ctl"},
                                                          {"ctl", "register"},
                                                          {"ctl", "fetch"},
                                                          {"ctl", "deregister"},
                                                          {"ctl", "cap"},
                                                          {"ctl", "reset"},
                                                          {"ctl", "list"},
                                                          {"ctl", "watch"},
                                                          {"ctl", "metrics"},
                                                          {"ctl", "version"}};
  for (const auto& c : commands) {
    for (const char* flag : {"-h", "--help"}) {
      auto args = c;
      args.push_back(flag);
      CAPTURE(args.size());
      const Command h = parse(args);
      CHECK(h.kind == Command::Kind::help);
      std::string usage = "Usage: sandbox";
      for (const auto& word : c) usage += " " + word;
      CHECK_MESSAGE(has(h.text, usage + " "), usage);
    }
    for (const char* flag : {"-V", "--version"}) {
      auto args = c;
      args.push_back(flag);
      const Command v = parse(args);
      CHECK(v.kind == Command::Kind::version);
      CHECK(v.text == "sandbox " SANDBOX_VERSION "\n");
    }
  }
  // --help names every option the command takes (help2man reads it).
  const std::string run_help = parse({"run", "--help"}).text;
  for (const char* o :
       {"--heap-quota", "--file-quota", "--scope", "--track", "--policy", "--summary", "--output", "--trace",
        "--socket", "--no-socket", "--verbose", "--quiet", "--version", "Exit status"})
    CHECK_MESSAGE(has(run_help, o), o);
  const std::string all = usage_text();
  for (const char* c :
       {"run", "serve", "ctl", "plot", "oci-profile", "--replace", "--oci-listener", "--openmetrics"})
    CHECK_MESSAGE(has(all, c), c);
}

TEST_CASE("cli: plot without -o: the SVG goes next to the trace") {
  CHECK(parse({"plot", "t.json"}).plot.output.empty());
  CHECK(sandbox::plot_output_for("run.json") == "run.svg");
  CHECK(sandbox::plot_output_for("/tmp/x/trace.json") == "/tmp/x/trace.svg");
  CHECK(sandbox::plot_output_for("trace") == "trace.svg");
  CHECK(sandbox::plot_output_for("a.json.d/trace") == "a.json.d/trace.svg");
  CHECK(sandbox::plot_output_for(".json") == ".json.svg");
  CHECK(sandbox::plot_output_for("dir/") == "");  // no name to derive one from
  CHECK(sandbox::plot_output_for("..") == "");
}

TEST_CASE("cli: no arguments: one hint, once") {
  const std::string e = error({});
  CHECK(has(e, "missing command"));
  CHECK(e.find("sandbox run") == e.rfind("sandbox run"));  // the hint is not repeated
}

TEST_CASE("cli: unknown options and bad values: one line naming the option and the value") {
  CHECK(error({"run", "--bogus", "ls"}) == "unknown option '--bogus'");
  CHECK(error({"serve", "--bogus"}) == "unknown option '--bogus'");
  CHECK(error({"ctl", "--bogus", "list"}) == "unknown option '--bogus'");
  CHECK(has(error({"run", "--heap-quota", "12X", "ls"}), "--heap-quota: '12X' is not a size"));
  CHECK(has(error({"run", "--file-quota=-3", "ls"}), "--file-quota: '-3' is not a count"));
  CHECK(has(error({"run", "--scope", "all", "ls"}), "--scope: 'all' is not a scope"));
  CHECK(has(error({"serve", "--socket-mode", "999"}), "--socket-mode: '999' is not an octal mode"));
  CHECK(has(error({"ctl", "fetch", "abc"}), "PID: 'abc' is not a PID"));
  CHECK(has(error({"ctl", "fetch", "--job", "0"}), "--job: '0' is not a job id"));
  CHECK(has(error({"plot", "t.json", "-o", "x.svg", "--top", "many"}), "--top: 'many' is not a count"));
  CHECK(has(error({"run", "--socket", "", "ls"}), "--socket: empty path"));
  CHECK(has(error({"run", "--heap-quota"}), "--heap-quota"));
}

TEST_CASE("cli: one name per setting: --heap-quota/--file-quota everywhere, unlimited and -1 alike") {
  for (const char* unlimited : {"unlimited", "-1"}) {
    CHECK(parse({"run", "--file-quota", unlimited, "--heap-quota", unlimited, "ls"}).run.file_quota ==
          Quota{});
    CHECK(parse({"run", "--heap-quota", unlimited, "ls"}).run.heap_quota == Quota{});
    const Command c = parse({"ctl", "cap", "7", "--heap-quota", unlimited, "--file-quota", unlimited});
    CHECK(c.ctl.heap_quota == Quota{});
    CHECK(c.ctl.file_quota == Quota{});
  }
  const Command c = parse({"ctl", "cap", "--job", "2", "--heap-quota", "100M", "--file-quota", "10"});
  CHECK(*c.ctl.job == 2);
  CHECK(c.ctl.heap_quota == Quota{100u << 20});
  CHECK(c.ctl.file_quota == Quota{10});
  CHECK(error({"ctl", "cap", "7", "--heap", "1M"}) == "unknown option '--heap'");
  CHECK(error({"ctl", "cap", "7", "--files", "1"}) == "unknown option '--files'");
  // The shared table names the same keys as the policy and the protocol.
  CHECK(std::string(options::kHeapQuota.policy_key) == "heap_quota");
  CHECK(std::string(options::kFileQuota.policy_key) == "file_quota");
}

TEST_CASE("cli: conflicting options are rejected") {
  CHECK(has(error({"run", "--socket", "/tmp/x", "--no-socket", "ls"}), "--socket excludes --no-socket"));
  CHECK(has(error({"run", "-q", "-v", "ls"}), "excludes"));
  CHECK(has(error({"run", "--heap-quota", "1M", "--heap-quota", "2M", "ls"}), "--heap-quota"));
  CHECK(has(error({"serve", "--oci-policy-dir", "/etc"}), "--oci-policy-dir requires --oci-listener"));
  CHECK(has(error({"serve", "--oci-listener-mode", "0600"}), "requires --oci-listener"));
  CHECK(has(error({"oci-profile", "--listener", "/l", "--replace"}), "--replace requires --config"));
  CHECK(has(error({"ctl", "fetch", "1", "--job", "2"}), "excludes"));
  CHECK(has(error({"ctl", "cap", "7"}), "cap: nothing to set"));
  CHECK(has(error({"ctl", "cap", "7", "--replace"}), "cap: nothing to set"));
  CHECK(has(error({"ctl", "fetch"}), "fetch: missing PID (or --job ID)"));
  CHECK(error({"ctl", "list", "7"}) == "unexpected argument '7'");
  CHECK(error({"ctl", "list", "--heap-quota", "1"}) == "unknown option '--heap-quota'");
}

TEST_CASE("cli: -q and repeated -v set the level") {
  CHECK(parse({"run", "ls"}).run.verbosity == 1);
  CHECK(parse({"run", "-q", "ls"}).run.verbosity == 0);
  CHECK(parse({"run", "-v", "ls"}).run.verbosity == 2);
  CHECK(parse({"run", "-vv", "ls"}).run.verbosity == 3);
  CHECK(parse({"run", "-v", "--verbose", "ls"}).run.verbosity == 3);
  CHECK(parse({"serve", "--quiet"}).serve.verbosity == 0);
  CHECK(parse({"serve", "-vv"}).serve.verbosity == 3);
  CHECK(parse({"ctl", "-q", "list"}).ctl.verbosity == 0);
}

TEST_CASE("cli: the shared value parsers") {
  CHECK(parse_heap_quota("100M") == Quota{100u << 20});
  CHECK(parse_heap_quota("3") == Quota{3u << 20});
  CHECK(parse_heap_quota("unlimited") == Quota{});
  CHECK(parse_heap_quota("-1") == Quota{});
  CHECK_FALSE(parse_heap_quota("-2"));
  CHECK_FALSE(parse_heap_quota(""));
  CHECK(parse_file_quota("0") == Quota{0});
  CHECK(parse_file_quota("-1") == Quota{});
  CHECK_FALSE(parse_file_quota("-3"));
  CHECK_FALSE(parse_file_quota("1.5"));
  CHECK_FALSE(parse_file_quota("9223372036854775808"));
  CHECK(parse_file_quota("9223372036854775807") == Quota{9223372036854775807ULL});
}

TEST_CASE("cli: a repeated option says so in words, not CLI11's count") {
  CHECK(error({"run", "--heap-quota", "1", "--heap-quota", "2", "ls"}) ==
        "--heap-quota given 2 times (give it once)");
  CHECK(error({"serve", "--socket", "/a", "--socket", "/b"}) == "--socket given 2 times (give it once)");
  CHECK(!has(error({"run", "--scope", "job", "--scope=process", "ls"}), "At Most"));
}

TEST_CASE("cli: an unknown command is named in one line, with the valid ones from the definition") {
  const std::string e = error({"frob"});
  CHECK(e == "unknown command 'frob' (one of: run, serve, ctl, plot, oci-profile)");
  CHECK(error({"frob", "x"}) == e);
  // Each name listed is a command of the parser (the list is the definition's, not a copy).
  const std::string list = e.substr(e.find("one of: ") + 8, e.size() - e.find("one of: ") - 9);
  std::size_t n = 0;
  for (std::size_t at = 0; at <= list.size(); ++n) {
    const std::size_t comma = std::min(list.find(", ", at), list.size());
    const std::string name = list.substr(at, comma - at);
    CHECK_MESSAGE(parse({name, "--help"}).kind == Command::Kind::help, name);
    at = comma + 2;
  }
  CHECK(n == 5);
  CHECK(error({"ctl", "list", "7"}) == "unexpected argument '7'");  // an extra argument, not a command
}

TEST_CASE("cli: an unknown or missing subcommand is named, with the valid ones") {
  const std::string bogus = error({"ctl", "bogus"});
  CHECK(has(bogus, "ctl: unknown subcommand 'bogus'"));
  CHECK(has(bogus, "register, fetch, deregister, cap, reset, list, watch, metrics, version"));
  CHECK(has(error({"ctl", "--socket", "/s", "bogus"}), "unknown subcommand 'bogus'"));  // not "/s"
  CHECK(has(error({"ctl"}), "ctl: missing subcommand (one of: register,"));
  CHECK(!has(error({"ctl"}), "A subcommand is required"));
}

TEST_CASE("cli: the completion spec comes from the definition (sandbox --__complete)") {
  const auto spec = [](std::vector<std::string> words) {
    words.insert(words.begin(), "--__complete");
    const Command c = parse(words);
    CHECK(c.kind == Command::Kind::help);
    return c.text;
  };
  const std::string top = spec({});
  CHECK(has(top, "sub run\n"));
  CHECK(has(top, "sub oci-profile\n"));
  const std::string plot = spec({"plot"});
  CHECK(has(plot, "arg file\n"));  // TRACE: files, not command names
  CHECK(has(plot, "opt -o,--output file\n"));
  CHECK(has(plot, "opt --top none\n"));
  const std::string oci = spec({"oci-profile"});
  CHECK(has(oci, "opt --listener file\n"));
  CHECK(!has(oci, "--oci-listener"));  // its help mentions it; it is serve's
  CHECK(has(spec({"run"}), "opt --scope choice:job,process\n"));
  CHECK(has(spec({"run"}), "arg command\n"));
  CHECK(has(spec({"run"}), "opt --summary flag\n"));
  CHECK(has(spec({"ctl", "cap"}), "opt --socket file\n"));  // ctl's, after the subcommand too
  CHECK(spec({"nonesuch"}).empty());
}

TEST_CASE("sizes and counts as people read them: no 0.0 MiB, 1 open file") {
  CHECK(bytes_text(0) == "0 bytes");
  CHECK(bytes_text(1) == "1 byte");
  CHECK(bytes_text(4096) == "4096 bytes (4.0 KiB)");
  CHECK(bytes_text(123904) == "123904 bytes (121.0 KiB)");
  CHECK(bytes_text(107728896) == "107728896 bytes (102.7 MiB)");
  CHECK(count_text(1, "open file", "open files") == "1 open file");
  CHECK(count_text(2, "open file", "open files") == "2 open files");
  KillReport r;
  r.heap = true, r.usage = 8192, r.limit = 4096, r.pid = r.tgid = 7;
  const std::string heap = kill_line("sandbox", r);
  CHECK(has(heap, "8192 bytes (8.0 KiB) > limit 4096 bytes (4.0 KiB)"));
  CHECK(!has(heap, "0.0 MiB"));
  r.heap = false, r.usage = 1, r.limit = 0;
  CHECK(has(kill_line("sandbox", r), "file quota exceeded: 1 open file > limit 0"));
}

TEST_CASE("cli: --wait-job takes an optional =DURATION and never takes CMD for it") {
  const Command bare = parse({"run", "--wait-job", "sh", "-c", "x"});
  CHECK(bare.run.wait_job);
  CHECK(!bare.run.wait_job_ms);
  CHECK(bare.run.command == std::vector<std::string>{"sh", "-c", "x"});
  CHECK(!parse({"run", "true"}).run.wait_job);
  CHECK(*parse({"run", "--wait-job=30s", "true"}).run.wait_job_ms == 30'000);
  CHECK(*parse({"run", "--wait-job=500ms", "true"}).run.wait_job_ms == 500);
  CHECK(*parse({"run", "--wait-job=2", "true"}).run.wait_job_ms == 2'000);
  CHECK(*parse({"run", "--wait-job=5m", "true"}).run.wait_job_ms == 300'000);
  CHECK(*parse({"run", "--wait-job=1h", "true"}).run.wait_job_ms == 3'600'000);
  CHECK(*parse({"run", "--wait-job=0", "true"}).run.wait_job_ms == 0);
  for (const std::string bad : {"soon", "-1s", "5x", "1.5s", "s", "99999999999999h"}) {
    CAPTURE(bad);
    CHECK(has(error({"run", "--wait-job=" + bad, "true"}), "--wait-job: '" + bad + "' is not a duration"));
  }
}
