// SPDX-License-Identifier: Apache-2.0
// The two heap rules (issue 24, docs/memory.md) with real programs: what a user trips over
// under the kernel rule (threads, multiprocessing, git) passes under the commit rule at
// the same quota, and a real allocation is killed under both. The kill sizes are printed
// (MESSAGE) so a run shows before and after.
#include <doctest/doctest.h>

#include <cstdio>
#include <fstream>
#include <regex>

#include "harness.hpp"

namespace {

const std::string kPython = "/usr/bin/python3";

std::string kill_size(const Result& r) {
  std::smatch m;
  static const std::regex size(R"(heap quota exceeded: [0-9]+ bytes \(([0-9.]+ MiB)\))");
  return std::regex_search(r.err, m, size) ? m[1].str() : "no kill";
}

// Under the kernel rule: killed, with the line naming the other rule; under the commit
// rule at the same quota: runs to its end.
void killed_then_passes(const char* what, const std::vector<std::string>& cmd, const std::string& expect) {
  const Result kernel = sandboxed({"--heap-quota", "100M"}, cmd);
  INFO(what << " kernel rule: " << kernel.out << kernel.err);
  CHECK(kernel.status == 137);
  CHECK(kernel.err.find("(kernel rule)") != std::string::npos);
  CHECK(kernel.err.find("--heap-rule commit counts memory in use") != std::string::npos);
  const Result commit = sandboxed({"--heap-quota", "100M", "--heap-rule", "commit", "--summary"}, cmd);
  INFO(what << " commit rule: " << commit.out << commit.err);
  CHECK(commit.status == 0);
  CHECK(commit.out.find(expect) != std::string::npos);
  CHECK(commit.err.find("heap rule commit") != std::string::npos);
  CHECK(commit.err.find("no kill") != std::string::npos);
  MESSAGE(std::string(what) << ": kernel rule killed at " << kill_size(kernel)
                            << "; commit rule: " << commit.err.substr(commit.err.find("peak heap")));
}

std::string temp_dir(const std::string& tag) {
  const std::string dir = "/tmp/sandbox-heaprule-" + tag + "-" + std::to_string(::getpid());
  REQUIRE(std::system(("rm -rf " + dir + " && mkdir -p " + dir).c_str()) == 0);
  return dir;
}

}  // namespace

TEST_CASE("heap rule: python starting one thread") {
  killed_then_passes("python3 -c with one thread",
                     {kPython, "-c",
                      "import threading\n"
                      "t = threading.Thread(target=lambda: sum(range(100000)))\n"
                      "t.start(); t.join(); print('joined')"},
                     "joined");
}

TEST_CASE("heap rule: a 4-worker multiprocessing.Pool") {
  killed_then_passes("multiprocessing.Pool(4)",
                     {kPython, "-c",
                      "import multiprocessing as m\n"
                      "with m.Pool(4) as p: print('sum', sum(p.map(abs, range(1000))))"},
                     "sum 499500");
}

TEST_CASE("heap rule: git gc on a small repository") {
  if (::access("/usr/bin/git", X_OK) != 0) {
    MESSAGE("skipped: no /usr/bin/git");
    return;
  }
  const std::string dir = temp_dir("git");
  for (int i = 0; i < 30; ++i) std::ofstream(dir + "/f" + std::to_string(i) + ".txt") << "file " << i << "\n";
  REQUIRE(std::system(("cd " + dir +
                       " && git init -q && git add . && git -c user.name=t -c user.email=t@t commit -qm init")
                          .c_str()) == 0);
  killed_then_passes("git gc", {"/bin/sh", "-c", "git -C " + dir + " gc -q && echo gc-done"}, "gc-done");
  (void)!std::system(("rm -rf " + dir).c_str());
}

TEST_CASE("heap rule: a real 150 MiB allocation, touched, is killed under both rules") {
  const std::vector<std::string> cmd{kPython, "-c", "b = b'x' * (150 << 20); print('allocated')"};
  for (const char* rule : {"kernel", "commit"}) {
    const Result r = sandboxed({"--heap-quota", "100M", "--heap-rule", rule}, cmd);
    INFO(rule << ": " << r.out << r.err);
    CHECK(r.status == 137);
    CHECK(r.out.find("allocated") == std::string::npos);
    CHECK(r.err.find(std::string("(") + rule + " rule)") != std::string::npos);
    // Memory in use: no hint to switch rules.
    CHECK(r.err.find("counts memory in use") == std::string::npos);
    MESSAGE("150 MiB touched, " << std::string(rule) << " rule: killed at " << kill_size(r));
  }
}

