// SPDX-License-Identifier: Apache-2.0
// test/host/child.hpp: a child forked by a test runs none of the test framework's code. The
// other-ABI probe's expected SIGSEGV printed doctest's whole crash report from the child
// ("test case CRASHED: SIGSEGV") into the log, which read like a failure.
#include "child.hpp"

#include <doctest/doctest.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/resource.h>
#include <unistd.h>

#include <string>

namespace {

// What the child wrote on its stdout and stderr (both into one pipe), and how it ended.
struct Ended {
  std::string said;
  int code = -1;
};

template <class Fn>
Ended observe(Fn fn) {
  int out[2];
  REQUIRE(::pipe2(out, O_CLOEXEC) == 0);
  const pid_t pid = host::fork_child([&] {
    ::dup2(out[1], 1);
    ::dup2(out[1], 2);
    const rlimit no_core{0, 0};
    ::setrlimit(RLIMIT_CORE, &no_core);
    return fn();
  });
  REQUIRE(pid >= 0);
  ::close(out[1]);
  Ended e;
  char buf[4096];
  for (ssize_t n; (n = ::read(out[0], buf, sizeof buf)) > 0;) e.said.append(buf, static_cast<std::size_t>(n));
  ::close(out[0]);
  e.code = host::wait_child(pid);
  return e;
}

}  // namespace

TEST_CASE("fork_child: a child that dies of a signal dies of it silently, with no crash report") {
  for (const int sig : {SIGSEGV, SIGABRT, SIGFPE, SIGTERM}) {
    CAPTURE(sig);
    const Ended e = observe([sig] {
      ::raise(sig);
      return 0;
    });
    CHECK(e.code == 128 + sig);
    CHECK(e.said.empty());  // doctest's handler would print "test case CRASHED: ..." here
  }
}

TEST_CASE("fork_child: a child that returns or throws exits; it never goes back to the test runner") {
  CHECK(observe([] { return 7; }).code == 7);
  const Ended threw = observe([]() -> int { throw 1; });
  CHECK(threw.code == 127);
  CHECK(threw.said.empty());
  CHECK(host::run_child([] {}) == 0);
  // An ignored signal stays ignored, as across exec.
  struct sigaction ign {
  }, old{};
  ign.sa_handler = SIG_IGN;
  REQUIRE(::sigaction(SIGUSR1, &ign, &old) == 0);
  CHECK(host::run_child([] {
          ::raise(SIGUSR1);
          return 5;
        }) == 5);
  ::sigaction(SIGUSR1, &old, nullptr);
}
