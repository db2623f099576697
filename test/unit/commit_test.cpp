// SPDX-License-Identifier: Apache-2.0
// The commit rule's accounting of one address space (model/commit.hpp): mmap, munmap,
// mprotect, mremap and fork sequences, charge by charge.
#include "model/commit.hpp"

#include <doctest/doctest.h>

using namespace sandbox;

namespace {

constexpr std::uint64_t KiB = 1024, MiB = 1 << 20;
constexpr std::uint64_t A = 0x7f0000000000;  // an address to lay mappings at

MappingFacts anon_rw(std::uint64_t s, std::uint64_t e) {
  return {s, e, true, true, true};
}

}  // namespace

TEST_CASE("commit: heap rule names") {
  CHECK(to_string(HeapRule::kernel) == "kernel");
  CHECK(to_string(HeapRule::commit) == "commit");
  CHECK(parse_heap_rule("commit") == HeapRule::commit);
  CHECK(parse_heap_rule("kernel") == HeapRule::kernel);
  CHECK_FALSE(parse_heap_rule("Commit"));
  CHECK_FALSE(parse_heap_rule(""));
}

TEST_CASE("commit: private writable mappings are charged when made and credited when unmapped") {
  CommitMap m;
  auto c = m.map_fixed(A, 10 * MiB, true, true);
  CHECK(c.charge == 10 * MiB);
  CHECK(c.credit == 0);
  CHECK(m.total() == 10 * MiB);
  // A partial unmap credits exactly the pages it removes, from the middle too.
  c = m.unmap(A + 2 * MiB, 3 * MiB);
  CHECK(c.credit == 3 * MiB);
  CHECK(m.total() == 7 * MiB);
  // Unmapping a hole credits nothing; unmapping across it only the mapped part.
  CHECK(m.unmap(A + 2 * MiB, 3 * MiB).credit == 0);
  CHECK(m.unmap(A + 1 * MiB, 5 * MiB).credit == 2 * MiB);
  CHECK(m.total() == 5 * MiB);
  // The length rounds up to pages, as the kernel's.
  CHECK(m.map_fixed(A + 100 * MiB, 1, true, true).charge == 4 * KiB);
}

TEST_CASE("commit: shared, read-only and PROT_NONE mappings are not charged") {
  CommitMap m;
  CHECK(m.map_fixed(A, 64 * MiB, true, false).charge == 0);            // PROT_NONE reservation
  CHECK(m.map_fixed(A + 64 * MiB, 8 * MiB, false, true).charge == 0);  // MAP_SHARED
  CHECK(m.total() == 0);
  CHECK(m.unmap(A, 72 * MiB).credit == 0);
}

TEST_CASE("commit: a reservation is charged as mprotect makes parts of it writable (glibc arenas)") {
  CommitMap m;
  m.map_fixed(A, 64 * MiB, true, false);
  CHECK(m.protect(A, 132 * KiB, true).charge == 132 * KiB);
  CHECK(m.protect(A, 132 * KiB, true).charge == 0);  // already charged
  CHECK(m.protect(A, 1 * MiB, true).charge == 1 * MiB - 132 * KiB);
  CHECK(m.total() == 1 * MiB);
  // Taking the write right away keeps the charge (VM_ACCOUNT stays).
  CHECK(m.protect(A, 1 * MiB, false).charge == 0);
  CHECK(m.total() == 1 * MiB);
  // ...until the pages are unmapped: the whole reservation goes, only the charged part is credited.
  CHECK(m.unmap(A, 64 * MiB).credit == 1 * MiB);
  CHECK(m.total() == 0);
}

