// SPDX-License-Identifier: Apache-2.0
// The files the supervisor writes for the user (issue 20 "Every file the supervisor writes is
// safe", issue 24 "-o"): -o, --trace and `sandbox plot -o` are opened before CMD runs, never
// through a symlink, never a FIFO or a device; a target that swaps the name during the run
// changes nothing root writes. And what the -o report says about the run.
#include <sys/stat.h>

#include <cstdlib>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "harness.hpp"

namespace {

using json = nlohmann::json;

const std::string kPython = "/usr/bin/python3";
const std::vector<std::string> kNobody{"/usr/bin/setpriv", "--reuid=65534", "--regid=65534",
                                       "--clear-groups"};

bool has(const std::string& hay, const std::string& needle) {
  return hay.find(needle) != std::string::npos;
}

int lines(const std::string& s) {
  return static_cast<int>(std::count(s.begin(), s.end(), '\n'));
}

std::string slurp(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::ostringstream s;
  s << f.rdbuf();
  return s.str();
}

// A fresh directory; with `nobody`, owned by uid 65534 (a build directory the target can
// write), and a root-only 0600 file outside it.
struct Scene {
  std::string dir, secret;
  explicit Scene(const std::string& tag, bool nobody) {
    char tmpl[] = "/tmp/sandbox-out-XXXXXX";
    REQUIRE(::mkdtemp(tmpl) != nullptr);
    dir = tmpl;
    REQUIRE(::mkdir((dir + "/w").c_str(), 0755) == 0);
    if (nobody) REQUIRE(::chown((dir + "/w").c_str(), 65534, 65534) == 0);
    ::chmod(dir.c_str(), 0755);
    secret = dir + "/secret-" + tag;
    std::ofstream(secret) << "secret\n";
    REQUIRE(::chmod(secret.c_str(), 0600) == 0);
  }
  ~Scene() { (void)!std::system(("rm -rf " + dir).c_str()); }
  std::string out(const std::string& name) const { return dir + "/w/" + name; }
};

bool can_be_nobody() {
  return ::geteuid() == 0 && ::access("/usr/bin/setpriv", X_OK) == 0;
}

// sh -c SCRIPT, as uid 65534 when asked.
std::vector<std::string> shell_as(bool nobody, const std::string& script) {
  std::vector<std::string> a = nobody ? kNobody : std::vector<std::string>{};
  a.insert(a.end(), {"/bin/sh", "-c", script});
  return a;
}

mode_t file_type(const std::string& path) {
  struct stat st {};
  return ::lstat(path.c_str(), &st) == 0 ? (st.st_mode & S_IFMT) : 0;
}

}  // namespace

TEST_CASE(
    "outputs: a symlink swapped in for -o during the run is not followed (a 0600 file stays untouched)") {
  for (const bool nobody : {false, true}) {
    CAPTURE(nobody);
    if (nobody && !can_be_nobody()) {
      MESSAGE("needs root and setpriv to act as uid 65534");
      continue;
    }
    const Scene s("symlink", nobody);
    const std::string out = s.out("report.json");
    // The target, which can write the report's directory, replaces the report's name with
    // a symlink to the secret once the run has begun.
    const Result r = sandboxed({"-o", out}, shell_as(nobody, "rm -f " + out + " && ln -s " + s.secret + " " +
                                                                 out + " && echo swapped=1"));
    INFO(r.out << r.err);
    CHECK(r.status == 0);
    CHECK(r["swapped"] == "1");
    CHECK(slurp(s.secret) == "secret\n");
    struct stat st {};
    REQUIRE(::stat(s.secret.c_str(), &st) == 0);
    CHECK((st.st_mode & 07777) == 0600);
    CHECK(st.st_uid == ::geteuid());
    CHECK(file_type(out) == S_IFLNK);  // the supervisor touched no name at the end
    CHECK(has(r.err, "--output " + out + ": the name was replaced during the run"));
  }
}

TEST_CASE("outputs: a FIFO swapped in for -o or --trace during the run does not hang the run") {
  for (const bool nobody : {false, true}) {
    CAPTURE(nobody);
    if (nobody && !can_be_nobody()) continue;
    const Scene s("fifo", nobody);
    const std::string out = s.out("report.json"), trace = s.out("trace.json");
    const Result r = sandboxed({"-o", out, "--trace", trace},
                               shell_as(nobody, "rm -f " + out + " " + trace + " && mkfifo " + out + " " +
                                                    trace + " && echo swapped=1"));
    INFO(r.out << r.err);
    CHECK(r.status == 0);
    CHECK(r["swapped"] == "1");
    CHECK(file_type(out) == S_IFIFO);
    CHECK(file_type(trace) == S_IFIFO);
  }
}

