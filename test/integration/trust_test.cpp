// SPDX-License-Identifier: Apache-2.0
// Integration tests for issue 10 ("Trust"): each runs a real attack against a real
// `sandbox run` / `sandbox serve` and asserts that it is stopped (docs/security.md lists them).
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <cstdlib>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>

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
  NOTIFY_ENGINE_ONLY("the run's control socket (the bpf engine serves none yet)");
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
  NOTIFY_ENGINE_ONLY("serve, and runs as uid 65534 (the bpf engine needs CAP_BPF)");
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
  NOTIFY_ENGINE_ONLY("ctl from inside, through the run's control socket");
  const Result r =
      sandboxed({}, {"/bin/sh", "-c",
                     kSandbox + " ctl register $$ && " + kSandbox + " ctl cap $$ --file-quota 50 && " +
                         kSandbox + " ctl reset $$ && " + kSandbox + " ctl --json list"});
  INFO(r.out << r.err);
  CHECK(r.status == 0);
  CHECK(has(r.out, "quotas removed"));
  CHECK(has(r.out, "\"file_quota\":-1"));
}

namespace {

// Two users who are not root: the victim (65534) and the attacker (65533).
const std::vector<std::string> kAttacker{"/usr/bin/setpriv", "--reuid=65533", "--regid=65533",
                                         "--clear-groups"};
std::vector<std::string> as_attacker(std::vector<std::string> args) {
  std::vector<std::string> a = kAttacker;
  a.insert(a.end(), args.begin(), args.end());
  return a;
}

// Runs with an environment without XDG_RUNTIME_DIR (the default paths' fallback) and
// without SANDBOX_SOCKET.
struct NoRuntimeDir {
  std::optional<std::string> xdg, sock;
  NoRuntimeDir() {
    if (const char* x = std::getenv("XDG_RUNTIME_DIR")) xdg = x;
    if (const char* s = std::getenv("SANDBOX_SOCKET")) sock = s;
    ::unsetenv("XDG_RUNTIME_DIR");
    ::unsetenv("SANDBOX_SOCKET");
  }
  ~NoRuntimeDir() {
    if (xdg) ::setenv("XDG_RUNTIME_DIR", xdg->c_str(), 1);
    if (sock) ::setenv("SANDBOX_SOCKET", sock->c_str(), 1);
  }
};

void remove_tree(const std::string& dir) {
  run({"/bin/rm", "-rf", dir});
}

}  // namespace

TEST_CASE("trust 2: another user's impostor socket: shim, ctl and the Python client refuse to talk to it") {
  NOTIFY_ENGINE_ONLY("serve and its socket");
  if (!can_be_nobody()) {
    MESSAGE("needs root and setpriv to act as two other users");
    CHECK(::geteuid() != 0);
    return;
  }
  // The impostor: a real `sandbox serve` of the attacker's, open to everyone.
  const std::string path = temp_socket("impostor");
  Process impostor(as_attacker({kSandbox, "serve", "--socket", path, "--socket-mode", "0666", "--verbose"}));
  impostor.expect_err("serving " + path);
  const Result shim = run(as_nobody({kShim, "--socket", path, "--", kProbe, "exit", "0"}));
  INFO(shim.out << shim.err);
  CHECK(shim.status == 3);  // as ctl's, just below: the same failure, the same status
  CHECK(has(shim.err, "uid 65533"));
  CHECK(std::count(shim.err.begin(), shim.err.end(), '\n') == 1);
  const Result ctl = run(as_nobody({kSandbox, "ctl", "--socket", path, "list"}));
  CHECK(ctl.status == 3);
  CHECK(has(ctl.err, "uid 65533"));
  const Result py = run(as_nobody({kPython, SOURCE_DIR "/examples/client.py", "1", path}));
  CHECK(py.status != 0);
  CHECK(has(py.err, "uid 65533"));
  CHECK(!has(py.out, "\"ok\""));
  // The impostor saw no join and no request.
  impostor.signal(SIGTERM);
  CHECK(impostor.wait() == 0);
  CHECK(!has(impostor.err_so_far(), "joined"));
  // Root's own clients refuse a non-root impostor too.
  Process impostor2(as_attacker({kSandbox, "serve", "--socket", path, "--socket-mode", "0666", "--verbose"}));
  impostor2.expect_err("serving " + path);
  CHECK(run({kShim, "--socket", path, "--", kProbe, "exit", "0"}).status == 3);
}

