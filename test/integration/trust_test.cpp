// Integration tests for issue 10 ("Trust"): each runs a real attack against a real
// `sandbox run` / `sandbox serve` and asserts that it is stopped (docs/security.md lists them).
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <memory>

#include "harness.hpp"

namespace {

const std::string kShim = SHIM_BIN;
const std::string kPython = "/usr/bin/python3";
// 100 MiB of heap, then a line that says it got it.
const std::string kAlloc = "bytearray(100 << 20); print('allocated=1')";

bool has(const std::string& hay, const std::string& needle) {
  return hay.find(needle) != std::string::npos;
}

bool can_be_nobody() {
  return ::geteuid() == 0 && ::access("/usr/bin/setpriv", X_OK) == 0;
}
const std::vector<std::string> kNobody{"/usr/bin/setpriv", "--reuid=65534", "--regid=65534",
                                       "--clear-groups"};

std::vector<std::string> as_nobody(std::vector<std::string> args) {
  std::vector<std::string> a = kNobody;
  a.insert(a.end(), args.begin(), args.end());
  return a;
}

std::string temp_socket(const char* tag) {
  return "/tmp/sandbox-trust-" + std::string(tag) + "-" + std::to_string(::getpid()) + ".sock";
}

struct Serve {
  std::string path;
  std::unique_ptr<Process> p;
  explicit Serve(const char* tag, std::vector<std::string> extra = {}, bool nobody = false)
      : path(temp_socket(tag)) {
    std::vector<std::string> args{kSandbox, "serve", "--socket", path, "--verbose"};
    args.insert(args.end(), extra.begin(), extra.end());
    p = std::make_unique<Process>(nobody ? as_nobody(args) : args);
    p->expect_err("serving " + path);
  }
  Result ctl(std::vector<std::string> args) const {
    std::vector<std::string> a{kSandbox, "ctl", "--socket", path};
    a.insert(a.end(), args.begin(), args.end());
    return run(a);
  }
};

// sh -c: lift the quota of the shell itself with `sandbox ctl OP $$`, then become python
// and allocate 100 MiB.
std::vector<std::string> lift_then_alloc(const std::string& op, const std::string& socket = "") {
  const std::string ctl = kSandbox + " ctl" + (socket.empty() ? "" : " --socket " + socket);
  return {"/bin/sh", "-c", ctl + " " + op + " $$; exec " + kPython + " -c \"" + kAlloc + "\""};
}

// python: the same with a raw JSON line on $SANDBOX_SOCKET (or argv[1]).
std::vector<std::string> raw_lift_then_alloc(const std::string& op) {
  return {kPython, "-c",
          "import json, os, socket, sys\n"
          "s = socket.socket(socket.AF_UNIX)\n"
          "s.connect(sys.argv[1] if len(sys.argv) > 1 else os.environ['SANDBOX_SOCKET'])\n"
          "s.sendall((json.dumps({'op': '" +
              op +
              "', 'pid': os.getpid()}) + '\\n').encode())\n"
              "print('answer=' + s.makefile().readline().strip(), flush=True)\n" +
              kAlloc};
}

}  // namespace

TEST_CASE("trust 1: a target cannot lift its own outside quota through the run's control socket") {
  for (const std::string op : {"reset", "deregister"}) {
    CAPTURE(op);
    const Result r = sandboxed({"--heap-quota", "20M"}, lift_then_alloc(op));
    INFO(r.out << r.err);
    CHECK(r.status == 137);
    CHECK(has(r.err, "EPERM"));
    CHECK(!has(r.out, "quotas removed"));
    CHECK(!has(r.out, "allocated=1"));
  }
  for (const std::string op : {"resource_reset", "deregister"}) {
    CAPTURE(op);
    const Result r = sandboxed({"--heap-quota", "20M"}, raw_lift_then_alloc(op));
    INFO(r.out << r.err);
    CHECK(r.status == 137);
    CHECK(has(r["answer"], "\"errno\":1"));  // EPERM
    CHECK(!has(r.out, "allocated=1"));
  }
}

TEST_CASE("trust 1: ... also as uid 65534, and under serve with sandbox-shim --heap-quota") {
  if (!can_be_nobody()) {
    MESSAGE("needs root and setpriv to act as uid 65534");
    CHECK(::geteuid() != 0);
    return;
  }
  {
    std::vector<std::string> a{kSandbox, "run", "--heap-quota", "20M", "--"};
    for (auto& s : lift_then_alloc("reset")) a.push_back(s);
    const Result r = run(as_nobody(a));
    INFO(r.out << r.err);
    CHECK(r.status == 137);
    CHECK(has(r.err, "EPERM"));
    CHECK(!has(r.out, "allocated=1"));
  }
  for (const bool nobody : {false, true}) {
    CAPTURE(nobody);
    Serve s(nobody ? "lift-nobody" : "lift", {}, nobody);
    for (const std::string op : {"reset", "deregister"}) {
      CAPTURE(op);
      std::vector<std::string> a{kShim, "--socket", s.path, "--heap-quota", "20M", "--"};
      for (auto& x : lift_then_alloc(op, s.path)) a.push_back(x);
      const Result r = run(nobody ? as_nobody(a) : a);
      INFO(r.out << r.err);
      CHECK(r.status == 137);
      CHECK(has(r.err, "EPERM"));
      CHECK(!has(r.out, "allocated=1"));
    }
    std::vector<std::string> a{kShim, "--socket", s.path, "--heap-quota", "20M", "--"};
    for (auto& x : raw_lift_then_alloc("resource_reset")) a.push_back(x);
    a.push_back(s.path);
    const Result r = run(nobody ? as_nobody(a) : a);
    INFO(r.out << r.err);
    CHECK(r.status == 137);
    CHECK(has(r["answer"], "\"errno\":1"));
  }
}

TEST_CASE(
    "trust 1: an inside client keeps the ABI's rights: it may track and cap itself, and lift its own cap") {
  const Result r =
      sandboxed({}, {"/bin/sh", "-c",
                     kSandbox + " ctl register $$ && " + kSandbox + " ctl cap $$ --files 50 && " + kSandbox +
                         " ctl reset $$ && " + kSandbox + " ctl --json list"});
  INFO(r.out << r.err);
  CHECK(r.status == 0);
  CHECK(has(r.out, "quotas removed"));
  CHECK(has(r.out, "\"file_quota\":-1"));
}
