// SPDX-License-Identifier: Apache-2.0
// Jobs (issue 13): a quota covers the program the user ran and every process it starts,
// with real programs (sh, python3, make, gcc) and the tree builder jobs_target.c. Each
// case runs under the default --scope job, where it must be killed, and under --scope
// process, where only CMD's own node is capped and the same run must be left alone.
#include <sys/stat.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <set>

#include "harness.hpp"

namespace {

using nlohmann::json;

const std::string kJobs = JOBS_TARGET_BIN;
const std::string kShim = SHIM_BIN;
const std::string kPython = "/usr/bin/python3";
constexpr std::uint64_t MiB = 1 << 20;

int lines(const std::string& s) {
  return static_cast<int>(std::count(s.begin(), s.end(), '\n'));
}

std::string temp_path(const std::string& tag) {
  return "/tmp/sandbox-jobs-" + tag + "-" + std::to_string(::getpid());
}

json read_json(const std::string& path) {
  std::ifstream f(path);
  REQUIRE_MESSAGE(f.good(), "no report at " << path);
  json j = json::parse(f, nullptr, false);
  REQUIRE_MESSAGE(!j.is_discarded(), "report at " << path << " is not JSON");
  std::remove(path.c_str());
  return j;
}

// A small multi-file C project for make.
struct Project {
  std::string dir = temp_path("make");
  Project() {
    REQUIRE(std::system(("rm -rf " + dir + " && mkdir -p " + dir).c_str()) == 0);
    for (int i = 0; i < 3; ++i) {
      std::ofstream(dir + "/f" + std::to_string(i) + ".c")
          << "#include <stdio.h>\n#include <stdlib.h>\n#include <string.h>\n"
          << "int f" << i
          << "(int n) { char b[64]; snprintf(b, sizeof b, \"%d\", n); return (int)strlen(b); }\n";
    }
    std::ofstream(dir + "/main.c") << "int f0(int); int f1(int); int f2(int);\n"
                                   << "int main(void) { return f0(1) + f1(2) + f2(3) == 3 ? 0 : 1; }\n";
    std::ofstream(dir + "/Makefile") << "prog: main.o f0.o f1.o f2.o\n\t$(CC) -o $@ $^\n"
                                     << "%.o: %.c\n\t$(CC) -O2 -c $< -o $@\n"
                                     << "clean:\n\trm -f prog *.o\n";
  }
  ~Project() { (void)!std::system(("rm -rf " + dir).c_str()); }
};

}  // namespace

TEST_CASE("jobs: a shell wrapper's child over the heap quota kills the job; --scope process leaves it") {
  const std::vector<std::string> cmd{"sh", "-c",
                                     kPython + " -c 'b = bytearray(200 << 20); print(\"allocated\")'"};
  const Result job = sandboxed({"--heap-quota", "50M"}, cmd);
  INFO(job.out << job.err);
  CHECK(job.status == 137);
  CHECK(job.out.find("allocated") == std::string::npos);
  CHECK(job.err.find("killed pid ") != std::string::npos);
  CHECK(job.err.find("job heap quota exceeded") != std::string::npos);
  CHECK(job.err.find("> limit 52428800 bytes (50.0 MiB)") != std::string::npos);
  CHECK(lines(job.err) == 1);

  const Result proc = sandboxed({"--scope", "process", "--heap-quota", "50M"}, cmd);
  INFO(proc.out << proc.err);
  CHECK(proc.status == 0);
  CHECK(proc.out.find("allocated") != std::string::npos);
}

TEST_CASE("jobs: a shell wrapper's child over the file quota kills the job; --scope process leaves it") {
  const std::vector<std::string> cmd{
      "sh", "-c", kPython + " -c 'fs = [open(\"/dev/null\") for i in range(10)]; print(\"opened\")'"};
  const Result job = sandboxed({"--file-quota", "5"}, cmd);
  INFO(job.out << job.err);
  CHECK(job.status == 137);
  CHECK(job.out.find("opened") == std::string::npos);
  CHECK(job.err.find("job file quota exceeded: 6 open files > limit 5") != std::string::npos);
  const Result proc = sandboxed({"--scope", "process", "--file-quota", "5"}, cmd);
  INFO(proc.out << proc.err);
  CHECK(proc.status == 0);
  CHECK(proc.out.find("opened") != std::string::npos);
}