TEST_CASE("trust 2: default socket paths are in a directory no other user can write") {
  NOTIFY_ENGINE_ONLY("serve and the run's control socket");
  if (!can_be_nobody()) {
    MESSAGE("needs root and setpriv to act as two other users");
    CHECK(::geteuid() != 0);
    return;
  }
  NoRuntimeDir env;
  const std::string victim_dir = "/tmp/sandbox-65534";
  remove_tree(victim_dir);
  // The attacker takes the old default paths and the new directory's name in advance.
  Process old_default(
      as_attacker({kSandbox, "serve", "--socket", "/tmp/sandbox-65534.sock", "--socket-mode", "0666"}));
  REQUIRE(run(as_attacker({"/bin/mkdir", "-m", "0777", victim_dir})).status == 0);
  // serve refuses the attacker's directory, naming it; nothing is bound there.
  const Result serve = run(as_nobody({kSandbox, "serve"}));
  CHECK(serve.status == 2);
  CHECK(has(serve.err, victim_dir));
  CHECK(has(serve.err, "uid 65533"));
  // run does not export a path in it: CMD finds no socket rather than the attacker's.
  const Result r =
      run(as_nobody({kSandbox, "run", "--", "/bin/sh", "-c", "echo sock=${SANDBOX_SOCKET:-none}"}));
  INFO(r.out << r.err);
  CHECK(r.status == 0);
  CHECK(r["sock"] == "none");
  CHECK(has(r.err, "control socket disabled"));
  remove_tree(victim_dir);
  // A symlink planted under that name is refused the same way.
  REQUIRE(run(as_attacker({"/bin/ln", "-s", "/tmp", victim_dir})).status == 0);
  CHECK(run(as_nobody({kSandbox, "serve"})).status == 2);
  ::unlink(victim_dir.c_str());
  // With the name free, the victim's own private directory (0700) is made and used.
  Process serve_ok(as_nobody({kSandbox, "serve", "--verbose"}));
  serve_ok.expect_err("serving " + victim_dir + "/sandbox.sock");
  struct stat st {};
  REQUIRE(::lstat(victim_dir.c_str(), &st) == 0);
  CHECK(S_ISDIR(st.st_mode));
  CHECK(st.st_uid == 65534u);
  CHECK((st.st_mode & 07777) == 0700);
  const Result list = run(as_nobody({kSandbox, "ctl", "list"}));
  CHECK(list.status == 0);
  serve_ok.signal(SIGTERM);
  CHECK(serve_ok.wait() == 0);
  const Result r2 = run(as_nobody({kSandbox, "run", "--", "/bin/sh", "-c", "echo sock=$SANDBOX_SOCKET"}));
  CHECK(r2["sock"].rfind(victim_dir + "/sandbox-run-", 0) == 0);
  remove_tree(victim_dir);
  old_default.signal(SIGTERM);
  old_default.wait();
}

namespace {
const std::string kAttack = ATTACK_BIN;
std::vector<std::string> as_uid(int uid, std::vector<std::string> args) {
  const std::string id = std::to_string(uid);
  std::vector<std::string> a{"/usr/bin/setpriv", "--reuid=" + id, "--regid=" + id, "--clear-groups"};
  a.insert(a.end(), args.begin(), args.end());
  return a;
}
}  // namespace

