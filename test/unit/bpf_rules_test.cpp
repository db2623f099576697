// SPDX-License-Identifier: Apache-2.0
// The shared rules (supervisor/bpf/rules.h), compiled into the BPF programs and the C++ model:
// each rule of docs/semantics.md, and the model's counted() giving the rules' answers.
#include <doctest/doctest.h>

#include <cstdint>

#include "bpf/rules.h"
#include "model/tracker.hpp"

using namespace sandbox;

namespace {
constexpr unsigned long long kPage = 4096, kMiB = 1ULL << 20, kMax = ~0ULL;
}  // namespace

TEST_CASE("bpf rules: brk adds the growth of the page-aligned break, nothing else") {
  CHECK(tl_brk_growth(0x1000, 0x1000) == 0);          // a query
  CHECK(tl_brk_growth(0x1000, 0x1800) == kPage);      // into a new page
  CHECK(tl_brk_growth(0x1800, 0x1f00) == 0);          // within the same page
  CHECK(tl_brk_growth(0x1800, 0x3001) == 2 * kPage);  // PAGE_ALIGN(new) - PAGE_ALIGN(old)
  CHECK(tl_brk_growth(0x5000, 0x2000) == 0);          // a shrink
  CHECK(tl_brk_growth(0x2000, 0x5000) == 3 * kPage);  // a later regrowth counts again
  CHECK(tl_brk_growth(kMax - 10, kMax) == 0);         // no wrap at the top
}

TEST_CASE("bpf rules: mmap counts successful anonymous private mappings, page aligned") {
  const unsigned long long anon_private = TL_MAP_ANONYMOUS | TL_MAP_PRIVATE;
  CHECK(tl_mmap_growth(1, anon_private, 0) == kPage);
  CHECK(tl_mmap_growth(3 * kPage, anon_private | 0x100 /* MAP_FIXED-like extra bits */, 0) == 3 * kPage);
  CHECK(tl_mmap_growth(kPage, anon_private, 1) == 0);             // failed
  CHECK(tl_mmap_growth(kPage, TL_MAP_ANONYMOUS | 0x01, 0) == 0);  // MAP_SHARED
  CHECK(tl_mmap_growth(kPage, TL_MAP_PRIVATE, 0) == 0);           // file-backed
  // MAP_SHARED_VALIDATE (0x03) holds the private bit, but anonymous it always fails.
  CHECK(tl_mmap_growth(kPage, TL_MAP_ANONYMOUS | 0x03, 1) == 0);
}

TEST_CASE("bpf rules: files never go below 0; heap saturates") {
  CHECK(tl_files_after(0, -1) == 0);
  CHECK(tl_files_after(0, 1) == 1);
  CHECK(tl_files_after(2, -1) == 1);
  CHECK(tl_files_after(kMax, 1) == kMax);
  CHECK(tl_heap_after(kMax - 1, 5, 0) == kMax);
  CHECK(tl_heap_after(10, 0, 20) == 0);  // the commit rule's credit, never below 0
}

TEST_CASE("bpf rules: quotas: reaching is allowed, crossing is not; MiB and the never-exceeded cap") {
  CHECK_FALSE(tl_over(10, 10));
  CHECK(tl_over(11, 10));
  CHECK_FALSE(tl_over(kMax, TL_UNLIMITED));
  CHECK(tl_heap_quota_bytes(-1) == TL_UNLIMITED);
  CHECK(tl_heap_quota_bytes(0) == 0);
  CHECK(tl_heap_quota_bytes(3) == 3 * kMiB);
  CHECK(tl_heap_quota_bytes((1LL << 44) - 1) == static_cast<unsigned long long>((1LL << 44) - 1) << 20);
  CHECK(tl_heap_quota_bytes(1LL << 44) == TL_UNLIMITED);
  CHECK(tl_heap_quota_bytes(INT64_MAX) == TL_UNLIMITED);
}

TEST_CASE("bpf rules: the model counts with the same rules") {
  // counted() is the model's one accounting function (nodes and job shares): every case
  // above, through it, gives what the BPF programs compute.
  const Usage zero{};
  CHECK(counted(zero, Delta{0, -1, 0, 0}).files == tl_files_after(0, -1));
  CHECK(counted(Usage{kMax - 1, 0, 0}, Delta{5, 0, 0, 0}).heap == tl_heap_after(kMax - 1, 5, 0));
  for (unsigned long long h : {0ULL, 1ULL, kPage, 123456789ULL})
    for (int f : {-1, 0, 1}) {
      const Usage u =
          counted(Usage{h, 1, 0}, Delta{tl_mmap_growth(h, TL_MAP_ANONYMOUS | TL_MAP_PRIVATE, 0), f, 0, 0});
      CHECK(u.heap == tl_heap_after(h, tl_page_align(h), 0));
      CHECK(u.files == tl_files_after(1, f));
    }
}

namespace {
struct OneTask : TaskDirectory {
  std::optional<TaskFacts> live_task(Pid pid) override {
    return pid == 7 ? std::optional<TaskFacts>(TaskFacts{7}) : std::nullopt;
  }
};
}  // namespace

TEST_CASE("bpf rules: the model's resource_cap converts and enforces as the rules do") {
  for (std::int64_t mib : {0LL, 1LL, 5LL, (1LL << 44) - 1, 1LL << 44}) {
    OneTask tasks;
    Tracker t(tasks);
    REQUIRE(t.register_node(7, Actor::outside) == 0);
    t.apply(7, 7, Delta{5 * kMiB, 0, 0, 0});
    std::optional<Violation> v;
    REQUIRE(t.resource_cap(7, mib, -1, Actor::outside, v) == 0);
    CHECK(*t.find(7)->heap_quota_bytes == tl_heap_quota_bytes(mib));
    CHECK(v.has_value() == static_cast<bool>(tl_over(5 * kMiB, tl_heap_quota_bytes(mib))));
  }
}
