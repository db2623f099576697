// SPDX-License-Identifier: Apache-2.0
// An honest end of a job (issue 24): when CMD exits while processes of its job still run,
// `sandbox run` says so (a line, --summary, -o, the trace), and kills them (the default) or,
// with --wait-job[=DURATION], waits for them, at most DURATION (docs/jobs.md).
//
// The background member blocks reading a FIFO that only this test writes, so whether it is
// still there when CMD exits never depends on timing.
#include <sys/stat.h>

#include <cstdlib>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "harness.hpp"

namespace {

using json = nlohmann::json;
const std::string kPython = "/usr/bin/python3";

bool has(const std::string& hay, const std::string& needle) {
  return hay.find(needle) != std::string::npos;
}

std::string slurp(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::ostringstream s;
  s << f.rdbuf();
  return s.str();
}

struct Dir {
  std::string path;
  Dir() {
    char tmpl[] = "/tmp/sandbox-end-XXXXXX";
    REQUIRE(::mkdtemp(tmpl) != nullptr);
    path = tmpl;
    REQUIRE(::mkfifo((path + "/fifo").c_str(), 0600) == 0);
  }
  ~Dir() { (void)!std::system(("rm -rf " + path).c_str()); }
  std::string operator/(const std::string& name) const { return path + "/" + name; }
};

// Opens the FIFO for writing once its reader is there, writes a line, closes it.
void release(const std::string& fifo) {
  for (int i = 0; i < 3000; ++i) {
    const int fd = ::open(fifo.c_str(), O_WRONLY | O_NONBLOCK | O_CLOEXEC);
    if (fd >= 0) {
      (void)!::write(fd, "go\n", 3);
      ::close(fd);
      return;
    }
    REQUIRE_MESSAGE(errno == ENXIO, "open " << fifo << ": " << std::strerror(errno));
    pollfd none{-1, 0, 0};
    ::poll(&none, 0, 10);  // no reader yet: it is on its way (the event polled for)
  }
  FAIL("no reader on " << fifo);
}

// The case: a shell that leaves `nohup sh -c "...; touch f" &` behind and exits.
std::vector<std::string> nohup_case(const Dir& d) {
  return {"/bin/sh", "-c",
          "nohup /bin/sh -c 'echo member=ready; read x < " + d / "fifo" + "; touch " + d / "f" + "' &"};
}

}  // namespace

TEST_CASE("job end: background work left by CMD is killed by default, and every report says so") {
  const Dir d;
  const std::string out = d / "report.json", trace = d / "trace.json";
  const Result r = sandboxed({"--summary", "-o", out, "--trace", trace}, nohup_case(d));
  INFO(r.out << r.err);
  CHECK(r.status == 0);  // CMD's own status
  CHECK(::access((d / "f").c_str(), F_OK) != 0);
  // Nothing reads the FIFO any more: the member is gone.
  const int fd = ::open((d / "fifo").c_str(), O_WRONLY | O_NONBLOCK);
  CHECK(fd < 0);
  if (fd >= 0) ::close(fd);
  CHECK(has(r.err, "sandbox: /bin/sh exited with status 0 and left 1 process of its job running: pid "));
  CHECK(has(r.err, "; killed it (--wait-job waits for them)\n"));
  CHECK(has(r.err, ", 1 process left running when CMD exited (killed), exit status 0\n"));
  const json j = json::parse(slurp(out), nullptr, false);
  REQUIRE(!j.is_discarded());
  INFO(j.dump(2));
  CHECK(j["left_running"]["count"] == 1);
  REQUIRE(j["left_running"]["processes"].size() == 1);
  CHECK(j["left_running"]["processes"][0]["pid"].get<int>() > 1);
  CHECK(j["left_running"]["processes"][0]["comm"].is_string());
  CHECK(j["left_running"]["outcome"] == "killed");
  const json t = json::parse(slurp(trace), nullptr, false);
  REQUIRE(!t.is_discarded());
  int marks = 0;
  for (const json& e : t["traceEvents"])
    if (e["name"] == "left running") {
      ++marks;
      CHECK(e["args"]["count"] == 1);
      CHECK(e["args"]["action"] == "kill");
      CHECK(e["args"]["pids"].size() == 1);
    }
  CHECK(marks == 1);
}

TEST_CASE("job end: --wait-job waits for the background work, which finishes its job") {
  const Dir d;
  const std::string out = d / "report.json";
  Process p({kSandbox, "run", "--wait-job", "--summary", "-o", out, "--", nohup_case(d)[0], nohup_case(d)[1],
             nohup_case(d)[2]});
  p.expect_out("member=ready");
  const std::string line = p.expect_err("left 1 process of its job running");
  CHECK(has(line, "sandbox: /bin/sh exited with status 0 and left 1 process of its job running: pid "));
  CHECK(has(line, "; waiting for it (no time limit)"));
  release(d / "fifo");
  CHECK(p.wait() == 0);
  CHECK(::access((d / "f").c_str(), F_OK) == 0);
  const json j = json::parse(slurp(out), nullptr, false);
  REQUIRE(!j.is_discarded());
  INFO(j.dump(2));
  CHECK(j["left_running"]["count"] == 1);
  CHECK(j["left_running"]["outcome"] == "ended");
  CHECK(j["exit_status"] == 0);
}

