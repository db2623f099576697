// SPDX-License-Identifier: Apache-2.0
// Unit tests for the control socket server (supervisor/control/server.*) and `sandbox ctl`
// (supervisor/cli/ctl.*): the real Server on a real socket in a temporary directory, answered
// by a FakeControl. Every op, id echo and order, the bad-input list (malformed, unknown op,
// wrong type, over-long line, a stalled half line, a client that never reads, a thousand
// clients), socket creation rules, SO_PEERCRED, SCM_RIGHTS, watch, stop and signals.
// Waits are bounded polls on sockets or condition variables, never sleeps.
#include <utility>  // before Asio (1.74's awaitable.hpp needs std::exchange)
//
#include <doctest/doctest.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <boost/asio/io_context.hpp>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "base/unique_fd.hpp"
#include "child.hpp"  // test/host: forked children drop doctest's handlers
#include "cli/cli.hpp"
#include "cli/ctl.hpp"
#include "control/control.hpp"
#include "control/server.hpp"

using namespace sandbox;
using nlohmann::json;
using namespace std::chrono_literals;

namespace {

// A Control with scripted answers that records who asked what.
class FakeControl : public Control {
 public:
  struct Call {
    std::string op;
    Caller caller;
    Pid pid = 0;
    std::int64_t heap = 0;
    std::int64_t files = 0;
  };

  Caller identify(const ucred& peer, int) override {
    return Caller{peer.uid, peer.gid, peer.pid, tenants.load(), tenants.load() ? JobId{1} : JobId{0}};
  }
  std::atomic<bool> tenants{false};  // every peer is a process of job 1 (inside), else outside
  OpResult register_node(const Caller& c, Pid pid) override {
    record({"register", c, pid});
    if (pid < 1) return {EINVAL, "pid must be positive"};
    if (pid == 999) return {ESRCH, "no such task"};
    return {};
  }
  OpResult fetch(const Caller& c, Pid pid, Node& out) override {
    record({"fetch", c, pid});
    if (pid == 404) return {EINVAL, "not registered"};
    if (pid == 403) return {EPERM, "not your process"};
    out = Node{};
    out.pid = pid;
    out.tgid = pid + 1;
    out.heapsize = 4096u * static_cast<std::uint64_t>(pid > 0 ? pid : 0);
    out.openfile_count = 2;
    out.heap_quota_bytes = 100u << 20;
    return {};
  }
  OpResult deregister(const Caller& c, Pid pid) override {
    record({"deregister", c, pid});
    return pid == 404 ? OpResult{ESRCH, "not registered"} : OpResult{};
  }
  OpResult resource_cap(const Caller& c, Pid pid, std::int64_t heap_mib, std::int64_t files) override {
    record({"resource_cap", c, pid, heap_mib, files});
    if (heap_mib < -1 || files < -1) return {EINVAL, "quota below -1"};
    return {};
  }
  OpResult resource_cap_bytes(const Caller& c, Pid pid, std::int64_t heap_bytes,
                              std::int64_t files) override {
    record({"resource_cap_bytes", c, pid, heap_bytes, files});
    return {};
  }
  OpResult resource_reset(const Caller& c, Pid pid) override {
    record({"resource_reset", c, pid});
    return {};
  }
  OpResult replace_cap(const Caller& c, Pid pid, std::optional<std::uint64_t> heap_bytes,
                       std::optional<std::uint64_t> files) override {
    const auto v = [](std::optional<std::uint64_t> q) { return q ? static_cast<std::int64_t>(*q) : -1; };
    record({"replace_cap", c, pid, v(heap_bytes), v(files)});
    return {};
  }
  std::vector<Node> list(const Caller& c) override {
    record({"list", c, 0});
    std::vector<Node> nodes(3);
    for (int i = 0; i < 3; ++i) nodes[i].pid = nodes[i].tgid = 100 + i;
    return nodes;
  }
  std::uint64_t subscribe(const Caller& c, std::function<void(const Event&)> fn) override {
    std::lock_guard lock(mu_);
    calls_.push_back({"subscribe", c, 0});
    subs_[++next_sub_] = std::move(fn);
    cv_.notify_all();
    return next_sub_;
  }
  void unsubscribe(std::uint64_t id) override {
    std::lock_guard lock(mu_);
    subs_.erase(id);
    cv_.notify_all();
  }
  std::vector<sock_filter> filter_program() override { return {{0x20, 0, 0, 4}, {0x06, 0, 0, 0x7fff0000}}; }
  OpResult join(const Caller& c, JoinRequest r) override {
    UniqueFd fd(r.listener_fd);
    struct stat st {};
    std::lock_guard lock(mu_);
    joined_ino_ = ::fstat(fd.get(), &st) == 0 ? st.st_ino : 0;
    joined_ = r;
    calls_.push_back({"join", c, r.pid});
    return {};
  }