TEST_CASE("trust 3: under serve, a tenant's ABI cannot reach another tenant's processes") {
  NOTIFY_ENGINE_ONLY("serve");
  if (!can_be_nobody()) {
    MESSAGE("needs root and setpriv to act as two tenants");
    CHECK(::geteuid() != 0);
    return;
  }
  ::signal(SIGPIPE, SIG_IGN);  // a killed B shows as a failed check, not a dead test runner
  Serve s("tenants", {"--socket-mode", "0666"});
  // Tenant B (uid 2), parked and tracked.
  Process b(as_uid(2, {kShim, "--socket", s.path, "--track", "--", kProbe, "park"}));
  const std::string bpid = b.expect_out("pid=").substr(4);
  // Tenant A (uid 1): register, fetch, cap it to nothing, reset, deregister -- all as if B
  // did not exist.
  const Result a = run(as_uid(1, {kShim, "--socket", s.path, "--", kAttack, "abi-on", bpid}));
  INFO(a.out << a.err);
  CHECK(a.status == 0);
  CHECK(a["register"] == "ESRCH");
  CHECK(a["fetch"] == "EINVAL");
  CHECK(a["cap"] == "ESRCH");
  CHECK(a["reset"] == "ESRCH");
  CHECK(a["deregister"] == "ESRCH");
  // B lives on, its node untouched: the same request over the socket from uid 1 is EPERM.
  b.send("open");
  CHECK(has(b.expect_out("opened="), "opened=1"));
  CHECK(has(s.ctl({"--json", "fetch", bpid}).out, "\"file_quota\":-1"));
  const Result sock = run(as_uid(1, {kSandbox, "ctl", "--socket", s.path, "cap", bpid, "--file-quota", "0"}));
  CHECK(has(sock.err, "EPERM"));
  // Within one job the ABI still reaches everything: A on itself.
  const Result self =
      run({kShim, "--socket", s.path, "--", "/bin/sh", "-c", "exec " + kAttack + " abi-on $$"});
  CHECK(self["register"] == "0");
  CHECK(self["fetch"] == "0");
  CHECK(self["cap"] == "0");
}

TEST_CASE("trust 3: under run, the supervisor itself is not in scope (register(getppid()) is ESRCH)") {
  const Result r = sandboxed({}, {kAttack, "abi-parent"});
  INFO(r.out << r.err);
  CHECK(r.status == 0);
  CHECK(r["register"] == "ESRCH");
  CHECK(r["cap"] == "ESRCH");
  // Its orphans stay in scope: a grandchild whose parent exited registers itself.
  const Result o = sandboxed({}, {kAttack, "orphan"});
  INFO(o.out << o.err);
  CHECK(o["orphan_register"] == "0");
}

TEST_CASE(
    "trust 6: serve --policy applies every quota of the policy to joined targets; a join can only tighten") {
  NOTIFY_ENGINE_ONLY("serve");
  Serve s("policy", {"--policy", SOURCE_DIR "/policies/strict.json"});
  {
    Process t({kShim, "--socket", s.path, "--", kProbe, "park"});
    const std::string pid = t.expect_out("pid=").substr(4);
    const std::string f = s.ctl({"--json", "fetch", pid}).out;
    CHECK(has(f, "\"heap_quota\":256"));
    CHECK(has(f, "\"file_quota\":64"));
    CHECK(has(s.ctl({"list"}).out, "268435456      64"));
  }
  {
    // Asking for more than the policy gives is no way around it; asking for less is honoured.
    Process t(
        {kShim, "--socket", s.path, "--file-quota", "1000", "--heap-quota", "8M", "--", kProbe, "park"});
    const std::string pid = t.expect_out("pid=").substr(4);
    const std::string f = s.ctl({"--json", "fetch", pid}).out;
    CHECK(has(f, "\"heap_quota\":8"));
    CHECK(has(f, "\"file_quota\":64"));
  }
  const Result r = run({kShim, "--socket", s.path, "--", kProbe, "file-kill"});
  CHECK(r.status == 137);
  CHECK(r["opened"] == "64");
}

