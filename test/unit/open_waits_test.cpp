// opening::signal_would_interrupt: when a waiting open is answered ERESTARTSYS. Answering it
// with no signal left for the thread would show the target errno 512, so each condition is
// pinned here.
#include <doctest/doctest.h>

#include <string>

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
  std::uint64_t blocked = 0;
  bool alive = false;
  const std::string live = "Name:\tx\nState:\tS (sleeping)\nSigBlk:\tfffffffe7ffbfeff\n";
  CHECK(sandbox::opening::thread_mask(live.data(), live.size(), blocked, alive));
  CHECK(alive);
  CHECK(blocked == 0xfffffffe7ffbfeffULL);
  const std::string zombie = "Name:\tx\nState:\tZ (zombie)\nSigBlk:\t0000000000000000\n";
  CHECK(sandbox::opening::thread_mask(zombie.data(), zombie.size(), blocked, alive));
  CHECK_FALSE(alive);
  const std::string partial = "Name:\tx\nSigBlk:\t0\n";
  CHECK_FALSE(sandbox::opening::thread_mask(partial.data(), partial.size(), blocked, alive));
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