  // As the notify thread does: call every subscriber with the lock held.
  void emit(const Event& e) {
    std::lock_guard lock(mu_);
    for (auto& [id, fn] : subs_) fn(e);
  }
  bool wait_subscribers(std::size_t n) {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, 60s, [&] { return subs_.size() == n; });
  }
  std::vector<Call> calls() {
    std::lock_guard lock(mu_);
    return calls_;
  }
  std::optional<Call> last(const std::string& op) {
    std::lock_guard lock(mu_);
    for (auto it = calls_.rbegin(); it != calls_.rend(); ++it) {
      if (it->op == op) return *it;
    }
    return std::nullopt;
  }
  std::size_t count(const std::string& op) {
    std::lock_guard lock(mu_);
    return static_cast<std::size_t>(
        std::count_if(calls_.begin(), calls_.end(), [&](const Call& c) { return c.op == op; }));
  }
  ino_t joined_ino() {
    std::lock_guard lock(mu_);
    return joined_ino_;
  }
  JoinRequest joined() {
    std::lock_guard lock(mu_);
    return joined_;
  }

 private:
  void record(Call c) {
    std::lock_guard lock(mu_);
    calls_.push_back(std::move(c));
  }

  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<Call> calls_;
  std::map<std::uint64_t, std::function<void(const Event&)>> subs_;
  std::uint64_t next_sub_ = 0;
  ino_t joined_ino_ = 0;
  JoinRequest joined_;
};

struct TempDir {
  TempDir() {
    char tmpl[] = "/tmp/sandbox-server-test-XXXXXX";
    REQUIRE(::mkdtemp(tmpl) != nullptr);
    path = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
  std::string path;
};

sockaddr_un address(const std::string& path, socklen_t& len) {
  sockaddr_un a{};
  a.sun_family = AF_UNIX;
  std::memcpy(a.sun_path, path.data(), path.size());
  len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + path.size() + 1);
  return a;
}

// A blocking test client with bounded reads.
class Client {
 public:
  explicit Client(const std::string& path) : fd_(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) {
    REQUIRE(fd_);
    socklen_t len = 0;
    const sockaddr_un a = address(path, len);
    REQUIRE_MESSAGE(::connect(fd_.get(), reinterpret_cast<const sockaddr*>(&a), len) == 0,
                    std::strerror(errno));
  }
  int fd() const { return fd_.get(); }
  bool send(const std::string& data) {
    std::size_t off = 0;
    while (off < data.size()) {
      const ssize_t n = ::send(fd_.get(), data.data() + off, data.size() - off, MSG_NOSIGNAL);
      if (n < 0) return false;
      off += static_cast<std::size_t>(n);
    }
    return true;
  }
  // Sends `data` with `fds` attached as SCM_RIGHTS.
  bool send_fds(const std::string& data, const std::vector<int>& fds) {
    iovec iov{const_cast<char*>(data.data()), data.size()};
    std::vector<char> cbuf(CMSG_SPACE(sizeof(int) * fds.size()));
    msghdr mh{};
    mh.msg_iov = &iov;
    mh.msg_iovlen = 1;
    mh.msg_control = cbuf.data();
    mh.msg_controllen = cbuf.size();
    cmsghdr* c = CMSG_FIRSTHDR(&mh);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int) * fds.size());
    std::memcpy(CMSG_DATA(c), fds.data(), sizeof(int) * fds.size());
    return ::sendmsg(fd_.get(), &mh, MSG_NOSIGNAL) == static_cast<ssize_t>(data.size());
  }
  // The next line, or nullopt at end of stream or after `timeout`.
  std::optional<std::string> line(std::chrono::milliseconds timeout = 60s) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
      if (const auto nl = buf_.find('\n'); nl != std::string::npos) {
        std::string l = buf_.substr(0, nl);
        buf_.erase(0, nl + 1);
        return l;
      }
      const auto left =
          std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) return std::nullopt;
      pollfd p{fd_.get(), POLLIN, 0};
      if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) continue;
      char chunk[65536];
      const ssize_t n = ::recv(fd_.get(), chunk, sizeof chunk, 0);
      if (n <= 0) return std::nullopt;
      buf_.append(chunk, static_cast<std::size_t>(n));
    }
  }
  json ask(const std::string& request) {
    REQUIRE(send(request + "\n"));
    const auto l = line();
    REQUIRE_MESSAGE(l.has_value(), "no answer to ", request);
    return json::parse(*l);
  }
  // True when the server closes the connection within `timeout` (pending lines are read
  // into `lines`).
  bool closed_by_server(std::vector<std::string>* lines = nullptr, std::chrono::milliseconds timeout = 60s) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
      const auto left =
          std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) return false;
      pollfd p{fd_.get(), POLLIN, 0};
      if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) continue;
      char chunk[65536];
      const ssize_t n = ::recv(fd_.get(), chunk, sizeof chunk, 0);
      if (n == 0 || (n < 0 && errno == ECONNRESET)) break;
      if (n < 0) return false;
      buf_.append(chunk, static_cast<std::size_t>(n));
    }
    if (lines) {
      for (std::size_t nl; (nl = buf_.find('\n')) != std::string::npos; buf_.erase(0, nl + 1)) {
        lines->push_back(buf_.substr(0, nl));
      }
    }
    return true;
  }

 private:
  UniqueFd fd_;
  std::string buf_;
};