namespace {
// A setuid-root copy of the attack program, in a directory only root can write.
struct SetuidCopy {
  std::string dir, path;
  SetuidCopy() {
    char d[] = "/tmp/sandbox-setuid-XXXXXX";
    REQUIRE(::mkdtemp(d) != nullptr);
    ::chmod(d, 0755);
    dir = d;
    path = dir + "/attack";
    REQUIRE(run({"/bin/cp", kAttack, path}).status == 0);
    REQUIRE(::chown(path.c_str(), 0, 0) == 0);
    REQUIRE(::chmod(path.c_str(), 04755) == 0);
  }
  ~SetuidCopy() {
    ::unlink(path.c_str());
    ::rmdir(dir.c_str());
  }
};
}  // namespace

TEST_CASE("trust 7: a setuid program keeps its privileges under a root launcher, and is still accounted") {
  if (!can_be_nobody()) {
    MESSAGE("needs root and setpriv");
    CHECK(::geteuid() != 0);
    return;
  }
  SetuidCopy prog;
  const Result native = run(as_nobody({prog.path, "ids"}));
  if (native["euid"] != "0") {
    MESSAGE("setuid programs do not run setuid here (nosuid mount?): " << native.out);
    return;
  }
  CHECK(native["ruid"] == "65534");
  // Under a root `sandbox run`, as natively: euid 0.
  const Result r = sandboxed({}, as_nobody({prog.path, "ids"}));
  INFO(r.out << r.err);
  CHECK(r.status == 0);
  CHECK(r["ruid"] == "65534");
  CHECK(r["euid"] == "0");
  // Under a root `sandbox serve` with sandbox-shim (root) too.
  if (under_bpf()) {
    MESSAGE(
        "skipped under --engine bpf: the serve and non-root launcher parts (serve; the bpf engine needs "
        "CAP_BPF)");
  } else {
    Serve s("setuid");
    std::vector<std::string> a{kShim, "--socket", s.path, "--"};
    for (auto& x : as_nobody({prog.path, "ids"})) a.push_back(x);
    const Result j = run(a);
    CHECK(j["euid"] == "0");
    // A non-root launcher needs no_new_privs (the kernel requires it): privileges are not
    // gained, as documented.
    const Result nn = run(as_nobody({kSandbox, "run", "--", prog.path, "ids"}));
    CHECK(nn.status == 0);
    CHECK(nn["euid"] == "65534");
  }
  // Raised privileges buy nothing from the supervisor: the setuid-root target (euid 0) is
  // still under its outside quota, and the socket treats it as the target it is.
  const Result q = sandboxed({"--file-quota", "3"}, as_nobody({prog.path, "setuid-lift"}));
  INFO(q.out << q.err);
  CHECK(q["euid"] == "0");
  if (!under_bpf()) CHECK(has(q["answer"], "\"errno\":1"));  // EPERM (the socket: the notify engine's)
  CHECK(q.status == 137);
  CHECK(q["opened"] == "3");
}