TEST_CASE("jobs: make and the compilers it runs are under the job's quota") {
  Project p;
  // make's own heap stays under 2 MiB, cc1's does not.
  const std::vector<std::string> cmd{"make", "-s", "-j2", "-C", p.dir};
  const Result job = sandboxed({"--heap-quota", "2M"}, cmd);
  INFO(job.out << job.err);
  CHECK(job.status == 137);
  CHECK(job.err.find("job heap quota exceeded") != std::string::npos);
  CHECK(::access((p.dir + "/prog").c_str(), F_OK) != 0);

  const Result proc = sandboxed({"--scope", "process", "--heap-quota", "2M"}, cmd);
  INFO(proc.out << proc.err);
  CHECK(proc.status == 0);
  CHECK(::access((p.dir + "/prog").c_str(), X_OK) == 0);

  // And a whole build under a roomy job quota succeeds, every process accounted.
  REQUIRE(std::system(("make -s -C " + p.dir + " clean").c_str()) == 0);
  const std::string out = temp_path("make.json");
  const Result roomy = sandboxed({"--heap-quota", "1G", "--file-quota", "1000", "-o", out}, cmd);
  INFO(roomy.out << roomy.err);
  CHECK(roomy.status == 0);
  const json r = read_json(out);
  CHECK(r["exit_status"] == 0);
  CHECK(r["killed"].is_null());
  // make, 4 x (gcc, cc1, as), then gcc, collect2, ld for the link
  CHECK(r["job"]["processes"].get<int>() >= 1 + 4 * 3 + 3);
  CHECK(r["job"]["peak_heap_bytes"].get<std::uint64_t>() > 2 * MiB);
}

TEST_CASE("jobs: a forking program whose child goes over the quota") {
  const Result job = sandboxed({"--heap-quota", "50M"}, {kJobs, "fork-heap", "1", "80"});
  INFO(job.out << job.err);
  CHECK(job.status == 137);
  CHECK(job.kv.count("all_ready") == 0);
  const Result proc =
      sandboxed({"--scope", "process", "--heap-quota", "50M"}, {kJobs, "fork-heap", "1", "80"});
  INFO(proc.out << proc.err);
  CHECK(proc.status == 0);
  CHECK(proc["all_ready"] == "1");
}

TEST_CASE("jobs: children each under the quota but together over it") {
  SUBCASE("heap: 4 children of 20 MiB under 50 MiB") {
    const Result job = sandboxed({"--heap-quota", "50M"}, {kJobs, "fork-heap", "4", "20"});
    INFO(job.out << job.err);
    CHECK(job.status == 137);
    CHECK(job.kv.count("all_ready") == 0);
    CHECK(job.err.find("job heap quota exceeded") != std::string::npos);
    const Result proc =
        sandboxed({"--scope", "process", "--heap-quota", "50M"}, {kJobs, "fork-heap", "4", "20"});
    INFO(proc.out << proc.err);
    CHECK(proc.status == 0);
    CHECK(proc["all_ready"] == "1");
  }
  SUBCASE("files: 3 children of 2 files under 5") {
    const Result job = sandboxed({"--file-quota", "5"}, {kJobs, "fork-files", "3", "2"});
    INFO(job.out << job.err);
    CHECK(job.status == 137);
    CHECK(job.err.find("job file quota exceeded: 6 open files > limit 5") != std::string::npos);
    const Result proc =
        sandboxed({"--scope", "process", "--file-quota", "5"}, {kJobs, "fork-files", "3", "2"});
    INFO(proc.out << proc.err);
    CHECK(proc.status == 0);
    CHECK(proc["all_ready"] == "1");
  }
}