// A Server on its own io thread, in a temporary directory.
struct Harness {
  explicit Harness(const std::function<void(Server::Options&)>& tweak = {}) {
    Server::Options o;
    o.path = dir.path + "/s.sock";
    o.version = "9.8.7";
    if (tweak) tweak(o);
    path = o.path;
    server = std::make_unique<Server>(io, control, o);
    server->start();
    thread = std::thread([this] { io.run(); });
  }
  ~Harness() { shutdown(); }
  void shutdown() {
    if (!thread.joinable()) return;
    server->stop();
    thread.join();
  }
  // Bounded wait for the number of open sessions.
  bool wait_sessions(std::size_t n) {
    // session_count() changes on the io thread; poll it against a deadline, sleeping in
    // poll() on nothing rather than assuming any timing.
    const auto deadline = std::chrono::steady_clock::now() + 60s;
    while (server->session_count() != n) {
      if (std::chrono::steady_clock::now() > deadline) return false;
      ::poll(nullptr, 0, 5);
    }
    return true;
  }

  TempDir dir;
  std::string path;
  FakeControl control;
  boost::asio::io_context io;
  std::unique_ptr<Server> server;
  std::thread thread;
};

// Runs ctl_main with stdout/stderr sent to /dev/null.
int ctl(std::vector<std::string> args) {
  args.insert(args.begin(), "ctl");
  std::vector<const char*> argv;
  for (const auto& a : args) argv.push_back(a.c_str());
  argv.push_back(nullptr);
  std::fflush(stdout);
  std::fflush(stderr);
  const int saved_out = ::dup(1), saved_err = ::dup(2);
  const int null = ::open("/dev/null", O_WRONLY | O_CLOEXEC);
  ::dup2(null, 1);
  ::dup2(null, 2);
  const int rc = ctl_main(static_cast<int>(args.size()), argv.data());
  std::fflush(stdout);
  std::fflush(stderr);
  ::dup2(saved_out, 1);
  ::dup2(saved_err, 2);
  ::close(saved_out);
  ::close(saved_err);
  ::close(null);
  return rc;
}

}  // namespace

TEST_CASE("server: every op round trip, with the caller from SO_PEERCRED") {
  Harness h;
  Client c(h.path);

  json r = c.ask(R"({"op":"register","pid":42})");
  CHECK(r == json{{"ok", true}});
  auto call = h.control.last("register");
  REQUIRE(call);
  CHECK(call->pid == 42);
  CHECK(call->caller.uid == ::getuid());
  CHECK(call->caller.gid == ::getgid());
  CHECK(call->caller.pid == ::getpid());

  r = c.ask(R"({"op":"register","pid":999})");
  CHECK(r == json{{"ok", false}, {"errno", ESRCH}, {"error", "ESRCH"}, {"message", "no such task"}});

  r = c.ask(R"({"op":"fetch","pid":42})");
  CHECK(r == json{{"ok", true},
                  {"pid", 42},
                  {"tgid", 43},
                  {"heapsize", 42 * 4096},
                  {"openfile_count", 2},
                  {"heap_quota", 100},
                  {"file_quota", -1},
                  {"heap_rule", "kernel"}});
  r = c.ask(R"({"op":"fetch","pid":404})");
  CHECK(r == json{{"ok", false}, {"errno", EINVAL}, {"error", "EINVAL"}, {"message", "not registered"}});
  CHECK(c.ask(R"({"op":"fetch","pid":403})")["error"] == "EPERM");

  CHECK(c.ask(R"({"op":"deregister","pid":42})")["ok"] == true);
  CHECK(c.ask(R"({"op":"deregister","pid":404})")["errno"] == ESRCH);

  CHECK(c.ask(R"({"op":"resource_cap","pid":42,"heap_quota":100,"file_quota":10})")["ok"] == true);
  call = h.control.last("resource_cap");
  REQUIRE(call);
  CHECK(call->heap == 100);
  CHECK(call->files == 10);
  CHECK(c.ask(R"({"op":"resource_cap","pid":42,"file_quota":3})")["ok"] == true);
  CHECK(h.control.last("resource_cap")->heap == -1);
  CHECK(c.ask(R"({"op":"resource_cap","pid":42,"heap_quota":-7})")["errno"] == EINVAL);
  CHECK(c.ask(R"({"op":"resource_cap","pid":42,"heap_quota_bytes":1536})")["ok"] == true);
  call = h.control.last("resource_cap_bytes");
  REQUIRE(call);
  CHECK(call->heap == 1536);
  CHECK(call->files == -1);

  CHECK(c.ask(R"({"op":"resource_reset","pid":42})")["ok"] == true);
  CHECK(h.control.last("resource_reset")->pid == 42);

  r = c.ask(R"({"op":"list"})");
  REQUIRE(r["nodes"].size() == 3);
  CHECK(r["nodes"][2]["pid"] == 102);

  CHECK(c.ask(R"({"op":"version"})") == json{{"ok", true}, {"version", "9.8.7"}, {"protocol", 1}});
  CHECK(c.ask(R"({"op":"filter"})")["filter"] == "0020000000000004000600007fff0000");
}