TEST_CASE("trust 5: a tenant that starts hundreds of processes fails alone, with the real cause named") {
  NOTIFY_ENGINE_ONLY("serve");
  const std::string path = temp_socket("fds");
  Process serve(
      {"/bin/sh", "-c", "ulimit -n 256 && exec " + kSandbox + " serve --socket " + path + " --verbose"});
  serve.expect_err("serving " + path);
  // Tenant A: 300 sleeping children, more than the supervisor can watch with 256 fds.
  // In a process group of its own (setsid), so that whatever happens, all of it goes.
  Process a({"/usr/bin/setsid", kShim, "--socket", path, "--", "/bin/sh", "-c",
             "echo pid=$$; i=0; while [ $i -lt 300 ]; do /bin/sleep 1000 & i=$((i+1)); done; echo spawned=1; "
             "wait"});
  struct KillGroup {
    pid_t pgid;
    ~KillGroup() { ::kill(-pgid, SIGKILL); }
  } cleanup{a.pid()};
  const std::string root = a.expect_out("pid=").substr(4);  // the shim's child: the job's root
  a.expect_out("spawned=1", 120);
  // The supervisor says what ran out, for whom.
  const std::string why = serve.expect_err("RLIMIT_NOFILE", 120);
  CHECK(has(why, "pid " + root));
  // A's own surplus children are refused with EAGAIN, not ENOSYS.
  CHECK(has(a.expect_err("cannot"), "Resource temporarily unavailable"));
  // Every other tenant carries on: a new join, an exec, opens.
  const Result b = run({kShim, "--socket", path, "--", "/bin/cat", "/etc/hostname"});
  INFO(b.err);
  CHECK(b.status == 0);
  CHECK(!b.out.empty());
  const Result c = run({kShim, "--socket", path, "--file-quota", "3", "--", kProbe, "file-kill"});
  CHECK(c.status == 137);
  CHECK(c["opened"] == "3");
  CHECK(!has(serve.err_so_far(), "unshare(CLONE_FS)"));
  serve.signal(SIGTERM);
  CHECK(serve.wait() == 0);
  CHECK(a.wait() == 137);
}

TEST_CASE(
    "trust 8: a nested sandbox gets a nested job; forbidden or unaskable, it stops with one line, exit 126") {
  NOTIFY_ENGINE_ONLY("nested jobs (delegation through the control socket) and serve");
  // Delegation (issue 20): the outer supervisor makes CMD a nested job.
  const Result nested = sandboxed({}, {kSandbox, "run", "--", kProbe, "exit", "0"});
  INFO(nested.out << nested.err);
  CHECK(nested.status == 0);
  Serve s("nested");
  const Result run_in_shim =
      run({kShim, "--socket", s.path, "--", kSandbox, "run", "--", kProbe, "exit", "0"});
  INFO(run_in_shim.out << run_in_shim.err);
  CHECK(run_in_shim.status == 0);
  // The outer forbids it: the old refusal.
  const Result forbidden = sandboxed({"--no-delegate"}, {kSandbox, "run", "--", kProbe, "exit", "0"});
  CHECK(forbidden.status == 126);
  CHECK(has(forbidden.err, "already runs under a sandbox supervisor"));
  CHECK(std::count(forbidden.err.begin(), forbidden.err.end(), '\n') == 1);
  Serve no("nested-no", {"--no-delegate"});
  const Result tenant = run({kShim, "--socket", no.path, "--", kSandbox, "run", "--", kProbe, "exit", "0"});
  CHECK(tenant.status == 126);
  CHECK(has(tenant.err, "forbidden by the supervisor's policy"));
  CHECK(std::count(tenant.err.begin(), tenant.err.end(), '\n') == 1);
  // A shim in a run asking another supervisor (not the one it runs under): it is no inside
  // client there, so no nested job -- one line, 126.
  const Result shim_in_run = sandboxed({}, {kShim, "--socket", s.path, "--", kProbe, "exit", "0"});
  CHECK(shim_in_run.status == 126);
  CHECK(has(shim_in_run.err, "already runs under a sandbox supervisor"));
  CHECK(has(shim_in_run.err, "only a process under this supervisor"));
  CHECK(std::count(shim_in_run.err.begin(), shim_in_run.err.end(), '\n') == 1);
}

