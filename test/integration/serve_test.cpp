// SPDX-License-Identifier: Apache-2.0
// Integration tests for the control socket: a real `sandbox serve` (and `sandbox run`'s own
// socket) over a real Unix socket, real targets joined with sandbox-shim, `sandbox ctl` as
// the client. Also the guard: the supervisor's death takes its targets with it.
#include <sys/socket.h>
#include <sys/un.h>

#include <cstdlib>
#include <memory>
#include <nlohmann/json.hpp>

#include "harness.hpp"

namespace {

const std::string kShim = SHIM_BIN;

std::string temp_socket(const char* tag) {
  return "/tmp/sandbox-it-" + std::string(tag) + "-" + std::to_string(::getpid()) + ".sock";
}

// A running `sandbox serve`, ready once it said so on stderr.
struct Serve {
  std::string path;
  std::unique_ptr<Process> p;
  explicit Serve(const char* tag, std::vector<std::string> extra = {}) : path(temp_socket(tag)) {
    std::vector<std::string> args{kSandbox, "serve", "--socket", path, "--verbose"};
    args.insert(args.end(), extra.begin(), extra.end());
    p = std::make_unique<Process>(args);
    p->expect_err("serving " + path);
  }
  Result ctl(std::vector<std::string> args) const {
    std::vector<std::string> a{kSandbox, "ctl", "--socket", path};
    a.insert(a.end(), args.begin(), args.end());
    return run(a);
  }
};

// A raw client: bytes in, lines out.
struct Client {
  int fd = -1;
  std::string buf;
  explicit Client(const std::string& path) {
    fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    std::strncpy(a.sun_path, path.c_str(), sizeof a.sun_path - 1);
    REQUIRE(::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
  }
  ~Client() { ::close(fd); }
  void send(const std::string& bytes) const {
    REQUIRE(::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(bytes.size()));
  }
  // The next line, or "<eof>" when the server closed the connection.
  std::string line(int limit_s = 60) {  // a bound against a hang
    for (int waited = 0;;) {
      if (const auto nl = buf.find('\n'); nl != std::string::npos) {
        std::string l = buf.substr(0, nl);
        buf.erase(0, nl + 1);
        return l;
      }
      pollfd p{fd, POLLIN, 0};
      if (::poll(&p, 1, 1000) <= 0) {
        REQUIRE_MESSAGE(++waited < limit_s, "no answer within " << limit_s << " s");
        continue;
      }
      char chunk[4096];
      const ssize_t n = ::recv(fd, chunk, sizeof chunk, 0);
      if (n <= 0) return "<eof>";
      buf.append(chunk, static_cast<std::size_t>(n));
    }
  }
};

bool has(const std::string& hay, const std::string& needle) {
  return hay.find(needle) != std::string::npos;
}

// A parked probe joined to the server; its pid is read from its first line.
struct Parked {
  std::unique_ptr<Process> p;
  std::string pid;
  Parked(const Serve& s, std::vector<std::string> shim_opts = {}) {
    std::vector<std::string> a{kShim, "--socket", s.path};
    a.insert(a.end(), shim_opts.begin(), shim_opts.end());
    a.insert(a.end(), {"--", kProbe, "park"});
    p = std::make_unique<Process>(a);
    pid = p->expect_out("pid=").substr(4);
  }
};

}  // namespace

TEST_CASE("serve: a target joins with sandbox-shim; its quota kills it with one line") {
  Serve s("join");
  const Result r = run({kShim, "--socket", s.path, "--file-quota", "3", "--", kProbe, "file-kill"});
  CHECK(r.status == 137);
  CHECK(r["opened"] == "3");
  CHECK(has(s.p->expect_err("killed pid"), "file quota exceeded: 4 open files > limit 3"));
}

TEST_CASE("serve: a joined target's own ABI calls are answered as by the kernel patch") {
  Serve s("abi");
  const Result r = run({kShim, "--socket", s.path, "--", kProbe, "abi-errors"});
  INFO(r.out << r.err);
  CHECK(r.status == 0);
  CHECK(r["register_self"] == "0");
  CHECK(r["register_again"] == "ENFILE");
  CHECK(r["cap_unregistered"] == "EINVAL");
  CHECK(r["deregister_again"] == "ESRCH");
}

TEST_CASE("serve: sandbox-shim errors are one line and never run CMD") {
  const Result none = run({kShim, "--socket", temp_socket("nobody-here"), "--", kProbe, "exit"});
  CHECK(none.status == 3);  // as `sandbox ctl` (docs/cli.md)
  CHECK(has(none.err, "cannot reach the supervisor"));
  CHECK(std::count(none.err.begin(), none.err.end(), '\n') == 1);
  const Result bad = run({kShim, "--heap-quota", "lots", "--socket", "x", "--", kProbe, "exit"});
  CHECK(bad.status == 2);
  CHECK(std::count(bad.err.begin(), bad.err.end(), '\n') == 1);  // one line
}

TEST_CASE("ctl: every operation and every error against a live joined target") {
  Serve s("ctl");
  Parked t(s);
  const std::string& pid = t.pid;
  CHECK(s.ctl({"register", pid}).status == 0);
  const Result again = s.ctl({"register", pid});
  CHECK(again.status == 1);
  CHECK(has(again.err, "ENFILE"));
  t.p->send("open");
  t.p->expect_out("opened=1");
  const Result f = s.ctl({"--json", "fetch", pid});
  CHECK(f.status == 0);
  CHECK(has(f.out, "\"ok\":true"));
  CHECK(has(f.out, "\"pid\":" + pid));
  CHECK(has(f.out, "\"openfile_count\":1"));
  CHECK(has(f.out, "\"heap_quota\":-1"));
  CHECK(has(s.ctl({"list"}).out, pid));
  CHECK(s.ctl({"cap", pid, "--heap-quota", "1G", "--file-quota", "5"}).status == 0);
  CHECK(has(s.ctl({"--json", "fetch", pid}).out, "\"heap_quota\":1024"));
  CHECK(has(s.ctl({"cap", pid, "--file-quota", "9"}).err, "ENFILE"));
  CHECK(s.ctl({"reset", pid}).status == 0);
  CHECK(s.ctl({"deregister", pid}).status == 0);
  CHECK(has(s.ctl({"deregister", pid}).err, "ESRCH"));
  CHECK(has(s.ctl({"fetch", pid}).err, "EINVAL"));
  CHECK(has(s.ctl({"fetch", "0"}).err, "EINVAL"));
  CHECK(has(s.ctl({"register", "1073741823"}).err, "ESRCH"));
  CHECK(has(s.ctl({"cap", "1073741823", "--file-quota", "1"}).err, "ESRCH"));
  CHECK(has(s.ctl({"reset", pid}).err, "EINVAL"));  // not registered
  CHECK(has(s.ctl({"version"}).out, "sandbox"));
  CHECK(s.ctl({"bogus"}).status == 2);
  // A quota set over the socket is enforced on the target's next call.
  CHECK(s.ctl({"register", pid}).status == 0);
  CHECK(s.ctl({"cap", pid, "--file-quota", "1"}).status == 0);
  t.p->send("open");
  t.p->expect_out("opened=1");
  t.p->send("open");
  CHECK(t.p->wait() == 137);
}

TEST_CASE("ctl: a quota set from outside cannot be lifted from inside") {
  Serve s("outside");
  Parked t(s, {"--file-quota", "100"});
  t.p->send("fetch");
  CHECK(has(t.p->expect_out("fetch="), "fetch=0"));
  CHECK(has(s.ctl({"--json", "fetch", t.pid}).out, "\"file_quota\":100"));
}

TEST_CASE("watch: events stream to the client as they happen") {
  Serve s("watch");
  Process w({kSandbox, "ctl", "--socket", s.path, "--json", "watch"});
  w.expect_out("\"ok\":true");  // the subscription is live from here on
  Parked t(s, {"--file-quota", "1"});
  CHECK(has(w.expect_out("\"joined\""), "\"pid\":" + t.pid));
  t.p->send("open");
  t.p->expect_out("opened=1");
  t.p->send("open");
  CHECK(t.p->wait() == 137);
  const std::string killed = w.expect_out("\"killed\"");
  CHECK(has(killed, "\"reason\":\"files\""));
  CHECK(has(killed, "\"usage\":2"));
  CHECK(has(killed, "\"limit\":1"));
  CHECK(has(w.expect_out("\"exited\""), "\"pid\":" + t.pid));
}

TEST_CASE("authorization: another uid is denied (socket mode, then SO_PEERCRED)") {
  if (::geteuid() != 0 || ::access("/usr/bin/setpriv", X_OK) != 0) {
    MESSAGE("needs root and setpriv (util-linux) to act as uid 65534");
    CHECK(::geteuid() != 0);  // as root this must not be skipped
    return;
  }
  const std::vector<std::string> nobody{"/usr/bin/setpriv", "--reuid=65534", "--regid=65534",
                                        "--clear-groups"};
  {
    Serve s("mode0600");
    Parked t(s, {"--track"});
    std::vector<std::string> a = nobody;
    a.insert(a.end(), {kSandbox, "ctl", "--socket", s.path, "fetch", t.pid});
    CHECK(run(a).status == 3);  // 0600: cannot even connect
  }
  Serve s("mode0666", {"--socket-mode", "0666"});
  Parked t(s, {"--track"});
  std::vector<std::string> a = nobody;
  a.insert(a.end(), {kSandbox, "ctl", "--socket", s.path, "fetch", t.pid});
  const Result denied = run(a);
  CHECK(denied.status == 1);
  CHECK(has(denied.err, "EPERM"));
  a.back() = "1073741823";
  CHECK(has(run(a).err, "EINVAL"));  // no such node: the contract's error, nothing to deny
  std::vector<std::string> l = nobody;
  l.insert(l.end(), {kSandbox, "ctl", "--socket", s.path, "--json", "list"});
  CHECK(!has(run(l).out, "\"pid\":" + t.pid));  // root's target is not listed to nobody
}

TEST_CASE("bad input over the real socket: each gets a clear error, the server and targets carry on") {
  Serve s("bad");
  Parked t(s, {"--track"});
  {
    Client c(s.path);
    c.send("{not json\n");
    CHECK(has(c.line(), "\"ok\":false"));
    c.send("{\"op\":\"frobnicate\",\"id\":7}\n");
    const std::string unknown = c.line();
    CHECK(has(unknown, "\"ok\":false"));
    CHECK(has(unknown, "\"id\":7"));
    c.send("{\"op\":\"fetch\",\"pid\":\"abc\"}\n");
    const std::string type = c.line();
    CHECK(has(type, "\"errno\":22"));
    CHECK(has(type, "pid"));
    c.send("{\"op\":\"fetch\",\"pid\":" + t.pid + "}\n");
    CHECK(has(c.line(), "\"ok\":true"));  // the same connection still works
  }
  {
    Client c(s.path);
    c.send(std::string(200 * 1024, 'x'));
    const std::string l = c.line();
    CHECK((has(l, "E2BIG") || l == "<eof>"));
  }
  {
    // A client that never reads: it floods requests until the server gives up on it.
    Client flood(s.path);
    const std::string req = "{\"op\":\"list\"}\n";
    std::string many;
    for (int i = 0; i < 2000; ++i) many += req;
    ::fcntl(flood.fd, F_SETFL, O_NONBLOCK);
    for (int i = 0; i < 200; ++i)
      if (::send(flood.fd, many.data(), many.size(), MSG_NOSIGNAL) < 0 && errno != EAGAIN) break;
    Client other(s.path);
    other.send("{\"op\":\"version\"}\n");
    CHECK(has(other.line(), "\"ok\":true"));
  }
  {
    // A thousand clients at once, each answered.
    std::vector<std::unique_ptr<Client>> clients;
    for (int i = 0; i < 1000; ++i) clients.push_back(std::make_unique<Client>(s.path));
    for (auto& c : clients) c->send("{\"op\":\"fetch\",\"pid\":" + t.pid + "}\n");
    int ok = 0;
    for (auto& c : clients) ok += has(c->line(), "\"ok\":true");
    CHECK(ok == 1000);
  }
  // The target was served all along and still is.
  t.p->send("open");
  CHECK(has(t.p->expect_out("opened="), "opened=1"));
  CHECK(has(s.ctl({"--json", "fetch", t.pid}).out, "\"openfile_count\":1"));
}

TEST_CASE("serve: SIGTERM kills every target, then the server exits 0") {
  Serve s("term");
  Parked t(s);
  s.p->signal(SIGTERM);
  CHECK(s.p->wait() == 0);
  CHECK(t.p->wait() == 137);
  CHECK(::access(s.path.c_str(), F_OK) != 0);  // the socket file is gone
}

TEST_CASE("run: serves the socket for the run; the target finds it in $SANDBOX_SOCKET") {
  const Result r = sandboxed({"--track"}, {kSandbox, "ctl", "--json", "list"});
  INFO(r.out << r.err);
  CHECK(r.status == 0);
  CHECK(has(r.out, "\"nodes\":[{"));
  const std::string path = temp_socket("run");
  const Result r2 = sandboxed({"--socket", path}, {"/bin/sh", "-c", "echo \"socket=$SANDBOX_SOCKET\""});
  CHECK(r2["socket"] == path);
  CHECK(::access(path.c_str(), F_OK) != 0);  // removed at the end of the run
}

TEST_CASE("guard: when the supervisor is SIGKILLed, its targets die with it") {
  check_guard_kills_tree({}, "sleep 1000 & echo bg=$!; wait");
}

TEST_CASE("guard: a grandchild reparented while the guard kills is killed too (no hang)") {
  // CMD -> sh -> sleep: CMD dies of its PDEATHSIG, the inner sh comes to the guard and is
  // killed there, and its sleep comes to the guard only then. A guard that waited for any
  // child after its first round of kills waited for that sleep forever.
  check_guard_kills_tree({}, "/bin/sh -c 'sleep 1000 & echo bg=$!; wait'; wait");
}

// ---- issue 16: one command line ---------------------------------------------------------

TEST_CASE("shim: --socket=P works, and CMD's failures exit as under sandbox run (127, 126)") {
  Serve s("shimeq");
  const Result ok = run(
      {kShim, "--socket=" + s.path, "--file-quota=unlimited", "--heap-quota=-1", "--", kProbe, "exit", "7"});
  INFO(ok.err);
  CHECK(ok.status == 7);
  for (const std::string& cmd : {std::string("/nonexistent/cmd"), std::string("/etc/passwd")}) {
    CAPTURE(cmd);
    const Result shim = run({kShim, "--socket", s.path, "--", cmd});
    const Result alone = run({kSandbox, "run", "--no-socket", "--", cmd});
    CHECK(shim.status == alone.status);
    CHECK(shim.status == (cmd == "/etc/passwd" ? 126 : 127));
    CHECK(std::count(shim.err.begin(), shim.err.end(), '\n') == 1);
    CHECK(has(shim.err, "sandbox-shim: cannot run '" + cmd + "'"));
  }
  // Bad arguments: 2, one line naming the option and the value, CMD never run.
  const Result bad = run({kShim, "--socket", s.path, "--file-quota", "-3", "--", kProbe, "exit", "0"});
  CHECK(bad.status == 2);
  CHECK(has(bad.err, "--file-quota: '-3' is not a count"));
  CHECK(std::count(bad.err.begin(), bad.err.end(), '\n') == 1);
  CHECK(run({kShim, "--socket", s.path, "--bogus", "--", kProbe, "exit", "0"}).status == 2);
  CHECK(run({kShim, "--help"}).status == 0);
  CHECK(has(run({kShim, "-V"}).out, "sandbox-shim "));
}

TEST_CASE("shim: a quota kill is reported on the shim's own stderr, in sandbox run's format") {
  Serve s("shimkill");
  const Result shim = run({kShim, "--socket", s.path, "--file-quota", "3", "--", kProbe, "file-kill"});
  const Result alone = run({kSandbox, "run", "--no-socket", "--file-quota", "3", "--", kProbe, "file-kill"});
  INFO(shim.err << alone.err);
  CHECK(shim.status == 137);
  CHECK(alone.status == 137);
  CHECK(std::count(shim.err.begin(), shim.err.end(), '\n') == 1);
  // The same line but for the program's name: what, how much, which limit.
  const auto tail = [](const std::string& line) { return line.substr(line.find(": job file quota")); };
  CHECK(has(shim.err, "sandbox-shim: killed pid "));
  CHECK(tail(shim.err) == tail(alone.err));
  // A node quota (--scope process) too: learnt from the server's event, not the status.
  const Result node = run(
      {kShim, "--socket", s.path, "--scope", "process", "--heap-quota", "10M", "--", kProbe, "heap-kill"});
  CHECK(node.status == 137);
  CHECK(has(node.err, "sandbox-shim: killed pid "));
  CHECK(has(node.err, ": heap quota exceeded: "));
  // A SIGKILL that is no quota kill says nothing of quotas.
  const Result sig = run({kShim, "--socket", s.path, "--", kProbe, "signal", "9"});
  CHECK(sig.status == 137);
  CHECK(!has(sig.err, "quota"));
  // -q: no line, the same status.
  const Result quiet = run({kShim, "-q", "--socket", s.path, "--file-quota", "3", "--", kProbe, "file-kill"});
  CHECK(quiet.status == 137);
  CHECK(quiet.err.empty());
}

TEST_CASE("ctl: cap with nothing to set is an error; cap --replace changes a quota in one step") {
  Serve s("replace");
  Process w({kSandbox, "ctl", "--socket", s.path, "--json", "watch", "--kind", "quota_set,quota_reset"});
  w.expect_out("\"ok\":true");
  Parked t(s, {"--scope", "process"});
  CHECK(s.ctl({"register", t.pid}).status == 0);
  const Result nothing = s.ctl({"cap", t.pid});
  CHECK(nothing.status == 2);
  CHECK(has(nothing.err, "cap: nothing to set"));
  CHECK(s.ctl({"cap", t.pid, "--file-quota", "5"}).status == 0);
  CHECK(has(w.expect_out("quota_set"), "\"file_quota\":5"));
  // A plain cap on quotas already set is ENFILE, as the system call; --replace is one op:
  // one quota_set event, no quota_reset in between.
  CHECK(has(s.ctl({"cap", t.pid, "--file-quota", "1"}).err, "ENFILE"));
  const Result r = s.ctl({"cap", t.pid, "--replace", "--file-quota", "1"});
  CHECK(r.status == 0);
  CHECK(has(r.out, "replaced " + t.pid));
  CHECK(has(w.expect_out("quota_"), "\"event\":\"quota_set\""));
  CHECK(has(s.ctl({"--json", "fetch", t.pid}).out, "\"file_quota\":1"));
  // Enforced at once: one open is allowed, the second kills.
  t.p->send("open");
  t.p->expect_out("opened=1");
  t.p->send("open");
  CHECK(t.p->wait() == 137);
}

TEST_CASE("ctl: cap --replace keeps the imposer rules of docs/semantics.md") {
  Serve s("replacerules");
  // A target under an outside quota tries to replace it from inside, over the socket: EPERM.
  const Result inside =
      run({kShim, "--socket", s.path, "--file-quota", "50", "--", "/bin/sh", "-c",
           kSandbox + " ctl --socket " + s.path + " cap $$ --replace --file-quota 60; echo rc=$?"});
  INFO(inside.out << inside.err);
  CHECK(inside["rc"] == "1");
  CHECK(has(inside.err, "EPERM"));
  // From outside, the imposer (root here, as the server) may.
  Parked t(s, {"--file-quota", "50", "--scope", "process"});
  CHECK(s.ctl({"cap", t.pid, "--replace", "--file-quota", "60"}).status == 0);
  CHECK(has(s.ctl({"--json", "fetch", t.pid}).out, "\"file_quota\":60"));
}

TEST_CASE(
    "ctl: cap --replace on a job that allocates in a loop: no quota_reset, the new limit holds at once") {
  Serve s("replaceloop");
  Process w(
      {kSandbox, "ctl", "--socket", s.path, "--json", "watch", "--kind", "quota_set,quota_reset,killed"});
  w.expect_out("\"ok\":true");
  // 1 MiB of anonymous memory a step (never touched), about 100 GiB a second (measured), under
  // a job quota it would take minutes to reach (64 TiB; 1 TiB was reached in 10 s: a slow ctl
  // for the ten replaces below would have met it).
  Process t({kShim, "-v", "--socket", s.path, "--heap-quota", "65536G", "--", "/bin/sh", "-c",
             kProbe + " heap-kill 1 >/dev/null"});
  const std::string joined = t.expect_err("joined job");
  const std::string job = joined.substr(joined.rfind(' ') + 1);
  w.expect_out("quota_set");  // the join's own quota
  // Replaced back and forth while the job allocates: each is one quota_set, never a reset.
  for (int i = 0; i < 10; ++i)
    REQUIRE(s.ctl({"cap", "--job", job, "--replace", "--heap-quota", i % 2 ? "65536G" : "65535G"}).status ==
            0);
  for (int i = 0; i < 10; ++i) CHECK(has(w.expect_out("quota_"), "\"event\":\"quota_set\""));
  // Then a limit above the job's usage now: crossed soon after, and the kill comes at the
  // first step past it -- the job never ran without a limit. The job grows fast (about 100
  // GiB a second of untouched 1 MiB mappings, measured), so whether it is still below the
  // limit when the cap lands depends on the machine's speed: 256 GiB of room makes that the
  // rule, and a fetch after the cap says whether it was (usage only grows here).
  const auto heapsize = [](const Result& r) {
    return std::stoull(r.out.substr(r.out.find("\"heapsize\":") + 11));
  };
  const Result f = s.ctl({"--json", "fetch", "--job", job});
  REQUIRE(f.status == 0);
  const unsigned long long limit = heapsize(f) + (256ull << 30);
  REQUIRE(
      s.ctl({"cap", "--job", job, "--replace", "--heap-quota", std::to_string(limit >> 10) + "K"}).status ==
      0);
  const Result after = s.ctl({"--json", "fetch", "--job", job});
  const bool landed_below = after.status == 0 && heapsize(after) < limit;
  const std::string killed = w.expect_out("\"killed\"");
  INFO(killed);
  const unsigned long long usage = std::stoull(killed.substr(killed.find("\"usage\":") + 8));
  CHECK(has(killed, "\"limit\":" + std::to_string(limit & ~1023ull)));
  CHECK(usage > (limit & ~1023ull));
  if (landed_below)
    CHECK(usage <= (limit & ~1023ull) + (1ull << 20) + 4096);  // one step past the limit, no more
  else
    MESSAGE(
        "the job grew past the new limit before the cap landed (a slow ctl): the kill is checked, not its "
        "step");
  CHECK(t.wait() == 137);
  CHECK(has(t.err_so_far() + t.expect_err("killed", 5), "job heap quota exceeded"));
}

// ---- issue 24: the messages a user sees, line for line ------------------------------------

TEST_CASE("serve: says where it listens, in one line") {
  const std::string path = temp_socket("where");
  Process p({kSandbox, "serve", "--socket", path});
  CHECK(p.expect_err("sandbox: serving") ==
        "sandbox: serving " + path + " (mode 0600; sandbox-shim --socket " + path + " -- CMD to join)");
  p.signal(SIGTERM);
  CHECK(p.wait() == 0);
}

TEST_CASE("shim: the line when the server shuts down, and when it is SIGKILLed") {
  for (const int sig : {SIGTERM, SIGKILL}) {
    CAPTURE(sig);
    Serve s(sig == SIGTERM ? "shimterm" : "shimkill9");
    Process shim({kShim, "--socket", s.path, "--", kProbe, "park"});
    const std::string pid = shim.expect_out("pid=").substr(4);
    s.p->signal(sig);
    CHECK(s.p->wait() == (sig == SIGTERM ? 0 : 128 + SIGKILL));
    CHECK(shim.wait() == 137);
    CHECK(shim.expect_err("sandbox-shim:") == "sandbox-shim: pid " + pid + " (" + kProbe +
                                                  ") was killed: the server at " + s.path +
                                                  " shut down (it kills every target when it stops)");
  }
}

TEST_CASE("ctl: with no serve running, one line says so and names the socket") {
  const std::string path = temp_socket("nobody");
  const Result r = run({kSandbox, "ctl", "--socket", path, "list"});
  CHECK(r.status == 3);
  CHECK(r.err == "sandbox: ctl: no sandbox serve is running at " + path +
                     " (No such file or directory); start one with 'sandbox serve --socket " + path +
                     "', or name another socket with --socket PATH\n");
}

TEST_CASE("ctl: cap on quotas already set: ENFILE, and the line suggests --replace") {
  Serve s("enfilehint");
  Parked t(s, {"--scope", "process"});
  CHECK(s.ctl({"register", t.pid}).status == 0);
  CHECK(s.ctl({"cap", t.pid, "--file-quota", "5"}).status == 0);
  const Result again = s.ctl({"cap", t.pid, "--file-quota", "1"});
  CHECK(again.status == 1);
  CHECK(again.err == "sandbox: ctl cap " + t.pid + ": ENFILE: pid " + t.pid +
                         ": quotas already set (to change quotas already set, give --replace: one step, no "
                         "moment without a limit)\n");
}

TEST_CASE(
    "shim: --heap-rule commit through serve: a threaded program the kernel rule kills runs to its end") {
  Serve s("heaprule");
  const std::vector<std::string> python{"/usr/bin/python3", "-c",
                                        "import threading\n"
                                        "t = threading.Thread(target=lambda: sum(range(100000)))\n"
                                        "t.start(); t.join(); print('joined')"};
  const auto shim = [&](const char* rule) {
    std::vector<std::string> a{kShim, "--socket", s.path, "--heap-quota", "100M", "--heap-rule", rule, "--"};
    a.insert(a.end(), python.begin(), python.end());
    return run(a);
  };
  const Result commit = shim("commit");
  INFO(commit.out << commit.err);
  CHECK(commit.status == 0);
  CHECK(commit.out == "joined\n");
  CHECK(commit.err.empty());
  const Result kernel = shim("kernel");
  INFO(kernel.out << kernel.err);
  CHECK(kernel.status == 137);
  CHECK(has(kernel.err, "sandbox-shim: killed pid "));
  CHECK(has(kernel.err, "(kernel rule)"));
  CHECK(has(kernel.err, "--heap-rule commit counts memory in use"));
}

TEST_CASE("ctl: a node's fetch and list say which heap rule counts it") {
  Serve s("noderule");
  Parked commit(s, {"--scope", "process", "--heap-rule", "commit"});
  Parked kernel(s, {"--scope", "process"});
  CHECK(s.ctl({"register", commit.pid}).status == 0);
  CHECK(s.ctl({"register", kernel.pid}).status == 0);
  const auto rule = [&](const std::string& pid) {
    return nlohmann::json::parse(s.ctl({"--json", "fetch", pid}).out).value("heap_rule", "(none)");
  };
  CHECK(rule(commit.pid) == "commit");
  CHECK(rule(kernel.pid) == "kernel");
  CHECK(has(s.ctl({"fetch", commit.pid}).out, "heap_rule       commit\n"));
  const std::string list = s.ctl({"list"}).out;
  INFO(list);
  CHECK(has(list, "HEAP_RULE"));
  CHECK(has(list, "commit"));
  CHECK(has(list, "kernel"));
}