TEST_CASE("jobs: a process that ends takes its share with it") {
  // 5 x 30 MiB one after the other never hold more than 30 MiB at once.
  const Result r = sandboxed({"--heap-quota", "50M"}, {kJobs, "seq-heap", "5", "30"});
  INFO(r.out << r.err);
  CHECK(r.status == 0);
  CHECK(r["children"] == "5");
}

TEST_CASE("jobs: a daemon (double fork, setsid, orphaned) stays in the job") {
  const Result job = sandboxed({"--heap-quota", "50M"}, {kJobs, "daemon", "80"});
  INFO(job.out << job.err);
  CHECK(job.status == 137);
  CHECK(job.err.find("job heap quota exceeded") != std::string::npos);
  const Result proc = sandboxed({"--scope", "process", "--heap-quota", "50M"}, {kJobs, "daemon", "80"});
  INFO(proc.out << proc.err);
  CHECK(proc.status == 0);
  CHECK(proc["daemon_allocated"] == "1");
}

TEST_CASE("jobs: the JSON summary of a run that ends normally") {
  const std::string out = temp_path("normal.json");
  const Result r = sandboxed({"--heap-quota", "100M", "-o", out}, {kJobs, "fork-heap", "2", "5"});
  INFO(r.out << r.err);
  REQUIRE(r.status == 0);
  const json j = read_json(out);
  INFO(j.dump(2));
  CHECK(j["exit_status"] == 0);
  CHECK(j["killed"].is_null());
  CHECK(j["job"]["processes"] == 3);
  CHECK(j["job"]["scope"] == "job");
  CHECK(j["job"]["heap_quota_bytes"] == 100 * MiB);
  // Both children's 5 MiB at once, plus the parent's loader and stdio (well under 1 MiB).
  const auto peak = j["job"]["peak_heap_bytes"].get<std::uint64_t>();
  CHECK(peak >= 10 * MiB);
  CHECK(peak < 11 * MiB);
  REQUIRE(j["processes"].size() == 3);
  int children = 0;
  for (const json& p : j["processes"]) {
    CHECK(p["pid"].get<int>() > 1);
    CHECK(p["argv0"] == kJobs);
    CHECK(p["end"] == "exit");
    CHECK(p["exit_status"] == 0);
    if (p["peak_heap_bytes"] == 5 * MiB) ++children;
  }
  CHECK(children == 2);  // each child's share is exactly its own mapping
}

TEST_CASE("jobs: the JSON summary of a run killed for heap") {
  const std::string out = temp_path("heap.json");
  const Result r = sandboxed({"--heap-quota", "50M", "--output", out}, {kJobs, "fork-heap", "4", "20"});
  INFO(r.out << r.err);
  REQUIRE(r.status == 137);
  const json j = read_json(out);
  INFO(j.dump(2));
  CHECK(j["exit_status"] == 137);
  REQUIRE(j["killed"].is_object());
  CHECK(j["killed"]["resource"] == "heap");
  CHECK(j["killed"]["limit"] == 50 * MiB);
  const auto usage = j["killed"]["usage"].get<std::uint64_t>();
  CHECK(usage > 50 * MiB);
  CHECK(usage <= 61 * MiB);  // 3 x 20 MiB and the parent's loader
  // The crossing call never took effect: the peak stays within the quota.
  CHECK(j["job"]["peak_heap_bytes"].get<std::uint64_t>() <= 50 * MiB);
  CHECK(j["job"]["peak_heap_bytes"].get<std::uint64_t>() >= 40 * MiB);
  bool crosser_listed = false;
  for (const json& p : j["processes"]) {
    CHECK(p["end"] == "killed");
    if (p["pid"] == j["killed"]["pid"]) crosser_listed = true;
  }
  CHECK(crosser_listed);
  CHECK(j["job"]["processes"].get<std::size_t>() == j["processes"].size());
}