TEST_CASE("trust 6: a tenant cannot lift the operator's policy quotas from outside, on its node or its job") {
  NOTIFY_ENGINE_ONLY("serve");
  if (!can_be_nobody()) {
    MESSAGE("needs root and setpriv to act as a tenant of a root serve");
    CHECK(::geteuid() != 0);  // as root this must not be skipped
    return;
  }
  Serve s("imposer", {"--policy", SOURCE_DIR "/policies/strict.json", "--socket-mode", "0666"});
  Process t(as_nobody({kShim, "--socket", s.path, "--", kProbe, "park"}));
  const std::string pid = t.expect_out("pid=").substr(4);
  const auto tenant_ctl = [&](std::vector<std::string> args) {
    std::vector<std::string> a{kSandbox, "ctl", "--socket", s.path};
    a.insert(a.end(), args.begin(), args.end());
    return run(as_nobody(a));
  };
  // The tenant owns the process (kill(2)'s rule lets it act on it), but not the quotas.
  for (const std::vector<std::string>& lift : {std::vector<std::string>{"reset", pid},
                                               {"deregister", pid},
                                               {"cap", pid, "--heap-quota", "-1", "--file-quota", "-1"}}) {
    const Result r = tenant_ctl(lift);
    INFO(lift[0] << ": " << r.out << r.err);
    CHECK(r.status != 0);
    CHECK(has(r.err, "EPERM"));
  }
  const std::string job =
      std::to_string(nlohmann::json::parse(s.ctl({"--json", "list"}).out)["jobs"][0]["job"].get<int>());
  const Result rj = tenant_ctl({"reset", "--job", job});
  INFO(rj.out << rj.err);
  CHECK(rj.status != 0);
  CHECK(has(rj.err, "EPERM"));
  // Nothing was lifted: the node and the job keep the policy's quotas.
  const Result f = s.ctl({"--json", "fetch", pid});
  CHECK(has(f.out, "\"heap_quota\":256"));
  CHECK(has(f.out, "\"file_quota\":64"));
  CHECK(nlohmann::json::parse(s.ctl({"--json", "fetch", "--job", job}).out)["file_quota"] == 64);
  // Root (the operator) still may.
  CHECK(s.ctl({"reset", pid}).status == 0);
  CHECK(s.ctl({"reset", "--job", job}).status == 0);
}

// ---- issue 20: one membership rule; targets cannot reach their supervisor ----------------