TEST_CASE("server: ids are echoed and responses come in order") {
  Harness h;
  Client c(h.path);
  CHECK(c.ask(R"({"op":"version","id":"abc"})")["id"] == "abc");
  CHECK(c.ask(R"({"op":"fetch","pid":404,"id":17})")["id"] == 17);
  CHECK(c.ask(R"({"id":5,"op":"bogus"})")["id"] == 5);
  CHECK(!c.ask(R"({"op":"version"})").contains("id"));

  // Many requests in one write (and some split across writes): answers in order.
  std::string batch;
  const char* ops[] = {R"("op":"fetch","pid":7)", R"("op":"version")", R"("op":"list")", R"("op":"nope")",
                       R"("op":"register","pid":0)"};
  for (int i = 0; i < 500; ++i) batch += "{\"id\":" + std::to_string(i) + "," + ops[i % 5] + "}\n";
  REQUIRE(c.send(batch.substr(0, 1000)));
  REQUIRE(c.send(batch.substr(1000)));
  for (int i = 0; i < 500; ++i) {
    const auto l = c.line();
    REQUIRE(l);
    const json r = json::parse(*l);
    CHECK(r["id"] == i);
    CHECK(r["ok"] == (i % 5 < 3));
  }
}

TEST_CASE("server: bad input gets a clear error and the session carries on") {
  Harness h;
  Client c(h.path);
  json r = c.ask("this is not json");
  CHECK(r["ok"] == false);
  CHECK(r["errno"] == EINVAL);
  CHECK(r["error"] == "EINVAL");
  CHECK(r["message"].get<std::string>().rfind("malformed JSON", 0) == 0);

  r = c.ask(R"({"op":"teleport","pid":1})");
  CHECK(r["errno"] == ENOSYS);
  CHECK(r["message"] == R"(op: unknown operation "teleport")");

  r = c.ask(R"({"op":"fetch","pid":"abc"})");
  CHECK(r["errno"] == EINVAL);
  CHECK(r["message"] == R"(pid: expected an integer, got "abc")");

  CHECK(c.ask("[1,2]")["errno"] == EINVAL);
  CHECK(c.ask(std::string("{\"op\":\"fetch\",\"pid\":\"\xff\"}"))["errno"] == EINVAL);
  CHECK(c.ask(std::string("\0\0{}", 4))["errno"] == EINVAL);
  CHECK(c.ask(std::string(5000, '['))["errno"] == EINVAL);

  // Blank lines are not requests: no answer; the next request is answered.
  REQUIRE(c.send("\n  \r\n"));
  CHECK(c.ask(R"({"op":"version","id":1})")["id"] == 1);
  // A last line without '\n' is still answered when the client shuts down its side.
  REQUIRE(c.send(R"({"op":"version","id":2})"));
  ::shutdown(c.fd(), SHUT_WR);
  std::vector<std::string> lines;
  CHECK(c.closed_by_server(&lines));
  REQUIRE(lines.size() == 1);
  CHECK(json::parse(lines[0])["id"] == 2);
}

TEST_CASE("server: a line over the limit gets E2BIG, then the session closes") {
  Harness h([](Server::Options& o) { o.max_line = 1024; });
  {
    Client c(h.path);
    REQUIRE(c.send(std::string(2000, 'a') + "\n"));
    std::vector<std::string> lines;
    CHECK(c.closed_by_server(&lines));
    REQUIRE(lines.size() == 1);
    CHECK(json::parse(lines[0])["errno"] == E2BIG);
  }
  {
    // No newline at all: cut off as soon as the buffer passes the limit.
    Client c(h.path);
    REQUIRE(c.send(R"({"op":"list","x":")" + std::string(1100, 'b')));
    std::vector<std::string> lines;
    CHECK(c.closed_by_server(&lines));
    REQUIRE(lines.size() == 1);
    CHECK(json::parse(lines[0])["error"] == "E2BIG");
  }
  {
    // Exactly at the limit is fine.
    Client c(h.path);
    std::string line = R"({"op":"version","id":")";
    line += std::string(1024 - line.size() - 2, 'c') + "\"}";
    REQUIRE(line.size() == 1024);
    CHECK(c.ask(line)["ok"] == true);
  }
}

TEST_CASE("server: a half-sent line is dropped after the timeout; others are served meanwhile") {
  Harness h([](Server::Options& o) { o.line_timeout = 300ms; });
  Client stalled(h.path);
  REQUIRE(stalled.send(R"({"op":"fetch",)"));
  Client other(h.path);
  for (int i = 0; i < 20; ++i) CHECK(other.ask(R"({"op":"fetch","pid":5})")["pid"] == 5);
  // Dropped for its line's deadline (the error says which), however long the others took.
  std::vector<std::string> lines;
  CHECK(stalled.closed_by_server(&lines));
  REQUIRE(lines.size() == 1);
  CHECK(json::parse(lines[0])["error"] == "ETIMEDOUT");
  // Idle clients with no partial line are not timed out.
  CHECK(other.ask(R"({"op":"version"})")["ok"] == true);
  CHECK(h.wait_sessions(1));
}

