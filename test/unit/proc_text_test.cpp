// SPDX-License-Identifier: Apache-2.0
// The one parser of /proc's "Key:\tvalue" texts (target/proc_text.hpp).
#include "target/proc_text.hpp"

#include <doctest/doctest.h>

#include <cstdint>

#include "target/target.hpp"

using sandbox::target::proc_field;
using sandbox::target::proc_value;

namespace {
constexpr std::string_view kStatus =
    "Name:\tcat\nUmask:\t0022\nState:\tS (sleeping)\nTgid:\t42\nUid:\t1000\t1001\t1002\t1003\n"
    "Groups:\t4 24 27 \nSigBlk:\t0000000000010000\nThreads:\t3\nTracerPid:\t0";  // no final newline
}

TEST_CASE("proc_text: the value after Key:, the whole key only, the last line without a newline") {
  CHECK(proc_field(kStatus, "State") == "\tS (sleeping)");
  CHECK(proc_field(kStatus, "Stat").empty());  // a prefix of a key is not the key
  CHECK(proc_field(kStatus, "Missing").empty());
  std::uint64_t v = 7;
  CHECK(proc_value(kStatus, "TracerPid", v));
  CHECK(v == 0);
  CHECK(proc_value(kStatus, "Tgid", v));
  CHECK(v == 42);
}

TEST_CASE("proc_text: numbers by index and base; past the last, or not a number, is false") {
  std::uint64_t v = 0;
  CHECK(proc_value(kStatus, "Uid", v, 10, 3));
  CHECK(v == 1003);
  CHECK_FALSE(proc_value(kStatus, "Uid", v, 10, 4));
  CHECK(proc_value(kStatus, "Umask", v, 8));
  CHECK(v == 022);
  CHECK(proc_value(kStatus, "SigBlk", v, 16));
  CHECK(v == 0x10000);
  CHECK(proc_value(kStatus, "Groups", v, 10, 2));
  CHECK(v == 27);
  CHECK_FALSE(proc_value(kStatus, "Groups", v, 10, 3));  // the trailing blank is no value
  CHECK_FALSE(proc_value(kStatus, "Name", v));
  std::uint8_t small = 0;
  CHECK_FALSE(proc_value(std::string_view("Big:\t300"), "Big", small));  // out of range
}

TEST_CASE("proc_text: /proc/<tid>/syscall -- running, in a call with its first argument, outside one") {
  using sandbox::target::parse_syscall;
  using Kind = sandbox::target::SyscallState::Kind;
  CHECK(parse_syscall("running\n").kind == Kind::running);
  const auto close = parse_syscall("3 0x7 0x0 0x0 0x0 0x0 0x0 0x7ffd1234 0x7f001234\n");
  CHECK(close.kind == Kind::in_call);
  CHECK(close.nr == 3);
  CHECK(close.arg0 == 7);
  const auto read = parse_syscall("0 0x1f 0x7ffd 0x1 0x0 0x0 0x0 0x7ffd 0x7f00\n");
  CHECK(read.kind == Kind::in_call);
  CHECK(read.nr == 0);
  CHECK(read.arg0 == 0x1f);
  CHECK(parse_syscall("-1 0x7ffd1234 0x7f001234\n").kind == Kind::outside);
  CHECK(parse_syscall("").kind == Kind::unknown);
  CHECK(parse_syscall("3").kind == Kind::unknown);
  CHECK(parse_syscall("3 7").kind == Kind::unknown);
  CHECK(parse_syscall("x 0x1").kind == Kind::unknown);
}

TEST_CASE("proc_text: a task's status gives the size of its thread group (Threads:)") {
  const std::string text = std::string(kStatus) + "\nPPid:\t1";
  const auto st = sandbox::target::parse_status(text);
  REQUIRE(st);
  CHECK(st->threads == 3);
  CHECK(st->tgid == 42);
  const auto none =
      sandbox::target::parse_status("Name:\tx\nState:\tR\nTgid:\t1\nPPid:\t0\nUid:\t0\t0\t0\t0\n");
  REQUIRE(none);
  CHECK(none->threads == 0);  // not said: never taken for one thread
}