TEST_CASE("commit: mprotect stops at the first hole, keeping what it changed; shared pages stay free") {
  CommitMap m;
  m.map_fixed(A, 1 * MiB, true, false);
  m.map_fixed(A + 2 * MiB, 1 * MiB, true, false);
  CHECK(m.protect(A, 3 * MiB, true).charge == 1 * MiB);      // [A+1M, A+2M) is a hole: ENOMEM there
  CHECK(m.protect(A + 1 * MiB, 1 * MiB, true).charge == 0);  // starts in the hole: nothing
  m.map_fixed(A + 4 * MiB, 1 * MiB, false, false);
  CHECK(m.protect(A + 4 * MiB, 1 * MiB, true).charge == 0);
}

TEST_CASE("commit: MAP_FIXED over existing mappings replaces them") {
  CommitMap m;
  m.map_fixed(A, 4 * MiB, true, true);
  auto c = m.map_fixed(A + 1 * MiB, 2 * MiB, true, true);
  CHECK(c.credit == 2 * MiB);
  CHECK(c.charge == 2 * MiB);
  CHECK(m.total() == 4 * MiB);
  c = m.map_fixed(A, 4 * MiB, true, false);  // a PROT_NONE mapping laid over all of it
  CHECK(c.credit == 4 * MiB);
  CHECK(c.charge == 0);
  CHECK(m.total() == 0);
}

TEST_CASE("commit: mappings placed by the kernel are pending until a sync places them") {
  CommitMap m;
  CHECK(m.map_anywhere(2 * MiB, true, true).charge == 2 * MiB);
  CHECK(m.needs_sync());
  CHECK(m.total() == 2 * MiB);
  // The read shows it: pending paid, nothing new charged.
  auto c = m.sync({anon_rw(A, A + 2 * MiB)});
  CHECK(c.charge == 0);
  CHECK_FALSE(m.needs_sync());
  CHECK(m.pending() == 0);
  CHECK(m.total() == 2 * MiB);
  CHECK(m.unmap(A, 2 * MiB).credit == 2 * MiB);
  // A read that does not show it yet (the call in flight): still pending, nothing credited.
  m.map_anywhere(1 * MiB, true, true);
  CHECK(m.sync({}).charge == 0);
  CHECK(m.needs_sync());
  CHECK(m.total() == 1 * MiB);
  // Pages found that nothing explains (a stack that grew): charged at the sync.
  c = m.sync({anon_rw(A, A + 1 * MiB), anon_rw(A + 8 * MiB, A + 9 * MiB)});
  CHECK(c.charge == 1 * MiB);
  CHECK(m.total() == 2 * MiB);
  // Pages the map knows and the read misses are kept (never credited by a read).
  CHECK(m.sync({}).credit == 0);
  CHECK(m.total() == 2 * MiB);
}

TEST_CASE("commit: a reservation placed by the kernel, then made writable") {
  CommitMap m;
  CHECK(m.map_anywhere(128 * MiB, true, false).charge == 0);
  CHECK(m.needs_sync());
  CHECK(m.sync({{A, A + 128 * MiB, true, false, false}}).charge == 0);
  CHECK(m.protect(A, 132 * KiB, true).charge == 132 * KiB);
  CHECK(m.unmap(A + 64 * MiB, 64 * MiB).credit == 0);  // the arena's trim
}

TEST_CASE("commit: load charges what smaps shows accounted or private and writable") {
  CommitMap m;
  const auto c = m.load({
      {A, A + 1 * MiB, true, true, true},              // heap
      {A + 1 * MiB, A + 2 * MiB, true, false, true},   // RELRO: once writable (ac)
      {A + 2 * MiB, A + 3 * MiB, true, false, false},  // read-only text
      {A + 3 * MiB, A + 4 * MiB, false, true, false},  // shared
      {A + 4 * MiB, A + 5 * MiB, true, true, false},   // MAP_NORESERVE, writable
  });
  CHECK(c.charge == 3 * MiB);
  CHECK(m.total() == 3 * MiB);
  CHECK(m.loaded());
}