TEST_CASE("server: a client that never reads is dropped; others are fine") {
  Harness h([](Server::Options& o) { o.max_queue = 64 * 1024; });
  Client reader(h.path);
  Client hog(h.path);
  REQUIRE(::fcntl(hog.fd(), F_SETFL, O_NONBLOCK) == 0);
  std::string chunk;
  for (int i = 0; i < 100; ++i)
    chunk += R"({"op":"list"})"
             "\n";
  bool dropped = false;
  const auto deadline = std::chrono::steady_clock::now() + 120s;  // a bound against a hang
  std::size_t off = 0;
  while (!dropped && std::chrono::steady_clock::now() < deadline) {
    const ssize_t n = ::send(hog.fd(), chunk.data() + off, chunk.size() - off, MSG_NOSIGNAL);
    if (n > 0) {
      off = (off + static_cast<std::size_t>(n)) % chunk.size();
      continue;
    }
    if (errno == EPIPE || errno == ECONNRESET) {
      dropped = true;
      break;
    }
    pollfd p{hog.fd(), POLLOUT, 0};
    ::poll(&p, 1, 100);
    if (p.revents & (POLLHUP | POLLERR)) dropped = true;
    CHECK(reader.ask(R"({"op":"version"})")["ok"] == true);
  }
  CHECK(dropped);
  CHECK(reader.ask(R"({"op":"fetch","pid":3})")["pid"] == 3);
  CHECK(h.wait_sessions(1));
}

TEST_CASE("server: a thousand clients at once each get their answer") {
  Harness h;
  constexpr int kClients = 1000;
  std::vector<std::unique_ptr<Client>> clients;
  for (int i = 0; i < kClients; ++i) clients.push_back(std::make_unique<Client>(h.path));
  for (int i = 0; i < kClients; ++i) {
    REQUIRE(clients[i]->send(R"({"op":"fetch","pid":)" + std::to_string(i + 1000) +
                             ",\"id\":" + std::to_string(i) + "}\n"));
  }
  int answered = 0;
  for (int i = 0; i < kClients; ++i) {
    const auto l = clients[i]->line();
    REQUIRE(l);
    const json r = json::parse(*l);
    REQUIRE_MESSAGE(r.value("ok", false), *l);
    CHECK(r["id"] == i);
    CHECK(r["pid"] == i + 1000);
    ++answered;
  }
  CHECK(answered == kClients);
  CHECK(h.server->session_count() == kClients);
  clients.clear();
  CHECK(h.wait_sessions(0));
}

