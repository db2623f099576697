// SPDX-License-Identifier: Apache-2.0
// Unit tests for the OCI listener socket (supervisor/oci/listener.*): hostile runtime
// messages over a real Unix socket -- bad JSON, no fd, several fds, too many fds, a fd that
// is no seccomp listener, a huge message, a client that never finishes -- each refused with
// one log line, nothing admitted, and a silent client never delays the others.
// (The success path, with real runtimes, is test/containers/containers_test.sh.)
#include <doctest/doctest.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "oci/listener.hpp"

using sandbox::OciListener;
using sandbox::OpResult;
using sandbox::UniqueFd;

namespace {

struct Fixture {
  boost::asio::io_context io;
  std::string dir;
  std::string path;
  std::mutex mu;
  std::condition_variable cv;
  std::vector<std::string> lines;
  int admitted = 0;
  std::unique_ptr<OciListener> listener;
  std::thread thread;

  // The listener's deadline for a client's message: 60 s, a bound against a hang, unless a
  // test is about the deadline itself (HastyFixture) -- a busy machine may take longer than
  // a short one to deliver even a small message.
  explicit Fixture(std::chrono::milliseconds timeout = std::chrono::seconds(60)) {
    char tmpl[] = "/tmp/oci-listener-test-XXXXXX";
    REQUIRE(::mkdtemp(tmpl) != nullptr);
    dir = tmpl;
    path = dir + "/oci.sock";
    OciListener::Options o;
    o.path = path;
    o.timeout = timeout;
    o.log = [this](const std::string& l) {
      std::lock_guard lk(mu);
      lines.push_back(l);
      cv.notify_all();
    };
    listener = std::make_unique<OciListener>(io, o, [this](OciListener::Container&) {
      std::lock_guard lk(mu);
      ++admitted;
      return OpResult{};
    });
    listener->start();
    thread = std::thread([this] { io.run(); });
  }
  ~Fixture() {
    boost::asio::post(io, [this] { listener->stop(); });
    thread.join();
    listener.reset();
    ::rmdir(dir.c_str());
  }
  // The next log line (waits up to 60 s for it: a bound, not a synchronisation).
  std::string next_line(std::size_t index) {
    std::unique_lock lk(mu);
    cv.wait_for(lk, std::chrono::seconds(60), [&] { return lines.size() > index; });
    return lines.size() > index ? lines[index] : "<no line>";
  }
  UniqueFd connect() {
    UniqueFd s(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    std::strcpy(a.sun_path, path.c_str());
    REQUIRE(::connect(s.get(), reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
    return s;
  }
  // Sends `text` with `fds` in one sendmsg (as runc and crun do), then closes.
  void send(const std::string& text, const std::vector<int>& fds, bool close_after = true) {
    UniqueFd s = connect();
    send_on(s.get(), text, fds);
    if (!close_after) held.push_back(std::move(s));
  }
  static void send_on(int s, const std::string& text, const std::vector<int>& fds) {
    iovec iov{const_cast<char*>(text.data()), text.size()};
    msghdr mh{};
    mh.msg_iov = &iov;
    mh.msg_iovlen = 1;
    std::vector<char> cbuf(CMSG_SPACE(sizeof(int) * (fds.empty() ? 1 : fds.size())));
    if (!fds.empty()) {
      mh.msg_control = cbuf.data();
      mh.msg_controllen = CMSG_SPACE(sizeof(int) * fds.size());
      cmsghdr* c = CMSG_FIRSTHDR(&mh);
      c->cmsg_level = SOL_SOCKET;
      c->cmsg_type = SCM_RIGHTS;
      c->cmsg_len = CMSG_LEN(sizeof(int) * fds.size());
      std::memcpy(CMSG_DATA(c), fds.data(), sizeof(int) * fds.size());
    }
    std::size_t sent = 0;
    while (sent < text.size() || (text.empty() && sent == 0)) {
      const ssize_t n = ::sendmsg(s, &mh, MSG_NOSIGNAL);
      if (n <= 0) break;
      sent += static_cast<std::size_t>(n);
      iov.iov_base = const_cast<char*>(text.data()) + sent;
      iov.iov_len = text.size() - sent;
      mh.msg_control = nullptr;
      mh.msg_controllen = 0;
      if (text.empty()) break;
    }
  }
  std::vector<UniqueFd> held;
};

int memfd() {
  return static_cast<int>(::memfd_create("not-a-listener", MFD_CLOEXEC));
}

// A listener that drops a client after 300 ms without a complete message.
struct HastyFixture : Fixture {
  HastyFixture() : Fixture(std::chrono::milliseconds(300)) {}
};

const std::string kState =
    R"({"ociVersion":"1.0.2","fds":["seccompFd"],"pid":1,"metadata":"file-quota=3","state":{"id":"c1","pid":1}})";

}  // namespace

TEST_CASE_FIXTURE(Fixture, "oci listener: hostile runtime messages are refused with one line each") {
  UniqueFd a(memfd()), b(memfd());
  std::size_t n = 0;
  send("{not json", {a.get()});
  CHECK(next_line(n++).find("containerProcessState: not valid JSON") != std::string::npos);
  send(kState, {});
  CHECK(next_line(n++).find("names 1 fd(s) but none came with the message") != std::string::npos);
  send(kState, {a.get(), b.get()});
  CHECK(next_line(n++).find("names 1 fd(s) but 2 came with the message") != std::string::npos);
  std::vector<UniqueFd> many;
  std::vector<int> raw;
  for (int i = 0; i < 9; ++i) {
    many.emplace_back(memfd());
    raw.push_back(many.back().get());
  }
  send(kState, raw);
  CHECK(next_line(n++).find("more than 8 fds came with the message") != std::string::npos);
  send(kState, {a.get()});
  CHECK(next_line(n++).find("container 'c1' (pid 1): the \"seccompFd\" fd is not a seccomp listener") !=
        std::string::npos);
  send(std::string(sandbox::oci::kMaxStateBytes + 100, '['), {a.get()});
  CHECK(next_line(n++).find("message longer than") != std::string::npos);
  send("", {});
  CHECK(next_line(n++).find("closed the connection without a message") != std::string::npos);
  for (std::size_t i = 0; i < n; ++i) {
    CHECK(next_line(i).find('\n') == std::string::npos);
    CHECK(next_line(i).rfind("sandbox: oci-listener: runtime pid ", 0) == 0);
  }
  CHECK(listener->refused() == n);
  CHECK(listener->admitted() == 0);
  std::lock_guard lk(mu);
  CHECK(admitted == 0);
}

TEST_CASE_FIXTURE(Fixture, "oci listener: a client that never finishes delays nobody") {
  send(R"({"ociVersion":"1.0.2",)", {}, /*close_after=*/false);  // half a message, kept open
  send(kState, {});                                              // a second client, after the silent one
  // The second client is answered while the first still holds its connection (no deadline
  // can end it within the test): the first did not hold the listener.
  CHECK(next_line(0).find("none came with the message") != std::string::npos);
  held.clear();  // the first ends, unterminated
  CHECK(next_line(1).find("message ended before its JSON did") != std::string::npos);
  CHECK(listener->refused() == 2);
}

TEST_CASE_FIXTURE(HastyFixture, "oci listener: a client that never finishes is dropped after the deadline") {
  send(R"({"ociVersion":"1.0.2",)", {}, /*close_after=*/false);  // half a message, kept open
  CHECK(next_line(0).find("no complete message within 300 ms; dropped") != std::string::npos);
  CHECK(listener->refused() == 1);
}

TEST_CASE_FIXTURE(Fixture, "oci listener: a slow 250 KiB unterminated prefix costs linear parse work") {
  // The attack of issue 20 (8): each chunk made the whole buffer be parsed again.
  UniqueFd slow = connect();
  const std::string head = R"({"ociVersion":"1.0.2","annotations":{"x":")";
  const std::string chunk(1024, 'a');
  std::size_t sent = 0;
  REQUIRE(::send(slow.get(), head.data(), head.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(head.size()));
  sent += head.size();
  for (int i = 0; i < 250; ++i) {
    REQUIRE(::send(slow.get(), chunk.data(), chunk.size(), MSG_NOSIGNAL) ==
            static_cast<ssize_t>(chunk.size()));
    sent += chunk.size();
    if (i == 125) send(kState, {});  // another client meanwhile: answered while this one trickles
  }
  CHECK(next_line(0).find("none came with the message") != std::string::npos);
  slow.reset();  // it ends, unterminated
  CHECK(next_line(1).find("message ended before its JSON did") != std::string::npos);
  // Every byte was looked at once; only the complete message was parsed.
  CHECK(listener->scanned() == sent + kState.size());
  CHECK(listener->parsed() == 1);
}

TEST_CASE("oci listener: a message's end is found byte by byte, strings and escapes aside") {
  const auto ends = [](std::vector<std::string> chunks) {
    sandbox::oci::MessageEnd e;
    for (const auto& c : chunks)
      if (e.feed(c)) return true;
    return false;
  };
  CHECK(ends({R"({"a":"}"})"}));
  CHECK(!ends({R"({"a":"})"}));
  CHECK(!ends({R"({"a":"\"})", R"(})"}));
  CHECK(ends({R"({"a":"\\"})", R"(})"}));
  CHECK(ends({"  {", "\"b\":[1,{}", "]", "}"}));
  CHECK(!ends({"  {", "\"b\":[1,{}", "]"}));
  CHECK(ends({"7"}));  // not an object: ends, and the parse refuses it
  CHECK(ends({"}"}));  // likewise
  CHECK(!ends({" \n\t"}));
}

TEST_CASE("oci listener: one uid has at most max_per_peer connections being read; the rest are refused") {
  boost::asio::io_context io;
  char tmpl[] = "/tmp/oci-listener-test-XXXXXX";
  REQUIRE(::mkdtemp(tmpl) != nullptr);
  const std::string path = std::string(tmpl) + "/oci.sock";
  std::mutex mu;
  std::condition_variable cv;
  std::vector<std::string> lines;
  OciListener::Options o;
  o.path = path;
  o.max_per_peer = 2;
  o.timeout = std::chrono::seconds(60);  // the two being read are not dropped meanwhile, however slow
  o.log = [&](const std::string& l) {
    std::lock_guard lk(mu);
    lines.push_back(l);
    cv.notify_all();
  };
  OciListener l(io, o, [](OciListener::Container&) { return OpResult{}; });
  l.start();
  std::thread t([&] { io.run(); });
  std::vector<UniqueFd> held;
  for (int i = 0; i < 3; ++i) {
    held.emplace_back(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    std::strcpy(a.sun_path, path.c_str());
    REQUIRE(::connect(held.back().get(), reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
  }
  {
    std::unique_lock lk(mu);
    cv.wait_for(lk, std::chrono::seconds(60), [&] { return !lines.empty(); });  // a bound
    REQUIRE(lines.size() == 1);
    CHECK(lines[0].find("has 2 connections being read already; refused") != std::string::npos);
  }
  char c;
  CHECK(::recv(held[2].get(), &c, 1, 0) == 0);  // the third one was closed (EOF)
  held.clear();
  boost::asio::post(io, [&] { l.stop(); });
  t.join();
  ::rmdir(tmpl);
}