TEST_CASE("jobs: the JSON summary of a run killed for files") {
  const std::string out = temp_path("files.json");
  const Result r = sandboxed({"--file-quota", "5", "-o", out}, {kJobs, "fork-files", "3", "2"});
  INFO(r.out << r.err);
  REQUIRE(r.status == 137);
  const json j = read_json(out);
  INFO(j.dump(2));
  CHECK(j["exit_status"] == 137);
  REQUIRE(j["killed"].is_object());
  CHECK(j["killed"]["resource"] == "files");
  CHECK(j["killed"]["usage"] == 6);
  CHECK(j["killed"]["limit"] == 5);
  CHECK(j["job"]["peak_files"] == 5);
  CHECK(j["job"]["file_quota"] == 5);
  CHECK(j["job"]["heap_quota_bytes"].is_null());
}

TEST_CASE("jobs: --summary prints one line at the end") {
  const Result r = sandboxed({"--summary"}, {kJobs, "fork-heap", "2", "5"});
  INFO(r.out << r.err);
  CHECK(r.status == 0);
  CHECK(lines(r.err) == 1);
  CHECK(r.err.rfind("sandbox: job 1 (scope job, heap rule kernel): peak heap ", 0) == 0);
  CHECK(r.err.find(", 3 processes, ") != std::string::npos);
  CHECK(r.err.find("notifications, no kill, exit status 0\n") != std::string::npos);
  const Result k = sandboxed({"--summary", "--file-quota", "5"}, {kJobs, "fork-files", "3", "2"});
  CHECK(k.status == 137);
  CHECK(lines(k.err) == 2);  // the kill, then the summary
  CHECK(k.err.find("killed: pid ") != std::string::npos);
  CHECK(k.err.find("crossed the job's files quota (6 files > 5 files), exit status 137") !=
        std::string::npos);
}

TEST_CASE("jobs: bad --scope and --output are one-line errors with status 2") {
  const Result bad = run({kSandbox, "run", "--scope", "tree", "--", kJobs, "seq-heap", "1", "1"});
  CHECK(bad.status == 2);
  CHECK(bad.err.find("--scope: 'tree' is not a scope (expected job or process)") != std::string::npos);
  CHECK(lines(bad.err) == 1);
  CHECK(run({kSandbox, "run", "-o", "", "--", kJobs, "seq-heap", "1", "1"}).status == 2);
  const Result shim = run({kShim, "--socket", "/nonexistent", "--scope", "x", "--", "true"});
  CHECK(shim.status == 2);
  CHECK(shim.err.find("--scope: 'x' is not a scope") != std::string::npos);
}

namespace {

// A running `sandbox serve`.
struct Serve {
  std::string path = temp_path("serve") + ".sock";
  std::unique_ptr<Process> p;
  Serve() {
    p = std::make_unique<Process>(std::vector<std::string>{kSandbox, "serve", "--socket", path, "--verbose"});
    p->expect_err("serving " + path);
  }
  Result ctl(std::vector<std::string> args) const {
    std::vector<std::string> a{kSandbox, "ctl", "--socket", path};
    a.insert(a.end(), args.begin(), args.end());
    return run(a);
  }
  Result shim(std::vector<std::string> opts, std::vector<std::string> cmd) const {
    std::vector<std::string> a{kShim, "--socket", path};
    a.insert(a.end(), opts.begin(), opts.end());
    a.push_back("--");
    a.insert(a.end(), cmd.begin(), cmd.end());
    return run(a);
  }
};

}  // namespace

TEST_CASE("jobs under serve: each join is one job") {
  Serve s;
  const Result job = s.shim({"--heap-quota", "50M"}, {kJobs, "fork-heap", "4", "20"});
  INFO(job.out << job.err);
  CHECK(job.status == 137);
  CHECK(job.kv.count("all_ready") == 0);
  s.p->expect_err("job heap quota exceeded");
  const Result proc = s.shim({"--scope", "process", "--heap-quota", "50M"}, {kJobs, "fork-heap", "4", "20"});
  INFO(proc.out << proc.err);
  CHECK(proc.status == 0);
  CHECK(proc["all_ready"] == "1");
}

