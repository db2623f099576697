// SPDX-License-Identifier: Apache-2.0
// Integration tests: real targets (probe.c, the examples) under a real `sandbox run`.
// Each test runs the supervisor binary, captures what the target and the supervisor print,
// and asserts the contract of docs/semantics.md on it.
#include "harness.hpp"

TEST_CASE("ABI: every operation and every error number, as the kernel patch answers") {
  const Result r = probe("abi-errors");
  INFO(r.out << r.err);
  CHECK(r.status == 0);
  CHECK(r["register_zero"] == "EINVAL");
  CHECK(r["register_negative"] == "EINVAL");
  CHECK(r["register_nowhere"] == "ESRCH");
  CHECK(r["register_self"] == "0");
  CHECK(r["register_again"] == "ENFILE");
  CHECK(r["register_truncated"] == "ENFILE");  // pid_t is 32 bits: the upper half is ignored
  CHECK(r["fetch_zero"] == "EINVAL");
  CHECK(r["fetch_unregistered"] == "EINVAL");
  CHECK(r["fetch_nowhere"] == "EINVAL");
  CHECK(r["fetch_badptr"] == "EINVAL");
  CHECK(r["fetch_readonly"] == "EINVAL");
  CHECK(r["fetch_self"] == "0");
  CHECK(r["fetch_self_pid_ok"] == "1");
  CHECK(r["deregister_zero"] == "EINVAL");
  CHECK(r["deregister_unregistered"] == "ESRCH");
  CHECK(r["cap_zero"] == "ESRCH");
  CHECK(r["cap_nowhere"] == "ESRCH");
  CHECK(r["cap_unregistered"] == "EINVAL");
  CHECK(r["cap_bad_heap"] == "EINVAL");
  CHECK(r["cap_bad_files"] == "EINVAL");
  CHECK(r["cap_ok"] == "0");
  CHECK(r["cap_again"] == "ENFILE");
  CHECK(r["reset_zero"] == "ESRCH");
  CHECK(r["reset_nowhere"] == "ESRCH");
  CHECK(r["reset_unregistered"] == "EINVAL");
  CHECK(r["reset_ok"] == "0");
  CHECK(r["cap_after_reset"] == "0");
  CHECK(r["deregister_ok"] == "0");
  CHECK(r["deregister_again"] == "ESRCH");
  CHECK(r["fetch_after_deregister"] == "EINVAL");
  CHECK(r["register_reaped"] == "ESRCH");
}

TEST_CASE("ABI: a program for the kernel patch sees nothing pre-registered without a quota") {
  const Result r = probe("outside-quota");  // no quota given: the probe may do anything
  INFO(r.out << r.err);
  CHECK(r["reset"] == "EINVAL");
  CHECK(r["deregister"] == "ESRCH");
  CHECK(r["register"] == "0");
}

TEST_CASE("stricter than the kernel: a quota from outside cannot be lifted from inside") {
  const Result r = probe("outside-quota", {"--heap-quota", "1G", "--file-quota", "100"});
  INFO(r.out << r.err);
  CHECK(r.status == 0);
  CHECK(r["reset"] == "EPERM");
  CHECK(r["deregister"] == "EPERM");
  CHECK(r["cap"] == "ENFILE");
  CHECK(r["register"] == "ENFILE");
}

TEST_CASE("heap: brk growth is page-aligned, never subtracted, and RLIMIT_DATA failures do not count") {
  const Result r = probe("brk");
  INFO(r.out << r.err);
  CHECK(r.status == 0);
  CHECK(r["grow_ok"] == "1");
  CHECK(r["grow_delta"] == "16384");
  CHECK(r["same_page_delta"] == "0");
  CHECK(r["shrink_delta"] == "0");
  CHECK(r["regrow_delta"] == "8192");
  CHECK(r["below_start_delta"] == "0");
  CHECK(r["past_rlimit_data_failed"] == "1");
  CHECK(r["past_rlimit_data_delta"] == "0");
  CHECK(r["within_rlimit_data_ok"] == "1");
  CHECK(r["within_rlimit_data_delta"] == "24576");  // from cur+2 pages to cur+8 pages
}

