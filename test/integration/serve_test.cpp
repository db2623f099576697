// Integration tests for the control socket: a real `sandbox serve` (and `sandbox run`'s own
// socket) over a real Unix socket, real targets joined with sandbox-shim, `sandbox ctl` as
// the client. Also the guard: the supervisor's death takes its targets with it.
#include <sys/socket.h>
#include <sys/un.h>

#include <cstdlib>
#include <memory>

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
  std::string line(int limit_s = 10) {
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
  CHECK(none.status == 126);
  CHECK(has(none.err, "cannot reach the supervisor"));
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
  CHECK(s.ctl({"cap", pid, "--heap", "1G", "--files", "5"}).status == 0);
  CHECK(has(s.ctl({"--json", "fetch", pid}).out, "\"heap_quota\":1024"));
  CHECK(has(s.ctl({"cap", pid, "--files", "9"}).err, "ENFILE"));
  CHECK(s.ctl({"reset", pid}).status == 0);
  CHECK(s.ctl({"deregister", pid}).status == 0);
  CHECK(has(s.ctl({"deregister", pid}).err, "ESRCH"));
  CHECK(has(s.ctl({"fetch", pid}).err, "EINVAL"));
  CHECK(has(s.ctl({"fetch", "0"}).err, "EINVAL"));
  CHECK(has(s.ctl({"register", "1073741823"}).err, "ESRCH"));
  CHECK(has(s.ctl({"cap", "1073741823", "--files", "1"}).err, "ESRCH"));
  CHECK(has(s.ctl({"reset", pid}).err, "EINVAL"));  // not registered
  CHECK(has(s.ctl({"version"}).out, "sandbox"));
  CHECK(s.ctl({"bogus"}).status == 2);
  // A quota set over the socket is enforced on the target's next call.
  CHECK(s.ctl({"register", pid}).status == 0);
  CHECK(s.ctl({"cap", pid, "--files", "1"}).status == 0);
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
  Process p({kSandbox, "run", "--", "/bin/sh", "-c", "sleep 1000 & echo bg=$!; wait"});
  const std::string bg = p.expect_out("bg=").substr(3);
  // The guard is the process we started; the supervisor is its only child.
  std::string kids;
  {
    char path[64];
    std::snprintf(path, sizeof path, "/proc/%d/task/%d/children", p.pid(), p.pid());
    FILE* f = std::fopen(path, "re");
    REQUIRE(f != nullptr);
    char buf[256] = "";
    (void)!std::fgets(buf, sizeof buf, f);
    std::fclose(f);
    kids = buf;
  }
  const pid_t supervisor = std::atoi(kids.c_str());
  REQUIRE(supervisor > 0);
  ::kill(supervisor, SIGKILL);
  CHECK(p.wait() == 137);
  CHECK(has(p.err_so_far() + p.expect_err("supervisor died"), "leftover target process"));
  CHECK(::access(("/proc/" + bg).c_str(), F_OK) != 0);  // the background sleep is gone too
}
