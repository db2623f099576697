// SPDX-License-Identifier: Apache-2.0
// The /metrics HTTP server (real sockets on loopback) and the systemd protocols
// (socket activation's environment, readiness datagrams).
#include <utility>  // before Asio (1.74)
//
#include <arpa/inet.h>
#include <doctest/doctest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/asio/io_context.hpp>
#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "base/unique_fd.hpp"
#include "child.hpp"  // test/host: forked children drop doctest's handlers
#include "observe/http.hpp"
#include "observe/systemd.hpp"

using namespace sandbox::observe;
using sandbox::UniqueFd;

namespace {

// A MetricsServer on 127.0.0.1:<ephemeral>, run on its own thread for the test's length.
struct Running {
  boost::asio::io_context io;
  MetricsServer server;
  std::thread thread;
  explicit Running(MetricsServer::Options o)
      : server(io, o, [](MetricsFormat f) {
          return f == MetricsFormat::openmetrics ? std::string("om_metric 1\n# EOF\n")
                                                 : std::string("metric 1\n");
        }) {
    server.start();
    thread = std::thread([this] { io.run(); });
  }
  ~Running() {
    server.stop();
    thread.join();
  }
};

UniqueFd connect_tcp(std::uint16_t port) {
  UniqueFd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(::connect(fd.get(), reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
  return fd;
}

// Everything the server sends until it closes the connection (or 60 s pass: a failure).
std::string read_all(int fd) {
  std::string out;
  char buf[4096];
  for (;;) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 60'000) <= 0) {
      out += "<no EOF within 60 s>";
      return out;
    }
    const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n <= 0) return out;
    out.append(buf, static_cast<std::size_t>(n));
  }
}

std::string exchange(std::uint16_t port, const std::string& request) {
  UniqueFd fd = connect_tcp(port);
  REQUIRE(::send(fd.get(), request.data(), request.size(), MSG_NOSIGNAL) ==
          static_cast<ssize_t>(request.size()));
  return read_all(fd.get());
}

// A server on 127.0.0.1, on a free port. Its deadline per request and its keep-alive idle time
// are 60 s -- bounds against a hang, not part of the test -- unless the test is about them: on
// a busy machine seconds may pass between two requests of a test.
MetricsServer::Options loopback(std::chrono::milliseconds timeout = std::chrono::seconds(60)) {
  MetricsServer::Options o;
  o.address = parse_listen_address("127.0.0.1:0");
  o.timeout = timeout;
  o.idle_timeout = std::chrono::seconds(60);
  return o;
}

}  // namespace

TEST_CASE("http: listen addresses; loopback unless a host is given") {
  CHECK(parse_listen_address(":9464").host == "127.0.0.1");
  CHECK(parse_listen_address("9464").port == 9464);
  CHECK(parse_listen_address("0.0.0.0:80").host == "0.0.0.0");
  CHECK(parse_listen_address("[::1]:9464").host == "::1");
  CHECK_THROWS_WITH_AS(parse_listen_address("localhost:x"), doctest::Contains("is not HOST:PORT"),
                       std::invalid_argument);
  CHECK_THROWS_WITH_AS(parse_listen_address("host.example:9464"), doctest::Contains("not an IP address"),
                       std::invalid_argument);
  CHECK_THROWS_AS(parse_listen_address(":65536"), std::invalid_argument);
  CHECK_THROWS_AS(parse_listen_address(""), std::invalid_argument);
}