TEST_CASE("heap rule: the commit rule credits munmap; the kernel rule's budget runs out") {
  // Allocate and free 40 MiB ten times: 40 MiB held at most, 400 MiB asked for in all.
  const std::vector<std::string> cmd{
      kPython, "-c",
      "import mmap\n"
      "for i in range(10):\n"
      "    m = mmap.mmap(-1, 40 << 20); m.write(b'x' * (40 << 20)); m.close()\n"
      "print('looped')"};
  const Result kernel = sandboxed({"--heap-quota", "100M"}, cmd);
  INFO(kernel.out << kernel.err);
  CHECK(kernel.status == 137);
  const Result commit = sandboxed({"--heap-quota", "100M", "--heap-rule", "commit"}, cmd);
  INFO(commit.out << commit.err);
  CHECK(commit.status == 0);
  CHECK(commit.out.find("looped") != std::string::npos);
}

TEST_CASE("heap rule: a reservation made writable by mprotect is charged (an arena that grows)") {
  // 1 GiB of PROT_NONE reservation is free; making 150 MiB of it writable is not.
  const std::vector<std::string> cmd{
      kPython, "-c",
      "import ctypes, mmap\n"
      "libc = ctypes.CDLL(None, use_errno=True)\n"
      "libc.mmap.restype = ctypes.c_void_p\n"
      "libc.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int, ctypes.c_int, "
      "ctypes.c_long]\n"
      "p = libc.mmap(None, 1 << 30, 0, 0x22 | 0x4000, -1, 0)\n"  // PROT_NONE, MAP_PRIVATE|ANON|NORESERVE
      "print('reserved', flush=True)\n"
      "libc.mprotect.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]\n"
      "libc.mprotect(ctypes.c_void_p(p), 150 << 20, 3)\n"
      "print('writable')"};
  const Result r = sandboxed({"--heap-quota", "100M", "--heap-rule", "commit"}, cmd);
  INFO(r.out << r.err);
  CHECK(r.out.find("reserved") != std::string::npos);
  CHECK(r.out.find("writable") == std::string::npos);
  CHECK(r.status == 137);
}

TEST_CASE("heap rule: a bad --heap-rule is one line and exit 2") {
  const Result r = run({kSandbox, "run", "--heap-rule", "rss", "--", "/bin/true"});
  CHECK(r.status == 2);
  CHECK(r.err.find("--heap-rule: 'rss' is not a heap rule (expected kernel or commit)") != std::string::npos);
}

// Long (minutes): skipped in the `integration` run, run as CTest `heap_rule_cpython`
// (label `cpython`) with --no-skip. Issue 24: under the kernel rule this run is killed in
// test_shutil at 1074.6 MiB though no process holds more than 179 MiB.
TEST_CASE("heap rule: CPython's own tests run to completion under 1G with the commit rule" *
          doctest::skip()) {
  if (std::system((kPython + " -c \"import test.test_os\" >/dev/null 2>&1").c_str()) != 0) {
    MESSAGE("skipped: python3 -m test is not installed (libpython3-testsuite)");
    return;
  }
  const char* env = std::getenv("SANDBOX_CPYTHON_TESTS");  // the modules; CI runs a subset
  std::vector<std::string> cmd{kPython, "-m", "test"};
  std::string modules = env && *env ? env : "test_os test_subprocess test_signal test_tempfile test_shutil";
  for (std::size_t at = 0; at < modules.size();) {
    const std::size_t sp = modules.find(' ', at);
    const std::string m = modules.substr(at, sp == std::string::npos ? std::string::npos : sp - at);
    if (!m.empty()) cmd.push_back(m);
    at = sp == std::string::npos ? modules.size() : sp + 1;
  }
  std::vector<std::string> args{kSandbox,      "run",    "--heap-quota", "1G",
                                "--heap-rule", "commit", "--summary",    "--"};
  args.insert(args.end(), cmd.begin(), cmd.end());
  const Result r = run(args, 1800);
  INFO(r.out.substr(r.out.size() > 4000 ? r.out.size() - 4000 : 0) << r.err);
  CHECK(r.err.find("no kill") != std::string::npos);
  CHECK(r.out.find("Tests result: SUCCESS") != std::string::npos);  // regrtest ran every module to its end
  MESSAGE("CPython tests (" << modules << ") under 1G, commit rule: " << r.err);
}
