// SPDX-License-Identifier: Apache-2.0
// Integration tests for issue 20's per-tenant bounds: each shared resource of `sandbox serve`
// with one tenant (uid) at its bound while another is served normally (docs/security.md,
// "Per-tenant bounds"), and the /metrics endpoint without a cross-tenant leak or a lock-out.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>

#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "harness.hpp"

namespace {

const std::string kShim = SHIM_BIN;
const std::string kPython = "/usr/bin/python3";

bool has(const std::string& hay, const std::string& needle) {
  return hay.find(needle) != std::string::npos;
}

bool can_be_nobody() {
  return ::geteuid() == 0 && ::access("/usr/bin/setpriv", X_OK) == 0;
}

std::vector<std::string> as_nobody(std::vector<std::string> args) {
  std::vector<std::string> a{"/usr/bin/setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"};
  a.insert(a.end(), args.begin(), args.end());
  return a;
}

std::string temp_socket(const char* tag) {
  return "/tmp/sandbox-bounds-" + std::string(tag) + "-" + std::to_string(::getpid()) + ".sock";
}

struct Fd {
  int fd;
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
};

// "GET /metrics" on 127.0.0.1:port; the whole answer ("" when the server closed at once).
std::string http_get(int port) {
  const Fd fd{::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)};
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<std::uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(::connect(fd.fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
  const std::string req = "GET /metrics HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n";
  if (::send(fd.fd, req.data(), req.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(req.size())) return "";
  std::string out;
  char buf[8192];
  for (;;) {
    pollfd p{fd.fd, POLLIN, 0};
    REQUIRE_MESSAGE(::poll(&p, 1, 60'000) == 1, "no answer from /metrics within 60 s");
    const ssize_t n = ::recv(fd.fd, buf, sizeof buf, 0);
    if (n <= 0) break;
    out.append(buf, static_cast<std::size_t>(n));
  }
  return out;
}

// A serve with --metrics on an ephemeral loopback port.
struct MetricsServe {
  std::string path;
  std::unique_ptr<Process> p;
  int port = 0;
  explicit MetricsServe(const char* tag, std::vector<std::string> extra = {}) : path(temp_socket(tag)) {
    std::vector<std::string> args{kSandbox, "serve",     "--socket",    path,       "--socket-mode",
                                  "0666",   "--metrics", "127.0.0.1:0", "--verbose"};
    args.insert(args.end(), extra.begin(), extra.end());
    p = std::make_unique<Process>(args);
    const std::string at = p->expect_err("metrics on http://127.0.0.1:");
    port = std::atoi(at.c_str() + at.find("127.0.0.1:") + 10);
    REQUIRE(port > 0);
    p->expect_err("serving " + path);
  }
};

}  // namespace

TEST_CASE("bounds: /metrics on TCP names no tenant; an unprivileged reader and a target see totals only") {
  if (!can_be_nobody()) {
    MESSAGE("needs root and setpriv to run a tenant of another uid");
    CHECK(::geteuid() != 0);  // as root this must not be skipped
    return;
  }
  MetricsServe s("metrics");
  // A root tenant, parked: its pid, comm and uid must not reach anyone over TCP.
  Process t({kShim, "--socket", s.path, "--file-quota", "7", "--", kProbe, "park"});
  const std::string pid = t.expect_out("pid=").substr(4);
  t.send("open");
  t.expect_out("opened=1");
  const std::string fetch =
      "import socket, sys\n"
      "s = socket.create_connection(('127.0.0.1', int(sys.argv[1])))\n"
      "s.sendall(b'GET /metrics HTTP/1.1\\r\\nHost: x\\r\\nConnection: close\\r\\n\\r\\n')\n"
      "out = b''\n"
      "while True:\n"
      "    b = s.recv(65536)\n"
      "    if not b: break\n"
      "    out += b\n"
      "print(out.decode())\n";
  // An unprivileged local user, and a target of another tenant (uid 65534, joined).
  const Result reader = run(as_nobody({kPython, "-c", fetch, std::to_string(s.port)}));
  const Result target =
      run(as_nobody({kShim, "--socket", s.path, "--", kPython, "-c", fetch, std::to_string(s.port)}));
  for (const Result* r : {&reader, &target}) {
    INFO(r->out << r->err);
    CHECK(r->status == 0);
    CHECK(has(r->out, "HTTP/1.1 200"));
    CHECK(has(r->out, "sandbox_jobs "));
    CHECK(has(r->out, "sandbox_open_files "));
    CHECK(!has(r->out, "pid=\"" + pid + "\""));
    CHECK(!has(r->out, "comm="));
    CHECK(!has(r->out, "uid="));
    CHECK(!has(r->out, "sandbox_node_"));
    CHECK(!has(r->out, "sandbox_job_"));
  }
  const Result promtool = [&] {
    const std::string answer = http_get(s.port);
    const std::string body = answer.substr(answer.find("\r\n\r\n") + 4);
    return run({"/bin/sh", "-c", "printf '%s' \"$1\" | promtool check metrics", "sh", body});
  }();
  INFO(promtool.out << promtool.err);
  CHECK(promtool.status == 0);
  // The owner still sees its own target through the control socket (SO_PEERCRED).
  const Result own = run({kSandbox, "ctl", "--socket", s.path, "metrics"});
  CHECK(has(own.out, "pid=\"" + pid + "\""));
  // And the operator may open the full view on purpose.
  MetricsServe full("full", {"--metrics-per-target"});
  Process t2({kShim, "--socket", full.path, "--", kProbe, "park"});
  const std::string pid2 = t2.expect_out("pid=").substr(4);
  CHECK(has(http_get(full.port), "root=\"" + pid2 + "\""));  // its job's series
}

TEST_CASE(
    "bounds: one local user holding every /metrics connection idle or trickling does not stop a scrape") {
  if (!can_be_nobody()) {
    MESSAGE("needs root and setpriv to attack as another uid");
    CHECK(::geteuid() != 0);
    return;
  }
  MetricsServe s("scrape");
  // uid 65534 opens 16 keep-alive connections (each served once, then idle) and 16 more that
  // trickle a request a byte at a time, and says when it holds them.
  Process attacker(as_nobody({kPython, "-u", "-c",
                              "import socket, sys, time\n"
                              "port = int(sys.argv[1])\n"
                              "idle = []\n"
                              "for i in range(16):\n"
                              "    c = socket.create_connection(('127.0.0.1', port))\n"
                              "    c.sendall(b'GET /metrics HTTP/1.1\\r\\nHost: x\\r\\n\\r\\n')\n"
                              "    c.recv(65536)\n"
                              "    idle.append(c)\n"
                              "slow = [socket.create_connection(('127.0.0.1', port)) for i in range(16)]\n"
                              "for c in slow:\n"
                              "    try: c.send(b'G')\n"
                              "    except OSError: pass\n"
                              "print('holding=1', flush=True)\n"
                              "for line in sys.stdin:\n"
                              "    for c in slow:\n"
                              "        try: c.send(b'E')\n"
                              "        except OSError: pass\n"
                              "    print('trickled=1', flush=True)\n",
                              std::to_string(s.port)}));
  attacker.expect_out("holding=1");
  int served = 0;
  for (int i = 0; i < 10; ++i) {
    attacker.send("more");
    attacker.expect_out("trickled=1");
    if (http_get(s.port).rfind("HTTP/1.1 200", 0) == 0) ++served;
  }
  CHECK(served == 10);
  attacker.close_stdin();
  CHECK(attacker.wait() == 0);
}

TEST_CASE("bounds: one uid joining five times takes one share of descriptors; another uid still joins") {
  if (!can_be_nobody()) {
    MESSAGE("needs root and setpriv to run two tenants of different uids");
    CHECK(::geteuid() != 0);
    return;
  }
  const std::string path = temp_socket("tenant-fds");
  Process serve(
      {"/bin/sh", "-c",
       "ulimit -n 256 && exec " + kSandbox + " serve --socket " + path + " --socket-mode 0666 --verbose"});
  serve.expect_err("serving " + path);
  // uid 65534 joins five times, each job with 60 sleeping children (each job alone stays
  // within a job's share): one line per join, whether it was let in or refused.
  std::vector<std::unique_ptr<Process>> a;
  struct KillGroups {
    std::vector<std::unique_ptr<Process>>& ps;
    ~KillGroups() {
      for (auto& p : ps) ::kill(-p->pid(), SIGKILL);
    }
  } cleanup{a};
  for (int i = 0; i < 5; ++i) {
    a.push_back(std::make_unique<Process>(
        as_nobody({"/usr/bin/setsid", "/bin/sh", "-c",
                   kShim + " --socket " + path +
                       " -- /bin/sh -c 'i=0; while [ $i -lt 60 ]; do /bin/sleep 1000 & i=$((i+1)); done; "
                       "echo joined=1; wait' || echo refused=1"})));
    const std::string line = a.back()->expect_out("=1", 120);
    INFO(line);
    CHECK((line == "joined=1" || line == "refused=1"));
  }
  // Another uid joins, runs, opens files, and its quota still kills it.
  const Result b = run({kShim, "--socket", path, "--", "/bin/cat", "/etc/hostname"});
  INFO(b.err << serve.err_so_far());
  CHECK(b.status == 0);
  CHECK(!b.out.empty());
  const Result c = run({kShim, "--socket", path, "--file-quota", "3", "--", kProbe, "file-kill"});
  CHECK(c.status == 137);
  CHECK(c["opened"] == "3");
  // The supervisor said whose share ran out.
  serve.expect_err("uid 65534 holds", 120);
  serve.signal(SIGTERM);
  CHECK(serve.wait() == 0);
}