TEST_CASE("commit: mremap grows, shrinks and moves the charge") {
  CommitMap m;
  m.map_fixed(A, 4 * MiB, true, true);
  SUBCASE("shrink in place credits the tail") {
    CHECK(m.remap(A, 4 * MiB, 1 * MiB, 0, 0).credit == 3 * MiB);
    CHECK(m.total() == 1 * MiB);
  }
  SUBCASE("grow in place charges the growth") {
    CHECK(m.remap(A, 4 * MiB, 6 * MiB, 0, 0).charge == 2 * MiB);
    CHECK(m.total() == 6 * MiB);
    CHECK(m.unmap(A, 6 * MiB).credit == 6 * MiB);
  }
  SUBCASE("grow in place blocked by a neighbour: ENOMEM, nothing changes") {
    m.map_fixed(A + 4 * MiB, 1 * MiB, true, false);
    const auto c = m.remap(A, 4 * MiB, 6 * MiB, 0, 0);
    CHECK(c.charge == 0);
    CHECK(m.total() == 4 * MiB);
  }
  SUBCASE("MAYMOVE: the charge and its growth go pending until placed") {
    CHECK(m.remap(A, 4 * MiB, 6 * MiB, 1, 0).charge == 2 * MiB);
    CHECK(m.total() == 6 * MiB);
    CHECK(m.needs_sync());
    CHECK(m.sync({anon_rw(A + 100 * MiB, A + 106 * MiB)}).charge == 0);
    CHECK(m.total() == 6 * MiB);
  }
  SUBCASE("FIXED: moves over a target, which is unmapped first") {
    m.map_fixed(A + 10 * MiB, 2 * MiB, true, true);
    const auto c = m.remap(A, 4 * MiB, 4 * MiB, 1 | 2, A + 10 * MiB);
    CHECK(c.credit == 2 * MiB);
    CHECK(c.charge == 0);
    CHECK(m.total() == 4 * MiB);
    CHECK(m.unmap(A, 4 * MiB).credit == 0);
    CHECK(m.unmap(A + 10 * MiB, 4 * MiB).credit == 4 * MiB);
  }
  SUBCASE("DONTUNMAP: the old range stays charged, the new one is charged too") {
    CHECK(m.remap(A, 4 * MiB, 4 * MiB, 1 | 2 | 4, A + 10 * MiB).charge == 4 * MiB);
    CHECK(m.total() == 8 * MiB);
  }
}

TEST_CASE("commit: a fork child starts with its parent's charge, and the two go their own ways") {
  CommitMap parent;
  parent.map_fixed(A, 30 * MiB, true, true);
  parent.map_fixed(A + 64 * MiB, 64 * MiB, true, false);
  CommitMap child = parent.fork();
  CHECK(child.total() == 30 * MiB);
  CHECK(child.unmap(A, 10 * MiB).credit == 10 * MiB);
  CHECK(child.protect(A + 64 * MiB, 1 * MiB, true).charge == 1 * MiB);
  CHECK(parent.total() == 30 * MiB);
  CHECK(child.total() == 21 * MiB);
}

TEST_CASE("commit: a MAP_FIXED that may still fail credits nothing it replaces") {
  CommitMap m;
  m.map_fixed(A, 4 * MiB, true, true);
  m.map_fixed(A + 4 * MiB, 4 * MiB, true, false);
  // A file mapping over both (its fd may turn out unreadable): the charged half stays
  // charged, the reservation takes the new mapping's charge.
  const auto c = m.map_fixed(A + 2 * MiB, 4 * MiB, true, true, /*may_fail=*/true);
  CHECK(c.credit == 0);
  CHECK(c.charge == 2 * MiB);
  CHECK(m.total() == 6 * MiB);
  // A shared one over charged pages: still charged (over-counted until unmapped).
  CHECK(m.map_fixed(A, 1 * MiB, false, true, true).charge == 0);
  CHECK(m.unmap(A, 8 * MiB).credit == 6 * MiB);
}