TEST_CASE("outputs: a path that cannot be written is refused before CMD starts, with exit status 2") {
  const Scene s("refuse", false);
  const std::string marker = s.out("cmd-ran");
  const std::vector<std::string> cmd{"/bin/sh", "-c", "touch " + marker};
  const std::string fifo = s.out("fifo"), link = s.out("link"), target = s.out("target");
  REQUIRE(::mkfifo(fifo.c_str(), 0644) == 0);
  std::ofstream(target) << "keep\n";
  REQUIRE(::symlink(target.c_str(), link.c_str()) == 0);
  struct Case {
    std::string flag, path, why;
  };
  const std::vector<Case> cases{
      {"-o", "/nonexistent-dir/report.json", "No such file or directory"},
      {"--trace", "/nonexistent-dir/trace.json", "No such file or directory"},
      {"-o", fifo, "not a regular file"},
      {"--trace", fifo, "not a regular file"},
      {"-o", "/dev/null", "not a regular file"},
      {"-o", link, "is a symbolic link"},
      {"--trace", link, "is a symbolic link"},
      {"-o", s.dir + "/w", "not a regular file"},
  };
  for (const Case& c : cases) {
    CAPTURE(c.flag);
    CAPTURE(c.path);
    const Result r = run({kSandbox, "run", c.flag, c.path, "--", cmd[0], cmd[1], cmd[2]});
    INFO(r.err);
    CHECK(r.status == 2);
    CHECK(lines(r.err) == 1);
    CHECK(has(r.err, (c.flag == "-o" ? "--output" : "--trace") + std::string(" ") + c.path + ": "));
    CHECK(has(r.err, c.why));
    CHECK(::access(marker.c_str(), F_OK) != 0);  // CMD never ran
  }
  CHECK(slurp(target) == "keep\n");
  CHECK(file_type(fifo) == S_IFIFO);
}

TEST_CASE("outputs: a new report is 0644 even under umask 0, and an old one is replaced whole") {
  const Scene s("mode", false);
  const std::string out = s.out("report.json");
  const Result r = run({"/bin/sh", "-c", "umask 0 && exec " + kSandbox + " run -o " + out + " -- /bin/true"});
  INFO(r.err);
  REQUIRE(r.status == 0);
  struct stat st {};
  REQUIRE(::stat(out.c_str(), &st) == 0);
  CHECK((st.st_mode & 07777) == 0644);
  // A longer old file: nothing of it is left after the report.
  std::ofstream(out) << std::string(100000, 'x');
  REQUIRE(sandboxed({"-o", out}, {"/bin/true"}).status == 0);
  const json j = json::parse(slurp(out), nullptr, false);
  CHECK(!j.is_discarded());
}

TEST_CASE("outputs: sandbox plot -o refuses a FIFO, a symlink and a device") {
  const Scene s("plot", false);
  const std::string trace = s.out("trace.json");
  REQUIRE(sandboxed({"--trace", trace}, {"/bin/true"}).status == 0);
  const std::string fifo = s.out("fifo"), link = s.out("link");
  REQUIRE(::mkfifo(fifo.c_str(), 0644) == 0);
  REQUIRE(::symlink(s.secret.c_str(), link.c_str()) == 0);
  for (const std::string& bad : {fifo, link, std::string("/dev/null")}) {
    CAPTURE(bad);
    const Result r = run({kSandbox, "plot", trace, "-o", bad});
    INFO(r.err);
    CHECK(r.status == 1);
    CHECK(lines(r.err) == 1);
    CHECK(has(r.err, "cannot write '" + bad + "'"));
  }
  CHECK(slurp(s.secret) == "secret\n");
  const Result ok = run({kSandbox, "plot", trace, "-o", s.out("ok.svg")});
  CHECK(ok.status == 0);
  CHECK(has(slurp(s.out("ok.svg")), "<svg"));
}

TEST_CASE("outputs: the -o report says what ran, for how long, its CPU, its peak RSS and the heap rule") {
  const Scene s("fields", false);
  const std::string out = s.out("report.json");
  // 64 MiB written (resident), and some CPU in user space.
  const std::vector<std::string> cmd{kPython, "-c",
                                     "b = bytearray(64 << 20)\nfor i in range(0, len(b), 4096): b[i] = 1\n"
                                     "n = 0\nfor i in range(2000000): n += i\nprint('done=1')",
                                     "arg with spaces", ""};
  const Result r = sandboxed({"-o", out}, cmd);
  INFO(r.out << r.err);
  REQUIRE(r.status == 0);
  const json j = json::parse(slurp(out), nullptr, false);
  REQUIRE(!j.is_discarded());
  INFO(j.dump(2));
  CHECK(j["argv"] == json(cmd));
  REQUIRE(j["wall_seconds"].is_number());
  CHECK(j["wall_seconds"].get<double>() > 0);
  REQUIRE(j["user_cpu_seconds"].is_number());
  REQUIRE(j["system_cpu_seconds"].is_number());
  CHECK(j["user_cpu_seconds"].get<double>() > 0);
  CHECK(j["system_cpu_seconds"].get<double>() >= 0);
  // CPU time of one single-threaded process cannot exceed the wall time by much.
  CHECK(j["user_cpu_seconds"].get<double>() + j["system_cpu_seconds"].get<double>() <
        j["wall_seconds"].get<double>() + 0.1);
  REQUIRE(j["peak_rss_bytes"].is_number_unsigned());
  CHECK(j["peak_rss_bytes"].get<std::uint64_t>() >= std::uint64_t{64} << 20);
  CHECK(j["peak_rss_bytes"].get<std::uint64_t>() < std::uint64_t{1} << 30);
  CHECK(j["heap_rule"] == "kernel");
  CHECK(j["exit_status"] == 0);
}

TEST_CASE("outputs: -o - writes the report on stdout after CMD's own output") {
  const Result r = sandboxed({"-o", "-"}, {"/bin/echo", "hello"});
  INFO(r.err);
  REQUIRE(r.status == 0);
  REQUIRE(r.out.rfind("hello\n", 0) == 0);
  const json j = json::parse(r.out.substr(6), nullptr, false);
  REQUIRE(!j.is_discarded());
  CHECK(j["argv"] == json({"/bin/echo", "hello"}));
}
