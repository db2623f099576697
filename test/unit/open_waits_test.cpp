// SPDX-License-Identifier: Apache-2.0
// opening::signal_would_interrupt: when a waiting open is answered ERESTARTSYS. Answering it
// with no signal left for the thread would show the target errno 512, so each condition is
// pinned here.
#include <doctest/doctest.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>

#include "open/waits.hpp"

using sandbox::opening::signal_would_interrupt;

namespace {

bool would(const std::string& pnd, const std::string& shd, const std::string& blk, int threads) {
  const std::string text = "Name:\tx\nThreads:\t" + std::to_string(threads) + "\nSigQ:\t0/1\nSigPnd:\t" +
                           pnd + "\nShdPnd:\t" + shd + "\nSigBlk:\t" + blk + "\nSigIgn:\t0000000000000000\n";
  return signal_would_interrupt(text.data(), text.size());
}

}  // namespace

TEST_CASE("waits: a signal pending for the thread and not blocked interrupts") {
  CHECK(would("0000000000000200", "0000000000000000", "0000000000000000", 3));        // SIGUSR1, tgkill
  CHECK_FALSE(would("0000000000000200", "0000000000000000", "0000000000000200", 3));  // blocked
  CHECK_FALSE(would("0000000000000000", "0000000000000000", "0000000000000000", 1));  // nothing
}

TEST_CASE("waits: a signal pending for the process counts when every other thread blocks it") {
  const std::string text =
      "Name:\tx\nThreads:\t3\nSigPnd:\t0000000000000000\nShdPnd:\t0000000000004200\n"
      "SigBlk:\t0000000000000000\n";
  CHECK(sandbox::opening::shared_for_others(text.data(), text.size()) == 0x4200);
  // Others block SIGALRM but not SIGUSR1: SIGALRM is this thread's to take.
  CHECK(signal_would_interrupt(text.data(), text.size(), 0x4000));
  // Others block neither: the kernel may have chosen another thread.
  CHECK_FALSE(signal_would_interrupt(text.data(), text.size(), 0));
  const std::string own_blocked =
      "Threads:\t2\nSigPnd:\t0\nShdPnd:\t0000000000004000\nSigBlk:\t0000000000004000\n";
  CHECK_FALSE(signal_would_interrupt(own_blocked.data(), own_blocked.size(), ~0ULL));
  CHECK(sandbox::opening::shared_for_others(own_blocked.data(), own_blocked.size()) == 0);
}

TEST_CASE("waits: another thread's mask, and whether it can still take a signal") {
  const std::string live = "Name:\tx\nState:\tS (sleeping)\nSigBlk:\tfffffffe7ffbfeff\n";
  const auto l = sandbox::opening::thread_mask(live.data(), live.size());
  REQUIRE(l);
  CHECK(l->alive);
  CHECK(l->blocked == 0xfffffffe7ffbfeffULL);
  const std::string zombie = "Name:\tx\nState:\tZ (zombie)\nSigBlk:\t0000000000000000\n";
  const auto z = sandbox::opening::thread_mask(zombie.data(), zombie.size());
  REQUIRE(z);
  CHECK_FALSE(z->alive);
  const std::string partial = "Name:\tx\nSigBlk:\t0\n";
  CHECK_FALSE(sandbox::opening::thread_mask(partial.data(), partial.size()));
}

TEST_CASE(
    "waits: a signal pending for a process of one thread counts; of several, not without the others' masks") {
  CHECK(would("0000000000000000", "0000000000004000", "0000000000000000", 1));        // SIGALRM, kill()
  CHECK_FALSE(would("0000000000000000", "0000000000004000", "0000000000000000", 2));  // another may take it
  CHECK_FALSE(would("0000000000000000", "0000000000004000", "0000000000004000", 1));  // blocked
}

TEST_CASE("waits: an unreadable status never interrupts") {
  CHECK_FALSE(signal_would_interrupt("", 0));
  const std::string partial = "SigPnd:\t0000000000000200\n";  // no ShdPnd/SigBlk/Threads
  CHECK_FALSE(signal_would_interrupt(partial.data(), partial.size()));
}

namespace {

// A channel whose one notification is pending until `valid` goes false (the target died).
struct DyingChannel final : sandbox::NotifyChannel {
  std::atomic<bool> valid{true};
  int receive(seccomp_notif&) override { return -EBADF; }
  int respond(const seccomp_notif_resp&) override { return 0; }
  bool id_valid(std::uint64_t) override { return valid; }
  int add_fd(const seccomp_notif_addfd&) override { return -ENOENT; }
  bool hung_up() override { return true; }
};

void no_op(int) {}

}  // namespace

// Issue 22, 5: an open made for a target that died waiting (a FIFO's reader) is over when
// abandon_gone() returns, so an open that follows finds no reader: ENXIO, as in the kernel.
TEST_CASE("waits: abandon_gone ends a dead target's FIFO open before it returns") {
  struct sigaction sa {};
  sa.sa_handler = no_op;  // no SA_RESTART: the open fails with EINTR
  struct sigaction old {};
  REQUIRE(::sigaction(SIGURG, &sa, &old) == 0);
  char dir[] = "/tmp/waits.XXXXXX";
  REQUIRE(::mkdtemp(dir) != nullptr);
  const std::string fifo = std::string(dir) + "/fifo";
  REQUIRE(::mkfifo(fifo.c_str(), 0600) == 0);
  {
    sandbox::opening::Waits waits(SIGURG);
    DyingChannel ch;
    std::atomic<pid_t> tid{0};
    int opened = 0, err = 0;
    std::thread reader([&] {
      sandbox::opening::Waits::Wait w(waits, ch, nullptr, 1, ::getpid(), ::getpid());
      tid = static_cast<pid_t>(::syscall(SYS_gettid));
      opened = ::open(fifo.c_str(), O_RDONLY | O_CLOEXEC);
      err = errno;
      if (opened >= 0) ::close(opened);
      w.end();
    });
    // Wait until the reader is blocked in its openat (a condition, not a delay).
    while (tid == 0) std::this_thread::yield();
    const std::string sc = "/proc/self/task/" + std::to_string(tid.load()) + "/syscall";
    for (;;) {
      char buf[64] = {};
      FILE* f = std::fopen(sc.c_str(), "r");
      REQUIRE(f != nullptr);
      const bool in_open = std::fgets(buf, sizeof buf, f) && std::strncmp(buf, "257 ", 4) == 0;
      std::fclose(f);
      if (in_open) break;
      std::this_thread::yield();
    }
    ch.valid = false;  // the target is gone
    waits.abandon_gone();
    const int w = ::open(fifo.c_str(), O_WRONLY | O_NONBLOCK | O_CLOEXEC);
    const int werr = errno;
    if (w >= 0) ::close(w);
    CHECK(w == -1);
    CHECK(werr == ENXIO);
    reader.join();
    CHECK(opened == -1);
    CHECK(err == EINTR);
  }
  ::unlink(fifo.c_str());
  ::rmdir(dir);
  ::sigaction(SIGURG, &old, nullptr);
}
