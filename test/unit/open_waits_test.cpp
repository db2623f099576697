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

TEST_CASE("waits: a signal pending for the process counts only when it has one thread") {
  CHECK(would("0000000000000000", "0000000000004000", "0000000000000000", 1));        // SIGALRM, kill()
  CHECK_FALSE(would("0000000000000000", "0000000000004000", "0000000000000000", 2));  // another may take it
  CHECK_FALSE(would("0000000000000000", "0000000000004000", "0000000000004000", 1));  // blocked
}

TEST_CASE("waits: an unreadable status never interrupts") {
  CHECK_FALSE(signal_would_interrupt("", 0));
  const std::string partial = "SigPnd:\t0000000000000200\n";  // no ShdPnd/SigBlk/Threads
  CHECK_FALSE(signal_would_interrupt(partial.data(), partial.size()));
}