TEST_CASE("jobs under serve: list, fetch, cap and reset work on a job") {
  Serve s;
  Process t({kShim, "--socket", s.path, "--file-quota", "7", "--", "sh", "-c",
             "echo pid=$$; exec 3</dev/null; echo ready; read x"});
  // CMD is the shim's child (the shim stays outside, to report a kill): its pid is its own.
  const int root = std::stoi(t.expect_out("pid=").substr(4));
  t.expect_out("ready");
  const Result list = s.ctl({"--json", "list"});
  INFO(list.out << list.err);
  REQUIRE(list.status == 0);
  const json l = json::parse(list.out);
  REQUIRE(l["jobs"].size() == 1);
  const json& j = l["jobs"][0];
  CHECK(j["root"] == root);
  CHECK(j["scope"] == "job");
  CHECK(j["openfile_count"] == 1);
  CHECK(j["file_quota"] == 7);
  CHECK(j["killed"].is_null());
  const std::string id = std::to_string(j["job"].get<int>());

  const Result fetch = s.ctl({"--json", "fetch", "--job", id});
  REQUIRE(fetch.status == 0);
  CHECK(json::parse(fetch.out)["live"] == 1);
  const Result human = s.ctl({"fetch", "--job", id});
  CHECK(human.out.find("openfile_count  1") != std::string::npos);
  CHECK(s.ctl({"fetch", "--job", "999"}).err.find("ESRCH: job 999: no such job") != std::string::npos);
  const Result again = s.ctl({"cap", "--job", id, "--file-quota", "9"});
  CHECK(again.status == 1);
  CHECK(again.err.find("ENFILE") != std::string::npos);
  CHECK(s.ctl({"reset", "--job", id}).status == 0);
  CHECK(json::parse(s.ctl({"--json", "fetch", "--job", id}).out)["file_quota"] == -1);
  CHECK(s.ctl({"fetch", "--job", id, "7"}).status == 2);  // a PID or --job, not both
  // A cap below what the job holds is enforced at once: the whole job dies.
  CHECK(s.ctl({"cap", "--job", id, "--file-quota", "0"}).status == 0);
  CHECK(t.wait() == 137);
  s.p->expect_err("job file quota exceeded: 1 open file > limit 0");
}

TEST_CASE("jobs: a process cannot leave its job by starting a supervisor of its own") {
  // The kernel allows one listener per filter tree (EBUSY): nothing under our filter can
  // install a listener of its own. A nested `sandbox run` or `sandbox-shim` gets a job nested
  // in its own instead (delegation), never one outside it: the 200 MiB never happen.
  Serve s;
  const std::string alloc = kPython + " -c 'b = bytearray(200 << 20); print(\"allocated\")'";
  const Result nested =
      sandboxed({"--heap-quota", "50M"}, {"sh", "-c", kSandbox + " run -- " + alloc + "; echo inner=$?"});
  INFO(nested.out << nested.err);
  CHECK(nested.status == 0);
  CHECK(nested["inner"] == "137");
  CHECK(nested.out.find("allocated") == std::string::npos);
  const Result joined =
      s.shim({"--heap-quota", "50M"},
             {"sh", "-c", kShim + " --socket " + s.path + " -- " + alloc + "; echo inner=$?"});
  INFO(joined.out << joined.err);
  CHECK(joined.status == 0);
  CHECK(joined["inner"] == "137");
  CHECK(joined.out.find("allocated") == std::string::npos);
}

// ---- delegation (issue 20): nested sandboxes get nested jobs ------------------------------

namespace {

std::string alloc_mib(int mib, const std::string& then = "") {
  return kPython + " -c 'b = bytearray(" + std::to_string(mib) + " << 20); print(\"allocated\", flush=True)" +
         then + "'";
}

// An executable shell script at a temporary path: nested runs without nested quoting.
std::string script(const std::string& tag, const std::string& text) {
  const std::string path = temp_path(tag) + ".sh";
  std::ofstream(path) << "#!/bin/sh\n" << text << "\n";
  REQUIRE(::chmod(path.c_str(), 0755) == 0);
  return path;
}

int occurrences(const std::string& s, const std::string& needle) {
  int n = 0;
  for (auto p = s.find(needle); p != std::string::npos; p = s.find(needle, p + 1)) ++n;
  return n;
}

}  // namespace