TEST_CASE("delegation: a nested --wait-job (run-in-run-in-run) waits for the background work too") {
  // Level 2 is a delegated run (a job nested in level 1's, nested in the outer's): its
  // --wait-job waits for the member CMD left, as a run of its own would, instead of killing it.
  const Dir d;
  const auto cmd = nohup_case(d);
  std::ofstream(d / "l2.sh") << kSandbox << " run --wait-job --summary -- /bin/sh -c \"" << cmd[2] << "\"\n"
                             << "echo inner=$?\n";
  std::ofstream(d / "l1.sh") << kSandbox << " run -- /bin/sh " << d / "l2.sh"
                             << "\n";
  Process p({kSandbox, "run", "--", "/bin/sh", d / "l1.sh"});
  p.expect_out("member=ready");
  const std::string line = p.expect_err("left 1 process of its job running");
  CHECK(has(line, "; waiting for it (no time limit)"));
  release(d / "fifo");
  p.expect_out("inner=0");
  CHECK(p.wait() == 0);
  CHECK(::access((d / "f").c_str(), F_OK) == 0);
  CHECK(has(p.expect_err("sandbox: job 3 (scope job, "),
            "1 process left running when CMD exited (waited for until they ended)"));
}

TEST_CASE("job end: the literal nohup case: f is created with --wait-job") {
  const Dir d;
  const Result r =
      sandboxed({"--wait-job"}, {"/bin/sh", "-c", "nohup sh -c \"sleep 1; touch " + d / "f" + "\" &"});
  INFO(r.out << r.err);
  CHECK(r.status == 0);
  CHECK(::access((d / "f").c_str(), F_OK) == 0);
}

TEST_CASE("job end: --wait-job=DURATION kills what is still running after DURATION, and says so") {
  const Dir d;
  const std::string out = d / "report.json";
  // Nobody ever writes the FIFO: the member never ends by itself.
  const Result r = sandboxed({"--wait-job=1s", "-o", out},
                             {"/bin/sh", "-c", "nohup /bin/sh -c 'read x < " + d / "fifo" + "' & exit 3"});
  INFO(r.out << r.err);
  CHECK(r.status == 3);  // CMD's own status
  CHECK(has(r.err, "sandbox: /bin/sh exited with status 3 and left 1 process of its job running: pid "));
  CHECK(has(r.err, "; waiting for it (at most 1s)\n"));
  CHECK(has(r.err, "sandbox: 1 process of the job still running 1s after CMD exited: pid "));
  CHECK(has(r.err, "; killed it\n"));
  const json j = json::parse(slurp(out), nullptr, false);
  REQUIRE(!j.is_discarded());
  CHECK(j["left_running"]["outcome"] == "killed_after_wait");
  CHECK(j["exit_status"] == 3);
}

TEST_CASE("job end: a background member crossing the quota while the job is waited for is killed as usual") {
  const Dir d;
  Process p({kSandbox, "run", "--wait-job", "--heap-quota", "40M", "--", "/bin/sh", "-c",
             "nohup " + kPython + " -c \"open('" + d / "fifo" +
                 "').read(); bytearray(100 << 20); print('allocated=1')\" &"});
  p.expect_err("waiting for it");
  release(d / "fifo");
  p.expect_err("job heap quota exceeded");
  CHECK(p.wait() == 137);
}

TEST_CASE("job end: no line when nothing is left, and bad --wait-job values are usage errors") {
  const Result r = sandboxed({"--summary"}, {"/bin/true"});
  CHECK(r.status == 0);
  CHECK(!has(r.err, "left"));
  for (const std::string bad : {"--wait-job=soon", "--wait-job=-1s", "--wait-job=5x"}) {
    CAPTURE(bad);
    const Result u = run({kSandbox, "run", bad, "--", "/bin/true"});
    CHECK(u.status == 2);
    CHECK(has(u.err, "--wait-job: "));
  }
  CHECK(sandboxed({"--wait-job=500ms"}, {"/bin/true"}).status == 0);
  CHECK(sandboxed({"--wait-job=2"}, {"/bin/true"}).status == 0);
}

TEST_CASE("job end: SIGTERM while waiting ends the wait: what is left is killed, and the line says so") {
  const Dir d;
  Process p({kSandbox, "run", "--wait-job", "--", "/bin/sh", "-c",
             "nohup /bin/sh -c 'read x < " + d / "fifo" + "' &"});
  p.expect_err("waiting for it (no time limit)");
  p.signal(SIGTERM);
  const std::string line =
      p.expect_err("interrupted (SIGTERM) while waiting for the job: 1 process still running: pid ");
  CHECK(has(line, "; killed it"));
  CHECK(p.wait() == 0);  // CMD's own status
}