TEST_CASE("heap: anonymous private mmap counts, shared/file/failed ones do not") {
  const Result r = probe("mmap");
  INFO(r.out << r.err);
  CHECK(r.status == 0);
  CHECK(r["anon_private_delta"] == "16384");
  CHECK(r["anon_shared_delta"] == "0");
  CHECK(r["file_private_delta"] == "0");
  CHECK(r["zero_len_failed"] == "1");
  CHECK(r["zero_len_delta"] == "0");
  CHECK(r["prot_none_delta"] == "20480");
  CHECK(r["munmap_delta"] == "0");
  CHECK(r["past_rlimit_as_failed"] == "1");
  CHECK(r["past_rlimit_as_delta"] == "0");
  CHECK(r["within_rlimit_as_delta"] == "65536");
}

TEST_CASE("heap: a limit lowered by prlimit from another process applies at once") {
  const Result r = probe("prlimit-other");
  INFO(r.out << r.err);
  CHECK(r.status == 0);
  CHECK(r["prlimit"] == "0");
  CHECK(r["child_big_failed"] == "1");
  CHECK(r["child_big_delta"] == "0");
}

TEST_CASE("files: only successful opens and closes count") {
  const Result r = probe("files");
  INFO(r.out << r.err);
  CHECK(r.status == 0);
  CHECK(r["open_ok"] == "1");
  CHECK(r["open_delta"] == "1");
  CHECK(r["open_missing"] == "ENOENT");
  CHECK(r["open_missing_delta"] == "1");
  CHECK(r["openat_dirfd_ok"] == "1");
  CHECK(r["openat_bad_dirfd"] == "EBADF");
  CHECK(r["openat2_ok"] == "1");
  CHECK(r["openat2_escape"] == "EXDEV");  // RESOLVE_BENEATH refuses the escape
  CHECK(r["creat_ok"] == "1");
  CHECK(r["o_path_ok"] == "1");
  CHECK(r["after_opens_delta"] == "6");
  CHECK(r["close_bad"] == "EBADF");
  CHECK(r["close_negative"] == "EBADF");
  CHECK(r["close_bad_delta"] == "6");
  CHECK(r["after_closes_delta"] == "0");
  CHECK(r["pipe_delta"] == "0");
  CHECK(r["pipe_closed_delta"] == "0");
}

TEST_CASE("files: EACCES as another user does not count") {
  // A root-only file: the supervisor opens it with the target's credentials, not its own.
  char dir[] = "/tmp/sandbox-eacces-XXXXXX";
  REQUIRE(::mkdtemp(dir) != nullptr);
  ::chmod(dir, 0755);
  const std::string file = std::string(dir) + "/secret";
  const int fd = ::open(file.c_str(), O_CREAT | O_WRONLY, 0600);
  REQUIRE(fd >= 0);
  ::close(fd);
  const Result r = sandboxed({}, {kProbe, "eacces", file});
  ::unlink(file.c_str());
  ::rmdir(dir);
  INFO(r.out << r.err);
  if (::geteuid() != 0) {
    MESSAGE("not root: the probe cannot switch users; checking that it said so");
    CHECK(r["setuid_failed"] == "EPERM");
    return;
  }
  CHECK(r.status == 0);
  CHECK(r["open_forbidden"] == "EACCES");
  CHECK(r["forbidden_delta"] == "0");
  CHECK(r["allowed_delta"] == "1");
}

TEST_CASE("files: EMFILE past RLIMIT_NOFILE does not count") {
  const Result r = probe("emfile");
  INFO(r.out << r.err);
  CHECK(r.status == 0);
  CHECK(r["stopped_with"] == "EMFILE");
  CHECK(r["delta_equals_successes"] == "1");
}

TEST_CASE("threads: 8 threads allocating and opening at once are counted exactly") {
  const Result r = probe("threads");
  INFO(r.out << r.err);
  CHECK(r.status == 0);
  CHECK(r["leader_heap_exact"] == "1");
  CHECK(r["leader_files_exact"] == "1");
  CHECK(r["thread_nodes_exact"] == "1");
  CHECK(r["thread_nodes_gone_after_join"] == "1");
}

TEST_CASE("signals: interrupted and restarted calls are counted once, or not at all") {
  for (const char* mode : {"restart", "no-restart"}) {
    const Result r = sandboxed({}, {kProbe, "signals", mode});
    INFO(mode << "\n" << r.out << r.err);
    CHECK(r.status == 0);
    CHECK(r["signals_received"] == "1");
    CHECK(r["files_exact"] == "1");
    CHECK(r["heap_exact"] == "1");
  }
}