TEST_CASE("delegation: two levels of run-in-run; the inner's tighter quota kills the inner job only") {
  // outer 200M > level 1 100M > level 2 20M: level 2's 40 MiB crosses its own quota only;
  // level 1's CMD goes on and sees 137, and so does the outer.
  const std::string level2 = kSandbox + " run --summary --heap-quota 20M -- " + alloc_mib(40);
  const std::string level1 =
      kSandbox + " run --heap-quota 100M -- sh -c \"" + level2 + "; echo inner2=\\$?; echo level1_goes_on\"";
  const Result r = sandboxed({"--heap-quota", "200M"}, {"sh", "-c", level1 + "; echo inner1=$?"});
  INFO(r.out << r.err);
  CHECK(r.status == 0);
  CHECK(r["inner2"] == "137");
  CHECK(r.out.find("level1_goes_on") != std::string::npos);
  CHECK(r["inner1"] == "0");
  CHECK(r.out.find("allocated") == std::string::npos);
  // The innermost launcher's summary is its own job's: killed, at its 20 MiB.
  CHECK(r.err.find("killed: pid") != std::string::npos);
  CHECK(r.err.find("> 20971520 bytes (20.0 MiB)") != std::string::npos);
  CHECK(occurrences(r.err, "sandbox: killed pid") == 1);  // by level 2 only, not relayed by the levels above
}

TEST_CASE("delegation: the outer quota still kills an inner job that stays under its own") {
  // The inner job holds 30 MiB under its 40M; then the outer CMD takes 40 MiB more: the
  // outer (64M) is crossed, and the outer job dies with the inner one in it.
  const std::string fifo = temp_path("deleg-fifo");
  const std::string inner =
      kSandbox + " run --heap-quota 40M -- " +
      alloc_mib(30, "; open(\"" + fifo + "\", \"w\").write(\"x\"); import time; time.sleep(600)");
  const std::string script = "mkfifo " + fifo + "; " + inner + " & read x < " + fifo +
                             "; echo inner_ready; " + alloc_mib(40) + "; echo outer_survived";
  const Result r = sandboxed({"--heap-quota", "64M"}, {"sh", "-c", script});
  std::remove(fifo.c_str());
  INFO(r.out << r.err);
  CHECK(r.status == 137);
  CHECK(r.out.find("inner_ready") != std::string::npos);
  CHECK(r.out.find("outer_survived") == std::string::npos);
  CHECK(r.err.find("rest of job 1 ") != std::string::npos);  // the outer job is the one killed
  CHECK(r.err.find("> limit 67108864 bytes (64.0 MiB)") != std::string::npos);
}

TEST_CASE("delegation: the inner cannot loosen the outer; it sees its own job only") {
  // Asking for 1G under an outer 64M is clamped to what the outer has left (not refused):
  // the report shows the quota it got; the 100 MiB die as the inner job's crossing.
  const std::string out = temp_path("deleg-report") + ".json";
  const std::string inner = kSandbox + " run --heap-quota 1G -o " + out + " -- sh -c '" + kSandbox +
                            " ctl --json list; " + kSandbox + " ctl reset --job 1; echo reset=$?; " +
                            kPython + " -c \"b = bytearray(100 << 20)\"'";
  const Result r = sandboxed({"--heap-quota", "64M"}, {"sh", "-c", inner + "; echo inner=$?"});
  INFO(r.out << r.err);
  CHECK(r.status == 0);
  CHECK(r["inner"] == "137");
  CHECK(r["reset"] == "1");  // the outer job is not there for the inner: ESRCH
  CHECK(r.err.find("ESRCH: job 1: no such job") != std::string::npos);
  // ctl list inside the inner job shows that job only, nested in job 1
  const auto brace = r.out.find('{');
  REQUIRE(brace != std::string::npos);
  const json l = json::parse(r.out.substr(brace, r.out.find('\n', brace) - brace));
  REQUIRE(l["jobs"].size() == 1);
  CHECK(l["jobs"][0]["parent"] == 1);
  const json rep = read_json(out);
  CHECK(rep["exit_status"] == 137);
  REQUIRE(rep["job"]["heap_quota_bytes"].is_number());
  CHECK(rep["job"]["heap_quota_bytes"].get<std::uint64_t>() <= 64 * MiB);
  CHECK(rep["killed"]["resource"] == "heap");
  CHECK(rep["processes"].size() >= 2);
}