TEST_CASE("server: one uid's connections are bounded; another uid and the operator are still served") {
  Harness h([](Server::Options& o) {
    o.max_per_uid = 3;
    o.mode = 0666;
  });
  h.control.tenants = true;           // tenants' connections: bounded per uid, whatever the uid
  ::chmod(h.dir.path.c_str(), 0755);  // another uid reaches the socket below
  std::vector<std::unique_ptr<Client>> held;
  for (int i = 0; i < 3; ++i) {
    held.push_back(std::make_unique<Client>(h.path));
    CHECK(held.back()->ask(R"({"op":"version"})")["ok"] == true);
  }
  Client fourth(h.path);
  std::vector<std::string> lines;
  CHECK(fourth.closed_by_server(&lines));
  REQUIRE(lines.size() == 1);
  CHECK(json::parse(lines[0])["error"] == "EMFILE");
  CHECK(lines[0].find("connections to this server") != std::string::npos);
  if (::geteuid() == 0) {  // another uid at the same moment: served
    const pid_t child = host::fork_child([&] {
      int ok = ::setgroups(0, nullptr) == 0 && ::setresgid(65534, 65534, 65534) == 0 &&
               ::setresuid(65534, 65534, 65534) == 0;
      const int s = ok ? ::socket(AF_UNIX, SOCK_STREAM, 0) : -1;
      sockaddr_un a{};
      a.sun_family = AF_UNIX;
      std::strncpy(a.sun_path, h.path.c_str(), sizeof a.sun_path - 1);
      char buf[512] = {};
      ok = s >= 0 && ::connect(s, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0 &&
           ::write(s, "{\"op\":\"version\"}\n", 17) == 17 && ::read(s, buf, sizeof buf - 1) > 0 &&
           std::strstr(buf, "\"ok\":true") != nullptr;
      return ok ? 0 : 1;
    });
    REQUIRE(child >= 0);
    int status = 0;
    REQUIRE(::waitpid(child, &status, 0) == child);
    CHECK(status == 0);
  }
  held.pop_back();  // one closed: the uid may connect again
  CHECK(h.wait_sessions(2));
  Client again(h.path);
  CHECK(again.ask(R"({"op":"version"})")["ok"] == true);
  if (::geteuid() == 0) {  // the operator (root, outside) is never bounded
    h.control.tenants = false;
    Client op1(h.path), op2(h.path);
    CHECK(op1.ask(R"({"op":"version"})")["ok"] == true);
    CHECK(op2.ask(R"({"op":"version"})")["ok"] == true);
  }
}

TEST_CASE("server: socket creation") {
  SUBCASE("mode 0600 by default, another mode on request, removed at stop") {
    Harness h;
    struct stat st {};
    REQUIRE(::stat(h.path.c_str(), &st) == 0);
    CHECK(S_ISSOCK(st.st_mode));
    CHECK((st.st_mode & 07777) == 0600);
    h.shutdown();
    CHECK(::access(h.path.c_str(), F_OK) != 0);

    Harness h2([](Server::Options& o) { o.mode = 0666; });
    REQUIRE(::stat(h2.path.c_str(), &st) == 0);
    CHECK((st.st_mode & 07777) == 0666);
  }
  SUBCASE("a stale socket is replaced") {
    TempDir dir;
    const std::string path = dir.path + "/stale.sock";
    {
      UniqueFd s(::socket(AF_UNIX, SOCK_STREAM, 0));
      socklen_t len = 0;
      const sockaddr_un a = address(path, len);
      REQUIRE(::bind(s.get(), reinterpret_cast<const sockaddr*>(&a), len) == 0);
    }  // closed without listening: nobody behind the file
    Harness h([&](Server::Options& o) { o.path = path; });
    Client c(path);
    CHECK(c.ask(R"({"op":"version"})")["ok"] == true);
  }
  SUBCASE("a live socket is not stolen") {
    Harness h;
    FakeControl other;
    boost::asio::io_context io2;
    Server second(io2, other, Server::Options{h.path});
    std::string message;
    try {
      second.start();
    } catch (const std::runtime_error& e) {
      message = e.what();
    }
    CHECK(message.find(h.path) != std::string::npos);
    CHECK(message.find("already listening") != std::string::npos);
    Client c(h.path);
    CHECK(c.ask(R"({"op":"version"})")["ok"] == true);
  }
  SUBCASE("a file that is not a socket is an error and is left alone") {
    TempDir dir;
    const std::string path = dir.path + "/file";
    std::ofstream(path) << "precious\n";
    FakeControl control;
    boost::asio::io_context io;
    Server s(io, control, Server::Options{path});
    std::string message;
    try {
      s.start();
    } catch (const std::runtime_error& e) {
      message = e.what();
    }
    CHECK(message == path + ": exists and is not a socket");
    std::ifstream in(path);
    std::string content;
    std::getline(in, content);
    CHECK(content == "precious");
  }
  SUBCASE("a path too long is an error") {
    FakeControl control;
    boost::asio::io_context io;
    Server s(io, control, Server::Options{"/tmp/" + std::string(200, 'x')});
    CHECK_THROWS_AS(s.start(), std::runtime_error);
  }
}

TEST_CASE("server: the caller's uid comes from SO_PEERCRED") {
  if (::geteuid() != 0) {
    MESSAGE("skipped: needs root to setresuid");
    return;
  }
  Harness h([](Server::Options& o) { o.mode = 0666; });
  REQUIRE(::chmod(h.dir.path.c_str(), 0711) == 0);
  const std::string request = "{\"op\":\"fetch\",\"pid\":77}\n";
  socklen_t len = 0;
  const sockaddr_un a = address(h.path, len);
  const pid_t child = host::fork_child([&] {
    // Only system calls from here on (the parent has threads).
    if (::setresgid(65534, 65534, 65534) != 0 || ::setresuid(65534, 65534, 65534) != 0) return 10;
    const int s = ::socket(AF_UNIX, SOCK_STREAM, 0);
    if (s < 0 || ::connect(s, reinterpret_cast<const sockaddr*>(&a), len) != 0) return 11;
    if (::write(s, request.data(), request.size()) != static_cast<ssize_t>(request.size())) return 12;
    char buf[512];
    const ssize_t n = ::read(s, buf, sizeof buf);
    return n > 0 && std::memchr(buf, '\n', static_cast<std::size_t>(n)) != nullptr ? 0 : 13;
  });
  REQUIRE(child >= 0);
  int status = 0;
  REQUIRE(::waitpid(child, &status, 0) == child);
  CHECK(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 0);
  const auto call = h.control.last("fetch");
  REQUIRE(call);
  CHECK(call->pid == 77);
  CHECK(call->caller.uid == 65534);
  CHECK(call->caller.gid == 65534);
  CHECK(call->caller.pid == child);
}

TEST_CASE("server: watch streams events posted from another thread") {
  Harness h;
  Client w(h.path);
  CHECK(w.ask(R"({"op":"watch","id":"w"})") == json{{"ok", true}, {"id", "w"}});
  REQUIRE(h.control.wait_subscribers(1));
  CHECK(h.control.last("subscribe")->caller.uid == ::getuid());
  std::thread notify([&] {
    Event e;
    e.kind = Event::Kind::registered;
    e.pid = e.tgid = 10;
    h.control.emit(e);
    e.kind = Event::Kind::killed;
    e.violation = Violation{10, 10, Resource::files, 11, 10};
    h.control.emit(e);
    e = Event{};
    e.kind = Event::Kind::quota_set;
    e.pid = e.tgid = 11;
    e.heap_quota_bytes = 1u << 20;
    h.control.emit(e);
  });
  notify.join();
  auto l = w.line();
  REQUIRE(l);
  CHECK(json::parse(*l) == json{{"event", "registered"}, {"pid", 10}, {"tgid", 10}});
  l = w.line();
  REQUIRE(l);
  CHECK(
      json::parse(*l) ==
      json{
          {"event", "killed"}, {"pid", 10}, {"tgid", 10}, {"reason", "files"}, {"usage", 11}, {"limit", 10}});
  l = w.line();
  REQUIRE(l);
  CHECK(json::parse(*l)["heap_quota"] == 1);
  // Requests still work on a watching session.
  CHECK(w.ask(R"({"op":"version","id":2})")["id"] == 2);
  // Hanging up ends the subscription.
  { Client gone = std::move(w); }
  CHECK(h.control.wait_subscribers(0));
}

TEST_CASE("server: join takes the listener fd sent with its line (SCM_RIGHTS)") {
  Harness h([](Server::Options& o) { o.max_fds = 2; });
  int p[2];
  REQUIRE(::pipe2(p, O_CLOEXEC) == 0);
  UniqueFd rd(p[0]), wr(p[1]);
  struct stat st {};
  REQUIRE(::fstat(wr.get(), &st) == 0);

  Client c(h.path);
  REQUIRE(c.send_fds(R"({"op":"join","pid":55,"heap_quota":100,"file_quota":3,"track":true,"id":1})"
                     "\n",
                     {wr.get()}));
  auto l = c.line();
  REQUIRE(l);
  CHECK(json::parse(*l) == json{{"ok", true}, {"id", 1}, {"job", 0}});  // the mock's job
  CHECK(h.control.joined_ino() == st.st_ino);
  const JoinRequest j = h.control.joined();
  CHECK(j.pid == 55);
  CHECK(j.heap_quota_bytes == 100u << 20);
  CHECK(j.file_quota == 3u);
  CHECK(j.track);

  // Without a descriptor: EBADF.
  CHECK(c.ask(R"({"op":"join","pid":55})")["error"] == "EBADF");
  CHECK(c.ask(R"({"op":"join","pid":55,"heap_quota":-2})")["error"] == "EINVAL");

  // A descriptor sent with another op is closed by the server: once our copy is closed
  // too, the pipe's read end sees EOF.
  REQUIRE(c.send_fds(R"({"op":"version"})"
                     "\n",
                     {wr.get()}));
  CHECK(c.line());
  wr.reset();
  pollfd pfd{rd.get(), POLLIN, 0};
  CHECK(::poll(&pfd, 1, 60000) == 1);
  CHECK((pfd.revents & POLLHUP) != 0);

  // Too many descriptors: EMFILE, and the session is closed.
  int q[2];
  REQUIRE(::pipe2(q, O_CLOEXEC) == 0);
  UniqueFd q0(q[0]), q1(q[1]);
  Client greedy(h.path);
  REQUIRE(greedy.send_fds(R"({"op":"join",)", {q1.get(), q1.get(), q1.get()}));
  std::vector<std::string> lines;
  CHECK(greedy.closed_by_server(&lines));
  REQUIRE(lines.size() == 1);
  CHECK(json::parse(lines[0])["error"] == "EMFILE");

  // Unclaimed descriptors of a session that ends are closed.
  {
    Client leaver(h.path);
    REQUIRE(leaver.send_fds(R"({"op":"join",)", {q1.get()}));
    CHECK(leaver.ask(R"(})")["error"] == "EINVAL");  // the line ends: pid missing
  }
  q1.reset();
  pollfd qfd{q0.get(), POLLIN, 0};
  CHECK(::poll(&qfd, 1, 60000) == 1);
  CHECK((qfd.revents & POLLHUP) != 0);
}

TEST_CASE("server: stop closes sessions and lets io_context::run return; signals call back") {
  SUBCASE("stop") {
    Harness h;
    Client c(h.path);
    CHECK(c.ask(R"({"op":"watch"})")["ok"] == true);
    REQUIRE(h.control.wait_subscribers(1));
    h.shutdown();  // joins the io thread: run() returned
    CHECK(c.closed_by_server());
    CHECK(h.control.wait_subscribers(0));
    CHECK(::access(h.path.c_str(), F_OK) != 0);
  }
  SUBCASE("SIGTERM") {
    std::mutex mu;
    std::condition_variable cv;
    int got = 0;
    Harness h([&](Server::Options& o) {
      o.on_signal = [&](int signo) {
        std::lock_guard lock(mu);
        got = signo;
        cv.notify_all();
      };
    });
    Client c(h.path);
    CHECK(c.ask(R"({"op":"version"})")["ok"] == true);
    REQUIRE(::kill(::getpid(), SIGTERM) == 0);
    {
      std::unique_lock lock(mu);
      CHECK(cv.wait_for(lock, 60s, [&] { return got != 0; }));
    }
    CHECK(got == SIGTERM);
    CHECK(c.closed_by_server());
    h.thread.join();  // the server stopped itself
    CHECK(::access(h.path.c_str(), F_OK) != 0);
  }
}

TEST_CASE("ctl: exit status and requests") {
  Harness h;
  CHECK(ctl({"--socket", h.path, "version"}) == 0);
  CHECK(ctl({"--socket", h.path, "fetch", "42"}) == 0);
  CHECK(ctl({"--socket", h.path, "--json", "fetch", "42"}) == 0);
  CHECK(ctl({"--socket", h.path, "fetch", "404"}) == 1);
  CHECK(ctl({"--socket", h.path, "register", "7"}) == 0);
  CHECK(ctl({"--socket", h.path, "deregister", "404"}) == 1);
  CHECK(ctl({"--socket", h.path, "reset", "7"}) == 0);
  CHECK(ctl({"--socket", h.path, "list"}) == 0);
  CHECK(ctl({"--socket=" + h.path, "cap", "7", "--heap-quota", "100M", "--file-quota", "10"}) == 0);
  auto call = h.control.last("resource_cap");
  REQUIRE(call);
  CHECK(call->pid == 7);
  CHECK(call->heap == 100);
  CHECK(call->files == 10);
  CHECK(ctl({"--socket", h.path, "cap", "8", "--heap-quota=1536K"}) == 0);
  call = h.control.last("resource_cap_bytes");
  REQUIRE(call);
  CHECK(call->heap == 1536 * 1024);
  CHECK(call->files == -1);
  CHECK(ctl({"--socket", h.path, "cap", "9", "--heap-quota", "3"}) == 0);  // bare number: MiB
  CHECK(h.control.last("resource_cap")->heap == 3);
  // Options after the subcommand too; unlimited and -1 alike.
  CHECK(ctl({"cap", "10", "--file-quota", "unlimited", "--heap-quota", "-1", "--socket", h.path}) == 0);
  call = h.control.last("resource_cap");
  REQUIRE(call);
  CHECK(call->pid == 10);
  CHECK(call->heap == -1);
  CHECK(call->files == -1);
  // --replace: one request, the replace op, not a reset and a cap.
  const auto resets = h.control.count("resource_reset");
  CHECK(ctl({"--socket", h.path, "cap", "11", "--replace", "--heap-quota", "2M"}) == 0);
  call = h.control.last("replace_cap");
  REQUIRE(call);
  CHECK(call->pid == 11);
  CHECK(call->heap == 2 << 20);
  CHECK(call->files == -1);
  CHECK(h.control.count("resource_reset") == resets);
  // Nothing to set is an error, not a success that set nothing.
  CHECK(ctl({"--socket", h.path, "cap", "12"}) == 2);
  CHECK(ctl({"--socket", h.path, "cap", "12", "--replace"}) == 2);
  CHECK_FALSE(h.control.last("resource_cap")->pid == 12);
  // The old names are gone: one name per setting.
  CHECK(ctl({"--socket", h.path, "cap", "12", "--heap", "1M"}) == 2);
  CHECK(ctl({"--socket", h.path, "cap", "12", "--files", "1"}) == 2);
  CHECK(ctl({"--socket", h.path, "cap", "12", "--heap-quota", "1M", "--heap-quota", "2M"}) == 2);

  CHECK(ctl({"--socket", h.path}) == 2);
  CHECK(ctl({"--socket", h.path, "fetch"}) == 2);
  CHECK(ctl({"--socket", h.path, "fetch", "abc"}) == 2);
  CHECK(ctl({"--socket", h.path, "fetch", "1", "2"}) == 2);
  CHECK(ctl({"--socket", h.path, "frob"}) == 2);
  CHECK(ctl({"--socket", h.path, "cap", "1", "--heap-quota", "lots"}) == 2);
  CHECK(ctl({"--socket", h.path, "fetch", "1", "--heap-quota", "1"}) == 2);
  CHECK(ctl({"--socket", h.path, "fetch", "1", "--job", "2"}) == 2);
  CHECK(ctl({"--socket", h.path, "list", "-V"}) == 0);
  CHECK(ctl({"--socket", h.path, "watch", "-h"}) == 0);
  CHECK(ctl({"--socket", h.path, "--bogus", "list"}) == 2);
  CHECK(ctl({"--socket"}) == 2);
  CHECK(ctl({"--help"}) == 0);
  CHECK(ctl({"--socket", h.dir.path + "/nothing.sock", "list"}) == 3);
}

TEST_CASE("ctl: default socket path") {
  const char* saved_s = std::getenv("SANDBOX_SOCKET");
  const char* saved_x = std::getenv("XDG_RUNTIME_DIR");
  const std::string s = saved_s ? saved_s : "", x = saved_x ? saved_x : "";
  char own[] = "/tmp/sandbox-xdg-XXXXXX";  // mkdtemp: ours, mode 0700
  REQUIRE(::mkdtemp(own) != nullptr);
  ::setenv("SANDBOX_SOCKET", "/a/b.sock", 1);
  ::setenv("XDG_RUNTIME_DIR", own, 1);
  CHECK(ctl_socket_path() == "/a/b.sock");
  ::unsetenv("SANDBOX_SOCKET");
  CHECK(ctl_socket_path() == std::string(own) + "/sandbox.sock");
  // A runtime directory others can write (or that is not ours) is passed over.
  ::setenv("XDG_RUNTIME_DIR", "/tmp", 1);
  if (::geteuid() == 0) CHECK(ctl_socket_path() == "/run/sandbox.sock");
  if (::geteuid() != 0) CHECK(ctl_socket_path().find("/tmp/sandbox.sock") == std::string::npos);
  ::unsetenv("XDG_RUNTIME_DIR");
  if (::geteuid() == 0) CHECK(ctl_socket_path() == "/run/sandbox.sock");
  ::rmdir(own);
  if (saved_s) ::setenv("SANDBOX_SOCKET", s.c_str(), 1);
  if (saved_x) ::setenv("XDG_RUNTIME_DIR", x.c_str(), 1);
}