TEST_CASE("fork: a child is not tracked until registered; exit deregisters; zombies are ESRCH") {
  const Result r = probe("fork");
  INFO(r.out << r.err);
  CHECK(r.status == 0);
  CHECK(r["pipes_delta"] == "0");
  CHECK(r["parent_delta_after_child_open"] == "0");
  CHECK(r["child_fetch_before_register"] == "EINVAL");
  CHECK(r["register_child"] == "0");
  CHECK(r["child_files"] == "2");
  CHECK(r["parent_delta_after_child_tracked"] == "0");
  CHECK(r["child_exit"] == "0");
  CHECK(r["fetch_child_after_wait"] == "EINVAL");
  CHECK(r["register_zombie"] == "ESRCH");
}

TEST_CASE("exec: the node survives exec") {
  const Result r = probe("exec");
  INFO(r.out << r.err);
  CHECK(r.status == 0);
  CHECK(r["after_exec_fetch"] == "0");
  CHECK(r["after_exec_files_at_least_1"] == "1");
}

TEST_CASE("kill: heap quota from the CLI, with one line naming pid, quota, usage and limit") {
  const Result r = probe("heap-kill", {"--heap-quota", "10M"});
  INFO(r.out << r.err);
  CHECK(r.status == 137);
  // The loader's own anonymous mappings count too, so the kill comes at or before step 10.
  const int steps = std::atoi(r["step"].c_str());
  CHECK(steps >= 5);
  CHECK(steps < 10);
  CHECK(r.err.find("heap quota exceeded") != std::string::npos);
  CHECK(r.err.find("limit 10485760 bytes (10.0 MiB)") != std::string::npos);
  CHECK(r.err.find("killed pid ") != std::string::npos);
  CHECK(std::count(r.err.begin(), r.err.end(), '\n') == 1);  // one line
}

TEST_CASE("kill: file quota from the CLI stops the 4th open of a 3-file quota") {
  const Result r = probe("file-kill", {"--file-quota", "3"});
  INFO(r.out << r.err);
  CHECK(r.status == 137);
  CHECK(r["opened"] == "3");
  CHECK(r.err.find("file quota exceeded: 4 open files > limit 3") != std::string::npos);
}

TEST_CASE("kill: a quota the target set on itself through the ABI") {
  const Result r = probe("self-cap-kill");
  INFO(r.out << r.err);
  CHECK(r.status == 137);
  CHECK(r["cap"] == "0");
  CHECK(r["opened"] == "2");
}

TEST_CASE("kill: a thread over its own node's quota takes its whole process down") {
  const Result r = probe("thread-kill");
  INFO(r.out << r.err);
  CHECK(r.status == 137);
  CHECK(r["thread_opened"] == "1");
  CHECK(r.kv.count("thread_survived") == 0);
  CHECK(r.kv.count("process_survived") == 0);
  CHECK(r.err.find("thread") != std::string::npos);
}

TEST_CASE("seed-style example: the child is killed at the step the contract predicts") {
  const Result r = sandboxed({}, {kBin + "/seed_test"});
  INFO(r.out << r.err);
  CHECK(r.status == 0);
  // 280 MiB / 5 files: the 6th open (6 > 5) comes before the 10th 30-MiB block.
  CHECK(r.out.find("killed by SIGKILL at iteration 6") != std::string::npos);
}

TEST_CASE("CLI: exit status is CMD's own, 128+N for a signal, 2 for bad arguments, 127 for no CMD") {
  CHECK(probe("exit", {}).status == 0);
  CHECK(sandboxed({}, {kProbe, "exit", "7"}).status == 7);
  CHECK(sandboxed({}, {kProbe, "signal", "15"}).status == 128 + 15);
  const Result bad = run(sandbox_run({"--heap-quota", "12X", "--", kProbe, "exit"}));
  CHECK(bad.status == 2);
  CHECK(bad.err.find("--heap-quota: '12X' is not a size") != std::string::npos);
  CHECK(std::count(bad.err.begin(), bad.err.end(), '\n') == 1);  // one line
  CHECK(run(sandbox_run({"--file-quota", "-3", "--", kProbe, "exit"})).status == 2);
  CHECK(run(sandbox_run({"--bogus", "--", kProbe, "exit"})).status == 2);
  CHECK(run(sandbox_run()).status == 2);
  // unlimited and -1 wherever a quota is taken (issue 16: -1 was refused here).
  CHECK(run(sandbox_run({"--file-quota", "-1", "--heap-quota=unlimited", "--", kProbe, "exit"})).status == 0);
  // No arguments: one line, the hint once.
  const Result none = run({kSandbox});
  CHECK(none.status == 2);
  CHECK(std::count(none.err.begin(), none.err.end(), '\n') == 1);
  CHECK(none.err.find("sandbox run") == none.err.rfind("sandbox run"));
  CHECK(none.err.find("--help") == none.err.rfind("--help"));
  const Result both = run(sandbox_run({"--socket", "/tmp/x.sock", "--no-socket", "--", kProbe, "exit"}));
  CHECK(both.status == 2);
  CHECK(both.err.find("--socket excludes --no-socket") != std::string::npos);
  const Result missing = run(sandbox_run({"--", "/nonexistent/cmd"}));
  CHECK(missing.status == 127);
  CHECK(missing.err.find("No such file or directory") != std::string::npos);
}