TEST_CASE("delegation: run inside a serve tenant, and shim inside a run") {
  Serve s;
  // the tenant finds the server in $SANDBOX_SOCKET (sandbox-shim sets it); the nested run's
  // trace comes from the server's watch stream of the nested job
  const std::string trace = temp_path("deleg-serve-trace") + ".json";
  const Result tenant =
      s.shim({"--heap-quota", "64M"}, {"sh", "-c",
                                       kSandbox + " run --trace " + trace + " --heap-quota 16M -- " +
                                           alloc_mib(40) + "; echo inner=$?; " + alloc_mib(4)});
  INFO(tenant.out << tenant.err);
  CHECK(tenant.status == 0);
  CHECK(tenant["inner"] == "137");
  CHECK(tenant.out.find("allocated") != std::string::npos);  // the tenant's own 4 MiB, after
  const json t = read_json(trace);
  int kills = 0;
  for (const json& e : t["traceEvents"])
    if (e["ph"] == "i" && e["name"] == "kill") {
      ++kills;
      CHECK(e["args"]["limit"] == 16 * MiB);
    }
  CHECK(kills == 1);
  const Result shim =
      sandboxed({"--heap-quota", "64M"},
                {"sh", "-c", kShim + " --heap-quota 16M -- " + alloc_mib(40) + "; echo inner=$?"});
  INFO(shim.out << shim.err);
  CHECK(shim.status == 0);
  CHECK(shim["inner"] == "137");
  CHECK(shim.err.find("sandbox-shim: killed pid") != std::string::npos);
  CHECK(occurrences(shim.err, "killed pid") == 1);  // said by the shim, not again by the outer run
}

TEST_CASE("delegation: the outer may forbid it; then the old refusal, exit 126") {
  const Result flag = sandboxed({"--no-delegate"}, {"sh", "-c", kSandbox + " run -- true; echo inner=$?"});
  INFO(flag.out << flag.err);
  CHECK(flag["inner"] == "126");
  CHECK(flag.err.find("already runs under a sandbox supervisor") != std::string::npos);
  CHECK(flag.err.find("\"delegate\": false") != std::string::npos);
  const std::string policy = temp_path("deleg-policy") + ".json";
  std::ofstream(policy) << "{\"version\": 1, \"delegate\": false}\n";
  const Result pol = sandboxed({"--policy", policy}, {"sh", "-c", kShim + " -- true; echo inner=$?"});
  std::remove(policy.c_str());
  INFO(pol.out << pol.err);
  CHECK(pol["inner"] == "126");
  CHECK(pol.err.find("forbidden by the supervisor's policy") != std::string::npos);
  // without a socket to ask, the old refusal too
  const Result none = sandboxed({"--no-socket"}, {"sh", "-c", kSandbox + " run -- true; echo inner=$?"});
  CHECK(none["inner"] == "126");
}