TEST_CASE("http: GET /metrics answers the text, negotiated; anything else is 404 or 405") {
  Running r(loopback());
  const std::uint16_t port = r.server.port();
  REQUIRE(port != 0);
  const std::string plain = exchange(port, "GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  CHECK(plain.rfind("HTTP/1.1 200 OK\r\n", 0) == 0);
  CHECK(plain.find("Content-Type: text/plain; version=0.0.4") != std::string::npos);
  CHECK(plain.substr(plain.size() - 9) == "metric 1\n");
  const std::string om = exchange(port,
                                  "GET /metrics?x=1 HTTP/1.1\r\nHost: x\r\nAccept: "
                                  "application/openmetrics-text;version=1.0.0\r\nConnection: close\r\n\r\n");
  CHECK(om.find("Content-Type: application/openmetrics-text") != std::string::npos);
  CHECK(om.find("# EOF\n") != std::string::npos);
  CHECK(exchange(port, "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").rfind("HTTP/1.1 404", 0) ==
        0);
  CHECK(
      exchange(port, "GET /metrics/../etc HTTP/1.1\r\nConnection: close\r\n\r\n").rfind("HTTP/1.1 404", 0) ==
      0);
  CHECK(exchange(port, "POST /metrics HTTP/1.1\r\nConnection: close\r\n\r\n").rfind("HTTP/1.1 405", 0) == 0);
  const std::string head = exchange(port, "HEAD /metrics HTTP/1.1\r\nConnection: close\r\n\r\n");
  CHECK(head.rfind("HTTP/1.1 200", 0) == 0);
  CHECK(head.find("metric 1") == std::string::npos);
}

TEST_CASE("http: keep-alive serves several requests on one connection") {
  Running r(loopback());
  const std::string two = exchange(
      r.server.port(), "GET /metrics HTTP/1.1\r\n\r\nGET /metrics HTTP/1.1\r\nConnection: close\r\n\r\n");
  std::size_t n = 0;
  for (auto p = two.find("HTTP/1.1 200"); p != std::string::npos; p = two.find("HTTP/1.1 200", p + 1)) ++n;
  CHECK(n == 2);
  CHECK(r.server.requests() == 2);
}

TEST_CASE("http: an oversized request, a request with a body, and garbage are refused without an answer") {
  Running r(loopback());
  const std::string big = "GET /metrics HTTP/1.1\r\nX-Pad: " + std::string(16 * 1024, 'a') + "\r\n\r\n";
  CHECK(exchange(r.server.port(), big).find("200 OK") == std::string::npos);
  CHECK(exchange(r.server.port(), "GET /metrics HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello").find("200 OK") ==
        std::string::npos);
  CHECK(exchange(r.server.port(), "\x01\x02 nonsense\r\n\r\n").empty());
  CHECK(r.server.requests() == 0);
}

TEST_CASE("http: a client that stops mid-request is dropped after the timeout") {
  Running r(loopback(std::chrono::milliseconds(200)));
  UniqueFd fd = connect_tcp(r.server.port());
  const std::string half = "GET /metr";
  REQUIRE(::send(fd.get(), half.data(), half.size(), MSG_NOSIGNAL) > 0);
  // The server closes it: EOF (read_all waits for it).
  CHECK(read_all(fd.get()).empty());
}

namespace {

// A request on a kept-alive connection; true when its answer came (its first bytes).
bool scrape_on(int fd) {
  const std::string req = "GET /metrics HTTP/1.1\r\n\r\n";
  if (::send(fd, req.data(), req.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(req.size())) return false;
  char buf[512];
  pollfd p{fd, POLLIN, 0};
  if (::poll(&p, 1, 60'000) != 1) return false;  // a bound against a hang
  const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
  return n > 0 && std::string_view(buf, static_cast<std::size_t>(n)).starts_with("HTTP/1.1 200");
}

// Whether the server has closed `fd` already (EOF is waiting), without blocking.
bool closed_by_server(int fd) {
  pollfd p{fd, POLLIN, 0};
  if (::poll(&p, 1, 0) != 1) return false;
  char c;
  return ::recv(fd, &c, 1, MSG_PEEK) == 0 || (p.revents & (POLLHUP | POLLERR)) != 0;
}

UniqueFd connect_from(const char* source, std::uint16_t port) {
  UniqueFd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_in s{};
  s.sin_family = AF_INET;
  REQUIRE(::inet_pton(AF_INET, source, &s.sin_addr) == 1);
  REQUIRE(::bind(fd.get(), reinterpret_cast<sockaddr*>(&s), sizeof s) == 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(::connect(fd.get(), reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
  return fd;
}

// The remote address alone names the peer: lets one uid play several peers.
std::string by_address(int fd) {
  sockaddr_in a{};
  socklen_t len = sizeof a;
  ::getpeername(fd, reinterpret_cast<sockaddr*>(&a), &len);
  char text[INET_ADDRSTRLEN] = "?";
  ::inet_ntop(AF_INET, &a.sin_addr, text, sizeof text);
  return text;
}

}  // namespace

TEST_CASE("http: one local peer holding every slot idle (keep-alive) does not stop a scrape") {
  // The attack of issue 20 (4): 16 idle keep-alive connections made every scrape fail.
  auto o = loopback();
  o.max_sessions = 16;
  Running r(o);
  std::vector<UniqueFd> held;
  for (int i = 0; i < 16; ++i) {
    held.push_back(connect_tcp(r.server.port()));
    REQUIRE(scrape_on(held.back().get()));  // served once, then kept alive and left idle
  }
  // The scraper (the same uid here: the worst case, it shares the attacker's share).
  for (int i = 0; i < 10; ++i) {
    const std::string got = exchange(r.server.port(), "GET /metrics HTTP/1.1\r\nConnection: close\r\n\r\n");
    CHECK(got.starts_with("HTTP/1.1 200"));
  }
  // The attacker keeps at most its share: the rest were closed to make room (seen as EOF).
  std::size_t open = 0;
  for (const auto& fd : held) open += closed_by_server(fd.get()) ? 0 : 1;
  CHECK(open <= MetricsServer::Options{}.max_per_peer);
}

TEST_CASE("http: a peer at its share that trickles bytes keeps only its share; others are served") {
  auto o = loopback(std::chrono::milliseconds(60'000));  // trickling is not cut short here
  o.peer_of = by_address;
  Running r(o);
  std::vector<UniqueFd> attacker;
  for (std::size_t i = 0; i < o.max_sessions; ++i) {
    attacker.push_back(connect_from("127.0.0.2", r.server.port()));
    REQUIRE(::send(attacker.back().get(), "G", 1, MSG_NOSIGNAL) == 1);  // mid-request: not evictable
  }
  for (int i = 0; i < 10; ++i) {
    for (const auto& fd : attacker) ::send(fd.get(), "E", 1, MSG_NOSIGNAL);  // trickle
    UniqueFd s = connect_from("127.0.0.1", r.server.port());
    CHECK(scrape_on(s.get()));
  }
  // Its connections past its share were closed at accept (nothing idle of its own to evict).
  std::size_t open = 0;
  for (const auto& fd : attacker) open += closed_by_server(fd.get()) ? 0 : 1;
  CHECK(open <= o.max_per_peer);
  // Each connection past its share was refused or took one of its own idle ones' place.
  CHECK(r.server.refused() + r.server.evicted() == o.max_sessions - o.max_per_peer);
}

TEST_CASE("http: peers filling the table idle: a new one takes the least recently active idle slot") {
  auto o = loopback();
  o.max_sessions = 4;
  o.max_per_peer = 2;
  o.peer_of = by_address;
  Running r(o);
  std::vector<UniqueFd> held;
  for (const char* source : {"127.0.0.2", "127.0.0.2", "127.0.0.3", "127.0.0.3"}) {
    held.push_back(connect_from(source, r.server.port()));
    REQUIRE(scrape_on(held.back().get()));
  }
  UniqueFd s = connect_from("127.0.0.1", r.server.port());
  CHECK(scrape_on(s.get()));
  CHECK(closed_by_server(held[0].get()));  // the oldest idle one made room
  for (std::size_t i = 1; i < held.size(); ++i) CHECK(scrape_on(held[i].get()));
  CHECK(r.server.evicted() == 1);
}

TEST_CASE("http: the default peer of a loopback client is its uid, not its address") {
  CHECK(peer_of(-1).empty());
  auto o = loopback();
  o.max_per_peer = 2;
  Running r(o);
  UniqueFd a = connect_from("127.0.0.2", r.server.port());
  REQUIRE(scrape_on(a.get()));
  UniqueFd b = connect_from("127.0.0.3", r.server.port());
  REQUIRE(scrape_on(b.get()));
  // Another address, the same uid: the same peer, so its oldest idle connection makes room.
  UniqueFd c = connect_from("127.0.0.4", r.server.port());
  CHECK(scrape_on(c.get()));
  CHECK(read_all(a.get()).empty());  // EOF
  CHECK(scrape_on(b.get()));
  CHECK(peer_of(c.get()) == "uid " + std::to_string(::getuid()));
}

TEST_CASE("http: an idle keep-alive connection is closed after idle_timeout, a busy one after lifetime") {
  auto o = loopback();
  o.idle_timeout = std::chrono::milliseconds(100);
  Running r(o);
  UniqueFd idle = connect_tcp(r.server.port());
  REQUIRE(scrape_on(idle.get()));
  CHECK(read_all(idle.get()).empty());  // EOF (read_all waits for it)
  auto o2 = loopback();
  o2.lifetime = std::chrono::milliseconds(300);
  Running r2(o2);
  UniqueFd busy = connect_tcp(r2.server.port());
  int served = 0;
  while (served < 100'000 && scrape_on(busy.get()))
    ++served;  // asks again and again until the server hangs up
  // The server hung up (how many answers came first depends on the machine's speed: none,
  // when 300 ms pass between the accept and the first request on a busy machine).
  CHECK(served < 100'000);
  CHECK(closed_by_server(busy.get()));
}

TEST_CASE("http: a busy port is a one-line error naming the address") {
  Running r(loopback());
  MetricsServer::Options o;
  o.address.port = r.server.port();
  boost::asio::io_context io;
  MetricsServer second(io, o, [](MetricsFormat) { return std::string(); });
  const std::string where = "127.0.0.1:" + std::to_string(r.server.port());
  CHECK_THROWS_WITH_AS(second.start(), doctest::Contains(where.c_str()), std::runtime_error);
}

TEST_CASE("systemd: notify sends one datagram to a path or an abstract socket; nothing when unset") {
  using sandbox::systemd::notify;
  for (const bool abstract : {false, true}) {
    UniqueFd rx(::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0));
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    const std::string name = "/tmp/sandbox-notify-" + std::to_string(::getpid()) + (abstract ? "-a" : "-p");
    std::memcpy(a.sun_path, name.data(), name.size());
    socklen_t len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + name.size() + 1);
    if (abstract) {
      a.sun_path[0] = '\0';
      len -= 1;
    } else {
      ::unlink(name.c_str());
    }
    REQUIRE(::bind(rx.get(), reinterpret_cast<sockaddr*>(&a), len) == 0);
    ::setenv("NOTIFY_SOCKET", (abstract ? "@" + name.substr(1) : name).c_str(), 1);
    CHECK(notify("READY=1").ok());
    char buf[64] = {};
    CHECK(::recv(rx.get(), buf, sizeof buf, MSG_DONTWAIT) == 7);
    CHECK(std::string(buf) == "READY=1");
    if (!abstract) ::unlink(name.c_str());
  }
  ::setenv("NOTIFY_SOCKET", "relative/path", 1);
  CHECK(notify("READY=1").error() == EINVAL);
  ::unsetenv("NOTIFY_SOCKET");
  CHECK(notify("READY=1").ok());
}

TEST_CASE("systemd: listen_fds takes fd 3 on when LISTEN_PID is ours, and clears the environment") {
  // An abstract name of this run's own: another test run beside this one must not collide.
  const std::string name = std::string(1, '\0') + "sandbox-listen-test-" + std::to_string(::getpid());
  // In a child, so fd 3 and the environment are ours to arrange.
  const pid_t child = host::fork_child([&name] {
    int code = 0;
    const int s = ::socket(AF_UNIX, SOCK_STREAM, 0);
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    std::memcpy(a.sun_path, name.data(), name.size());
    if (::bind(s, reinterpret_cast<sockaddr*>(&a),
               static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + name.size())) != 0 ||
        ::listen(s, 4) != 0 || ::dup2(s, 3) != 3)
      return 10;
    // Someone else's pid: ignored, and the variables are gone afterwards.
    ::setenv("LISTEN_PID", std::to_string(::getppid()).c_str(), 1);
    ::setenv("LISTEN_FDS", "1", 1);
    if (!sandbox::systemd::listen_fds().empty()) code |= 1;
    if (std::getenv("LISTEN_FDS") || std::getenv("LISTEN_PID")) code |= 2;
    ::setenv("LISTEN_PID", std::to_string(::getpid()).c_str(), 1);
    ::setenv("LISTEN_FDS", "1", 1);
    ::setenv("LISTEN_FDNAMES", "control", 1);
    const auto fds = sandbox::systemd::listen_fds();
    if (fds.size() != 1 || fds[0].fd != 3 || fds[0].name != "control" || fds[0].family != AF_UNIX ||
        !fds[0].listening)
      code |= 4;
    if ((::fcntl(3, F_GETFD) & FD_CLOEXEC) == 0) code |= 8;
    if (std::getenv("LISTEN_FDNAMES")) code |= 16;
    return code;
  });
  REQUIRE(child >= 0);
  int st = 0;
  REQUIRE(::waitpid(child, &st, 0) == child);
  REQUIRE(WIFEXITED(st));
  CHECK(WEXITSTATUS(st) == 0);
}
