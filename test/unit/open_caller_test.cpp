// SPDX-License-Identifier: Apache-2.0
// opening::fd_table_has_room with the RLIMIT_NOFILE the supervisor keeps between opens
// (files.cpp): a kept value that is stale low costs a read, never a false "full"; a full
// table is found full whatever was kept. Against a real child whose table is filled.
#include <doctest/doctest.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <optional>

#include "child.hpp"  // test/host: forked children drop doctest's handlers
#include "open/caller.hpp"

namespace {

// A child whose fds 0..15 are all open under a soft limit of 16, raised to `limit` after
// the fill (so 16 are open and limit - 16 are free). Killed by the destructor.
struct FilledChild {
  pid_t pid = -1;
  explicit FilledChild(rlim_t limit) {
    int ready[2];
    REQUIRE(::pipe(ready) == 0);
    pid = host::fork_child([&] {
      ::close(ready[0]);
      struct rlimit sixteen = {16, 64}, after = {limit, 64};
      if (::setrlimit(RLIMIT_NOFILE, &sixteen) != 0) return 1;
      while (::dup(0) >= 0) {
      }
      if (errno != EMFILE || ::setrlimit(RLIMIT_NOFILE, &after) != 0) return 1;
      if (::write(ready[1], "r", 1) != 1) return 1;
      for (;;) ::pause();
    });
    REQUIRE(pid >= 0);
    ::close(ready[1]);
    char c = 0;
    REQUIRE(::read(ready[0], &c, 1) == 1);
    ::close(ready[0]);
  }
  ~FilledChild() {
    ::kill(pid, SIGKILL);
    ::waitpid(pid, nullptr, 0);
  }
};

int room(pid_t pid, std::optional<std::uint64_t>& limit, bool& fresh) {
  const auto r = sandbox::opening::fd_table_has_room(pid, limit, fresh);
  return r.ok() ? (*r ? 1 : 0) : -r.error();
}

}  // namespace

TEST_CASE("fd table: room under a kept limit needs no read; a kept limit that is stale low is read again") {
  FilledChild child(32);  // fds 0..15 open, 16..31 free
  std::optional<std::uint64_t> limit;
  bool fresh = false;
  CHECK(room(child.pid, limit, fresh) == 1);  // unknown: read
  CHECK(fresh);
  CHECK(limit == 32u);
  CHECK(room(child.pid, limit, fresh) == 1);  // kept: fd 31 is free, nothing read
  CHECK_FALSE(fresh);
  limit = 8;  // kept before the limit was raised: fds 7, 6, 5 are open
  CHECK(room(child.pid, limit, fresh) == 1);
  CHECK(fresh);
  CHECK(limit == 32u);
}

TEST_CASE("fd table: a full table is full whatever limit was kept") {
  FilledChild child(16);  // fds 0..15 open under a limit of 16
  for (const std::optional<std::uint64_t> kept :
       {std::optional<std::uint64_t>{}, std::optional<std::uint64_t>{16}, std::optional<std::uint64_t>{8}}) {
    std::optional<std::uint64_t> limit = kept;
    bool fresh = false;
    CHECK(room(child.pid, limit, fresh) == 0);
    CHECK(fresh);  // a "full" answer is always given on a limit read now
    CHECK(limit == 16u);
  }
}