TEST_CASE(
    "delegation: run-in-run-in-run: the innermost --trace, -o and --summary show its job only; one kill "
    "line") {
  // outer (200M) > level 1 (no quota) > level 2 (30M, traced): level 2's 60 MiB crosses its
  // own quota. Its trace, report and summary are its job's, fed from the outer supervisor's
  // watch stream and fetch; the kill line is said once (by level 2), not again by the outer.
  const std::string trace = temp_path("deleg-trace") + ".json", out = temp_path("deleg-out") + ".json";
  const std::string work = script("deleg-work", alloc_mib(8) + "\n" + alloc_mib(60));
  const std::string level2 = script("deleg-l2", kSandbox + " run --summary -o " + out + " --trace " + trace +
                                                    " --heap-quota 30M -- /bin/sh " + work);
  const std::string level1 = script(
      "deleg-l1", "/bin/echo level1_marker\n" + kSandbox + " run -- /bin/sh " + level2 + "\necho inner=$?");
  const Result r = sandboxed({"--heap-quota", "200M"}, {"/bin/sh", level1});
  for (const auto& f : {work, level2, level1}) std::remove(f.c_str());
  INFO(r.out << r.err);
  CHECK(r.status == 0);
  CHECK(r["inner"] == "137");
  CHECK(occurrences(r.err, "sandbox: killed pid") == 1);
  CHECK(r.err.find("sandbox: job 3 (scope job, ") != std::string::npos);  // level 2's summary
  // -o: level 2's job only -- none of level 1's processes
  const json rep = read_json(out);
  CHECK(rep["exit_status"] == 137);
  CHECK(rep["job"]["id"] == 3);
  CHECK(rep["job"]["heap_quota_bytes"] == 30 * MiB);
  REQUIRE(rep["processes"].is_array());
  for (const json& p : rep["processes"]) CHECK(p["argv0"] != "/bin/echo");
  // --trace: Chrome trace JSON with one job track, level 2's, its quota line and its kill
  std::ifstream f(trace);
  const json t = json::parse(f, nullptr, false);
  std::remove(trace.c_str());
  REQUIRE(!t.is_discarded());
  REQUIRE(t["traceEvents"].is_array());
  constexpr std::int64_t kJobTrack = std::int64_t{1} << 22;
  std::set<std::int64_t> job_tracks;
  std::int64_t quota = -1, peak = 0;
  int kills = 0;
  for (const json& e : t["traceEvents"]) {
    if (!e.contains("pid") || !e["pid"].is_number()) continue;
    const std::int64_t pid = e["pid"];
    if (pid < kJobTrack) continue;
    if (e["ph"] == "C" || e["ph"] == "i") job_tracks.insert(pid);
    if (e["ph"] == "C" && e["name"] == "heap quota") quota = e["args"].begin()->get<std::int64_t>();
    if (e["ph"] == "C" && e["name"] == "heap") peak = std::max(peak, e["args"].begin()->get<std::int64_t>());
    if (e["ph"] == "i" && e["name"] == "kill") {
      ++kills;
      CHECK(e["args"]["job"] == 3);
      CHECK(e["args"]["limit"] == 30 * MiB);
      CHECK(e["args"]["resource"] == "heap");
    }
  }
  CHECK(job_tracks == std::set<std::int64_t>{kJobTrack + 3});
  CHECK(quota == static_cast<std::int64_t>(30 * MiB));
  CHECK(peak > 0);  // coalesced (one point per 100 ms): a short-lived peak may fall between two
  CHECK(kills == 1);
}

TEST_CASE("delegation: a nested --scope process caps the inner CMD's node alone, two levels down") {
  // Level 2 under --scope process --heap-quota 20M: a child's 40 MiB is allowed (children are
  // free), CMD's own 40 MiB (after exec) is not: 137, and the job goes on counting as before.
  const std::string work =
      script("deleg-scope-work", alloc_mib(40) + "\necho child=$?\nexec " + alloc_mib(40));
  const std::string level2 = script(
      "deleg-scope-l2", kSandbox + " run --summary --scope process --heap-quota 20M -- /bin/sh " + work);
  const std::string level1 =
      script("deleg-scope-l1", kSandbox + " run -- /bin/sh " + level2 + "\necho inner=$?");
  const Result r = sandboxed({"--heap-quota", "200M"}, {"/bin/sh", level1});
  for (const auto& f : {work, level2, level1}) std::remove(f.c_str());
  INFO(r.out << r.err);
  CHECK(r.status == 0);
  CHECK(r["child"] == "0");
  CHECK(occurrences(r.out, "allocated") == 1);  // the child's, not CMD's
  CHECK(r["inner"] == "137");
  CHECK(r.err.find("sandbox: job 3 (scope process, ") != std::string::npos);
  CHECK(occurrences(r.err, "sandbox: killed pid") == 1);
}