TEST_CASE("policy: a malformed policy is rejected with its JSON path and status 2") {
  char path[] = "/tmp/sandbox-policy-XXXXXX";
  const int fd = ::mkstemp(path);
  REQUIRE(fd >= 0);
  const std::string text = R"({"version": 1, "heap_quota": "lots"})";
  REQUIRE(::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size()));
  ::close(fd);
  const Result r = run(sandbox_run({"--policy", path, "--", kProbe, "exit"}));
  ::unlink(path);
  CHECK(r.status == 2);
  CHECK(r.err.find("$.heap_quota") != std::string::npos);
}

TEST_CASE("policy: the ABI can be moved to other numbers") {
  const Result r = sandboxed({"--policy", std::string(SOURCE_DIR) + "/policies/abi-moved.json"},
                             {kBin + "/probe_abi1000", "abi-errors"});
  INFO(r.out << r.err);
  CHECK(r["register_self"] == "0");
  CHECK(r["register_again"] == "ENFILE");
  CHECK(r["fetch_self_pid_ok"] == "1");
}

namespace {
// The "exec" lines of a -vv run's stderr.
std::vector<std::string> exec_lines(const std::string& err) {
  std::vector<std::string> out;
  std::istringstream in(err);
  for (std::string line; std::getline(in, line);)
    if (line.find(": exec") != std::string::npos) out.push_back(line);
  return out;
}
}  // namespace

TEST_CASE("run -vv: one exec line per exec, the program that ran, or every path tried") {
  NOTIFY_ENGINE_ONLY("the exec lines of -vv (the bpf engine does not notify exec)");
  // execvp tries each PATH entry: two that do not hold the program come first.
  const std::string path = "PATH=/nonexistent-sandbox-a:/nonexistent-sandbox-b:/usr/bin:/bin";
  const Result ok = run({"/usr/bin/env", path, kSandbox, "run", "-vv", "--no-socket", "--", "true"});
  INFO(ok.err);
  CHECK(ok.status == 0);
  const auto lines = exec_lines(ok.err);
  REQUIRE(lines.size() == 1);
  CHECK(lines[0].rfind("sandbox: pid ", 0) == 0);
  CHECK(lines[0].substr(lines[0].find(": exec")) == ": exec '/usr/bin/true'");

  // A program inside that searches PATH in vain (env uses execvp): one line, every path tried.
  const Result missing = run(
      {"/usr/bin/env", path, kSandbox, "run", "-vv", "--no-socket", "--", "env", "no-such-program-sandbox"});
  INFO(missing.err);
  CHECK(missing.status == 127);
  const auto tried = exec_lines(missing.err);
  REQUIRE(tried.size() == 2);
  CHECK(tried[0].substr(tried[0].find(": exec")) == ": exec '/usr/bin/env'");
  CHECK(tried[1].substr(tried[1].find(": exec")) ==
        ": exec failed, tried '/nonexistent-sandbox-a/no-such-program-sandbox', "
        "'/nonexistent-sandbox-b/no-such-program-sandbox', '/usr/bin/no-such-program-sandbox', "
        "'/bin/no-such-program-sandbox'");

  // CMD itself not found: the run's own line names the search (no second line about it).
  const Result cmd =
      run({"/usr/bin/env", path, kSandbox, "run", "-vv", "--no-socket", "--", "no-such-program-sandbox"});
  INFO(cmd.err);
  CHECK(cmd.status == 127);
  CHECK(exec_lines(cmd.err).empty());
  CHECK(cmd.err.find("sandbox: cannot run 'no-such-program-sandbox': No such file or directory (searched "
                     "PATH=/nonexistent-sandbox-a:/nonexistent-sandbox-b:/usr/bin:/bin)\n") !=
        std::string::npos);
}