namespace {
// A non-root user's own supervisor and targets: as uid 65534 when the tests run as root,
// else as the user running them. False if neither can be had (root without setpriv).
bool can_be_unprivileged() {
  return ::geteuid() != 0 || can_be_nobody();
}
std::vector<std::string> unprivileged(std::vector<std::string> args) {
  return ::geteuid() == 0 ? as_nobody(std::move(args)) : args;
}

// The state letter of /proc/<pid>/status ('T' stopped), or '?' if it cannot be read.
char proc_state(pid_t pid) {
  std::ifstream f("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(f, line))
    if (line.rfind("State:", 0) == 0) {
      const auto at = line.find_first_not_of(" \t", 6);
      return at == std::string::npos ? '?' : line[at];
    }
  return '?';
}
}  // namespace

TEST_CASE("trust 9: a same-uid target cannot take its supervisor's listener (/proc fd, pidfd_getfd)") {
  NOTIFY_ENGINE_ONLY("an unprivileged run (the bpf engine needs CAP_BPF)");
  if (!can_be_unprivileged()) {
    MESSAGE("needs setpriv to run a supervisor as the target's (non-root) uid");
    CHECK(false);
    return;
  }
  // Under a uid-65534 `sandbox run`: the supervisor is the target's parent, same uid.
  {
    const Result r =
        run(unprivileged({kSandbox, "run", "--heap-quota", "64M", "--", kAttack, "steal-listener"}));
    INFO(r.out << r.err);
    CHECK(r["readlink"] == "EACCES");
    CHECK(r["found"] == "0");
    CHECK(r["getfd"] == "EPERM");
    CHECK(!has(r.out, "allocated=1"));
    CHECK(r.status == 137);
  }
  // Under a user's own serve (uid 65534), with a tenant of that user.
  {
    Serve s("steal", {}, ::geteuid() == 0);
    const Result r = run(unprivileged({kShim, "--socket", s.path, "--heap-quota", "64M", "--", kAttack,
                                       "steal-listener", std::to_string(s.p->pid())}));
    INFO(r.out << r.err);
    CHECK(r["readlink"] == "EACCES");
    CHECK(r["getfd"] == "EPERM");
    CHECK(!has(r.out, "allocated=1"));
    CHECK(r.status == 137);
    // The supervisor's guard and the shim's parent are out of reach too: the shim's parent
    // waits for CMD (the attack's parent) and holds the watch connection.
    const Result shim = run(unprivileged({kShim, "--socket", s.path, "--", kAttack, "steal-listener"}));
    INFO(shim.out << shim.err);
    CHECK(shim["readlink"] == "EACCES");
    CHECK(shim["getfd"] == "EPERM");
  }
}

TEST_CASE("trust 9: a target that stops its supervisor gains nothing: its calls wait, then are judged") {
  NOTIFY_ENGINE_ONLY("an unprivileged run (the bpf engine needs CAP_BPF)");
  if (!can_be_unprivileged()) {
    MESSAGE("needs setpriv to run a supervisor as the target's (non-root) uid");
    CHECK(false);
    return;
  }
  Process p(unprivileged({kSandbox, "run", "--heap-quota", "20M", "--", kAttack, "stop-parent", "100"}));
  const pid_t sup = std::stoi(p.expect_out("ppid=").substr(5));
  CHECK(p.expect_out("signalled=") == "signalled=0");
  // The supervisor stops (the event, not a time) while the allocation waits on it ...
  bool stopped = false;
  for (int i = 0; i < 2000 && !(stopped = proc_state(sup) == 'T'); ++i) {
    pollfd none{-1, 0, 0};
    ::poll(&none, 0, 10);
  }
  CHECK(stopped);
  // ... and when it goes on, the allocation is judged: over the quota, killed.
  ::kill(sup, SIGCONT);
  CHECK(p.wait() == 137);
}

TEST_CASE("trust 9: a target that kills its supervisor (or the guard) takes its job with it") {
  NOTIFY_ENGINE_ONLY("an unprivileged run (the bpf engine needs CAP_BPF)");
  if (!can_be_unprivileged()) {
    MESSAGE("needs setpriv to run a supervisor as the target's (non-root) uid");
    CHECK(false);
    return;
  }
  const Result r =
      run(unprivileged({kSandbox, "run", "--heap-quota", "20M", "--", kAttack, "kill-parent", "100"}));
  INFO(r.out << r.err);
  CHECK(has(r.out, "ppid="));
  CHECK(!has(r.out, "allocated=1"));
  CHECK(has(r.err, "the supervisor died"));
  CHECK(r.status == 137);
}

namespace {
// The id of the newest job (ids are never reused and grow).
std::string newest_job(const Serve& s) {
  int newest = 0;
  const auto list = nlohmann::json::parse(s.ctl({"--json", "list"}).out);  // outlives the loop
  for (const auto& j : list["jobs"]) newest = std::max(newest, j["job"].get<int>());
  return std::to_string(newest);
}
}  // namespace

TEST_CASE("trust 10: a tenant's child that reaches the socket before any notified call is not outside") {
  NOTIFY_ENGINE_ONLY("serve");
  if (!can_be_unprivileged()) {
    MESSAGE("needs setpriv for a user's own serve");
    CHECK(false);
    return;
  }
  // Root's serve with a root tenant (when root), and a user's own serve with its tenant.
  for (const bool nobody : {false, true}) {
    if (!nobody && ::geteuid() != 0) continue;
    for (const std::string how : {"clone-parent", "double-fork"}) {
      CAPTURE(nobody);
      CAPTURE(how);
      Serve s(nobody ? "unknown-nobody" : "unknown", {}, nobody && ::geteuid() == 0);
      // Job ids start at 1 in a fresh serve; the attack names it, and lifts its creator.
      std::vector<std::string> a{kShim, "--socket", s.path, "--heap-quota", "20M", "--", kAttack,
                                 how,   s.path,     "1",    "100"};
      const Result r = run(nobody ? unprivileged(a) : a);
      INFO(r.out << r.err);
      CHECK(has(r["answer0"], "\"errno\":"));
      CHECK(has(r["answer1"], "\"errno\":"));
      CHECK(has(r["answer2"], "\"errno\":"));
      CHECK(!has(r.out, "allocated=1"));
      CHECK(r.status == 137);
    }
  }
}

TEST_CASE("trust 11: an inside client cannot reset, replace or loosen its job's outside quota") {
  NOTIFY_ENGINE_ONLY("the run's control socket (ctl from inside)");
  // The allocation is a child's (no node quota of its own): only the job's quota holds it.
  const std::string py = kPython + " -c \"" + kAlloc + "\"";
  const std::vector<std::string> lifts{
      "ctl reset --job 1", "ctl cap --job 1 --replace --heap-quota unlimited",
      "ctl cap --job 1 --replace --heap-quota 1G", "ctl reset $$", "ctl deregister $$"};
  const auto script = [&](const std::string& socket) {
    std::string s;
    for (const auto& l : lifts) {
      std::string cmd = l;
      cmd.insert(3, socket.empty() ? "" : " --socket " + socket);
      s += kSandbox + " " + cmd + " 2>&1 | sed 's/^/lift: /'; ";
    }
    return s + py;
  };
  const auto check = [&](const Result& r) {
    INFO(r.out << r.err);
    CHECK(has(r.out, "EPERM"));
    CHECK(!has(r.out, "quotas removed"));
    CHECK(!has(r.out, "replaced"));
    CHECK(!has(r.out, "allocated=1"));
    CHECK(r.status == 137);
  };
  SUBCASE("root run") {
    check(sandboxed({"--heap-quota", "20M"}, {"/bin/sh", "-c", script("")}));
    // Raw JSON: the same requests, the same answers.
    const Result r = sandboxed(
        {"--heap-quota", "20M"},
        {kPython, "-c",
         "import json, os, socket\n"
         "s = socket.socket(socket.AF_UNIX)\n"
         "s.connect(os.environ['SANDBOX_SOCKET'])\n"
         "f = s.makefile()\n"
         "for r in [{'op': 'resource_reset', 'job': 1}, {'op': 'resource_cap', 'job': 1, 'replace': True,"
         " 'heap_quota': -1}, {'op': 'resource_cap', 'job': 1, 'replace': True, 'heap_quota_bytes': 1 << "
         "40}]:\n"
         "    s.sendall((json.dumps(r) + '\\n').encode())\n"
         "    print('answer=' + f.readline().strip(), flush=True)\n"
         "import subprocess, sys\n"
         "sys.exit(subprocess.run([sys.executable, '-c', \"" +
             kAlloc + "\"]).returncode)\n"});
    INFO(r.out << r.err);
    CHECK(has(r["answer"], "\"errno\":1"));
    CHECK(!has(r.out, "\"ok\":true"));
    CHECK(!has(r.out, "allocated=1"));
    CHECK(r.status == 137);
  }
  SUBCASE("uid-65534 run") {
    if (!can_be_unprivileged()) return;
    check(run(unprivileged({kSandbox, "run", "--heap-quota", "20M", "--", "/bin/sh", "-c", script("")})));
  }
  SUBCASE("root serve, root tenant") {
    Serve s("inside-lift");  // the runner's own uid when not root
    check(run({kShim, "--socket", s.path, "--heap-quota", "20M", "--", "/bin/sh", "-c", script(s.path)}));
    // The operator still may.
    Process t({kShim, "--socket", s.path, "--heap-quota", "20M", "--", kProbe, "park"});
    t.expect_out("pid=");
    const std::string job = newest_job(s);
    const Result replaced = s.ctl({"cap", "--job", job, "--replace", "--heap-quota", "unlimited"});
    INFO("job " << job << ": " << replaced.out << replaced.err);
    CHECK(replaced.status == 0);
    CHECK(s.ctl({"reset", "--job", job}).status == 0);
  }
}
