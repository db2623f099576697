// SPDX-License-Identifier: Apache-2.0
// The accounting model against the contract (docs/semantics.md), rule by rule.
#include "model/tracker.hpp"

#include <doctest/doctest.h>

#include <cerrno>
#include <map>

using namespace sandbox;

namespace {

// A fake world: which task ids are live and in scope, and their process.
struct FakeTasks : TaskDirectory {
  std::map<Pid, Pid> live;  // pid -> tgid
  std::optional<TaskFacts> live_task(Pid pid) override {
    const auto it = live.find(pid);
    if (it == live.end()) return std::nullopt;
    return TaskFacts{it->second};
  }
};

constexpr std::uint64_t MiB = 1 << 20;

struct Fixture {
  FakeTasks tasks;
  Tracker t{tasks};
  Fixture() { tasks.live = {{100, 100}, {101, 100}, {102, 100}, {200, 200}}; }
  std::uint64_t heap(Pid p) { return t.find(p)->heapsize; }
  std::uint64_t files(Pid p) { return t.find(p)->openfile_count; }
  int cap(Pid p, std::int64_t h, std::int64_t f, Actor a = Actor::target) {
    std::optional<Violation> v;
    return t.resource_cap(p, h, f, a, v);
  }
};

}  // namespace

TEST_CASE_FIXTURE(Fixture, "register: errors in contract order") {
  CHECK(t.register_node(0, Actor::target) == EINVAL);
  CHECK(t.register_node(-5, Actor::target) == EINVAL);
  CHECK(t.register_node(999, Actor::target) == ESRCH);  // no such task
  CHECK(t.register_node(100, Actor::target) == 0);
  CHECK(t.register_node(100, Actor::target) == ENFILE);
  CHECK(ENFILE == 23);
  // pid < 1 wins over "not a task", "not a task" over "already registered"
  tasks.live.erase(100);
  CHECK(t.register_node(100, Actor::target) == ESRCH);
}

TEST_CASE_FIXTURE(Fixture, "register: a new node starts at zero with no quotas") {
  REQUIRE(t.register_node(101, Actor::target) == 0);
  Node n;
  REQUIRE(t.fetch(101, n) == 0);
  CHECK(n.pid == 101);
  CHECK(n.tgid == 100);
  CHECK(n.heapsize == 0);
  CHECK(n.openfile_count == 0);
  CHECK_FALSE(n.quotas_set());
}

TEST_CASE_FIXTURE(Fixture, "fetch: errors") {
  Node n;
  CHECK(t.fetch(0, n) == EINVAL);
  CHECK(t.fetch(-1, n) == EINVAL);
  CHECK(t.fetch(100, n) == EINVAL);  // not registered (EINVAL, not ESRCH)
  CHECK(t.fetch(999, n) == EINVAL);
}

TEST_CASE_FIXTURE(Fixture, "deregister: errors and effect") {
  CHECK(t.deregister(0, Actor::target) == EINVAL);
  CHECK(t.deregister(100, Actor::target) == ESRCH);
  REQUIRE(t.register_node(100, Actor::target) == 0);
  CHECK(t.deregister(100, Actor::target) == 0);
  CHECK(t.find(100) == nullptr);
  CHECK(t.deregister(100, Actor::target) == ESRCH);
  // a node for a task that has since exited can still be deregistered (it is a node)
  REQUIRE(t.register_node(200, Actor::target) == 0);
  tasks.live.erase(200);
  CHECK(t.deregister(200, Actor::target) == 0);
}

TEST_CASE_FIXTURE(Fixture, "resource_cap: errors in contract order") {
  CHECK(cap(0, 1, 1) == ESRCH);     // no live task
  CHECK(cap(999, 1, 1) == ESRCH);   // no live task
  CHECK(cap(100, 1, 1) == EINVAL);  // not registered
  REQUIRE(t.register_node(100, Actor::target) == 0);
  CHECK(cap(100, -2, 1) == EINVAL);
  CHECK(cap(100, 1, -2) == EINVAL);
  CHECK(cap(100, 10, 5) == 0);
  CHECK(cap(100, 10, 5) == ENFILE);  // already set
  CHECK(cap(100, -2, 5) == EINVAL);  // a bad quota is reported before "already set"
}

TEST_CASE_FIXTURE(Fixture, "resource_cap: bad quota is checked before already-set") {
  REQUIRE(t.register_node(100, Actor::target) == 0);
  REQUIRE(cap(100, 10, 5) == 0);
  // Contract order: no task, not registered, quota < -1, already set.
  CHECK(cap(100, -3, 5) == EINVAL);
}

TEST_CASE_FIXTURE(Fixture, "resource_cap: -1 means unlimited, and (-1,-1) sets nothing") {
  REQUIRE(t.register_node(100, Actor::target) == 0);
  CHECK(cap(100, -1, -1) == 0);
  CHECK_FALSE(t.find(100)->quotas_set());
  CHECK(cap(100, -1, 3) == 0);  // still capable of being set
  CHECK_FALSE(t.find(100)->heap_quota_bytes.has_value());
  CHECK(*t.find(100)->file_quota == 3);
  CHECK(cap(100, 5, -1) == ENFILE);
}

TEST_CASE_FIXTURE(Fixture, "resource_cap: heap quota is MiB; huge values never overflow") {
  REQUIRE(t.register_node(100, Actor::target) == 0);
  REQUIRE(cap(100, 3, -1) == 0);
  CHECK(*t.find(100)->heap_quota_bytes == 3 * MiB);
  REQUIRE(t.register_node(200, Actor::target) == 0);
  REQUIRE(cap(200, INT64_MAX, -1) == 0);
  t.apply(200, 200, Delta{UINT64_MAX / 2, 0});
  CHECK_FALSE(t.check(200, 200, Delta{UINT64_MAX / 2, 0}).has_value());
}

TEST_CASE_FIXTURE(Fixture, "resource_cap: enforced at once when already over") {
  REQUIRE(t.register_node(100, Actor::target) == 0);
  t.apply(100, 100, Delta{5 * MiB, 0});
  std::optional<Violation> v;
  REQUIRE(t.resource_cap(100, 4, -1, Actor::target, v) == 0);
  REQUIRE(v.has_value());
  CHECK(v->node == 100);
  CHECK(v->tgid == 100);
  CHECK(v->resource == Resource::heap);
  CHECK(v->usage == 5 * MiB);
  CHECK(v->limit == 4 * MiB);
  // exactly at the quota is not over
  REQUIRE(t.register_node(200, Actor::target) == 0);
  t.apply(200, 200, Delta{4 * MiB, 0});
  REQUIRE(t.resource_cap(200, 4, -1, Actor::target, v) == 0);
  CHECK_FALSE(v.has_value());
}

TEST_CASE_FIXTURE(Fixture, "resource_reset: errors and effect") {
  CHECK(t.resource_reset(0, Actor::target) == ESRCH);
  CHECK(t.resource_reset(999, Actor::target) == ESRCH);
  CHECK(t.resource_reset(100, Actor::target) == EINVAL);
  REQUIRE(t.register_node(100, Actor::target) == 0);
  CHECK(t.resource_reset(100, Actor::target) == 0);  // nothing set: still fine
  REQUIRE(cap(100, 1, 1) == 0);
  CHECK(t.resource_reset(100, Actor::target) == 0);
  CHECK_FALSE(t.find(100)->quotas_set());
  CHECK(cap(100, 2, 2) == 0);  // can be set again
}

TEST_CASE_FIXTURE(Fixture, "attribution: leader node sees every thread, thread node only itself") {
  REQUIRE(t.register_node(100, Actor::target) == 0);  // leader
  REQUIRE(t.register_node(101, Actor::target) == 0);  // thread 101 of process 100
  t.apply(101, 100, Delta{4096, +1});                 // made by thread 101
  t.apply(102, 100, Delta{8192, +1});                 // made by thread 102 (no node)
  t.apply(100, 100, Delta{4096, 0});                  // made by the leader thread
  CHECK(heap(100) == 16384);
  CHECK(files(100) == 2);
  CHECK(heap(101) == 4096);
  CHECK(files(101) == 1);
  CHECK(t.tracked(102, 100));
  CHECK(t.tracked(101, 100));
}

TEST_CASE_FIXTURE(Fixture, "attribution: a thread node alone, without its leader") {
  REQUIRE(t.register_node(101, Actor::target) == 0);
  t.apply(102, 100, Delta{4096, +1});
  t.apply(101, 100, Delta{4096, +1});
  CHECK(heap(101) == 4096);
  CHECK(files(101) == 1);
  CHECK_FALSE(t.tracked(102, 100));
  CHECK(t.tracked(101, 100));
  CHECK_FALSE(t.tracked(200, 200));
}

TEST_CASE_FIXTURE(Fixture, "only changes after registration count") {
  t.apply(100, 100, Delta{4096, +1});
  REQUIRE(t.register_node(100, Actor::target) == 0);
  CHECK(heap(100) == 0);
  t.apply(100, 100, Delta{4096, +1});
  CHECK(heap(100) == 4096);
}

TEST_CASE_FIXTURE(Fixture, "files: close subtracts one, never below zero; heap never decreases") {
  REQUIRE(t.register_node(100, Actor::target) == 0);
  t.apply(100, 100, Delta{0, +1});
  t.apply(100, 100, Delta{0, -1});
  t.apply(100, 100, Delta{0, -1});
  CHECK(files(100) == 0);
  t.apply(100, 100, Delta{0, +1});
  CHECK(files(100) == 1);
}

TEST_CASE_FIXTURE(Fixture, "quota: over means strictly greater, for heap and files") {
  REQUIRE(t.register_node(100, Actor::target) == 0);
  REQUIRE(cap(100, 1, 2) == 0);
  CHECK_FALSE(t.check(100, 100, Delta{MiB, 0}).has_value());
  t.apply(100, 100, Delta{MiB, 0});
  auto v = t.check(100, 100, Delta{4096, 0});
  REQUIRE(v.has_value());
  CHECK(v->resource == Resource::heap);
  CHECK(v->usage == MiB + 4096);
  CHECK(v->limit == MiB);
  t.apply(100, 100, Delta{0, +2});
  v = t.check(100, 100, Delta{0, +1});
  REQUIRE(v.has_value());
  CHECK(v->resource == Resource::files);
  CHECK(v->usage == 3);
  CHECK(v->limit == 2);
  CHECK_FALSE(t.check(100, 100, Delta{0, -1}).has_value());
}

TEST_CASE_FIXTURE(Fixture, "quota: a thread node over its quota kills its whole process") {
  REQUIRE(t.register_node(100, Actor::target) == 0);
  REQUIRE(t.register_node(101, Actor::target) == 0);
  REQUIRE(cap(101, -1, 1) == 0);
  CHECK_FALSE(t.check(102, 100, Delta{0, +5}).has_value());  // another thread: not 101's
  t.apply(101, 100, Delta{0, +1});
  const auto v = t.check(101, 100, Delta{0, +1});
  REQUIRE(v.has_value());
  CHECK(v->node == 101);
  CHECK(v->tgid == 100);
}

TEST_CASE_FIXTURE(Fixture, "quota: the leader's quota counts every thread") {
  REQUIRE(t.register_node(100, Actor::target) == 0);
  REQUIRE(cap(100, -1, 2) == 0);
  t.apply(101, 100, Delta{0, +1});
  t.apply(102, 100, Delta{0, +1});
  const auto v = t.check(102, 100, Delta{0, +1});
  REQUIRE(v.has_value());
  CHECK(v->node == 100);
}

TEST_CASE_FIXTURE(Fixture, "exit: thread node goes with its thread, leader node with the process") {
  REQUIRE(t.register_node(100, Actor::target) == 0);
  REQUIRE(t.register_node(101, Actor::target) == 0);
  REQUIRE(t.register_node(200, Actor::target) == 0);
  t.thread_exited(100, 100);  // the leader thread alone exiting does not end the process
  CHECK(t.find(100) != nullptr);
  t.thread_exited(101, 100);
  CHECK(t.find(101) == nullptr);
  REQUIRE(t.register_node(102, Actor::target) == 0);
  t.process_exited(100);
  CHECK(t.find(100) == nullptr);
  CHECK(t.find(102) == nullptr);
  CHECK(t.find(200) != nullptr);
  Node n;
  CHECK(t.fetch(100, n) == EINVAL);
}

TEST_CASE_FIXTURE(Fixture, "stricter than the kernel: an outside quota cannot be lifted from inside") {
  REQUIRE(t.register_node(100, Actor::outside) == 0);
  REQUIRE(cap(100, 10, 5, Actor::outside) == 0);
  CHECK(t.resource_reset(100, Actor::target) == EPERM);
  CHECK(t.deregister(100, Actor::target) == EPERM);
  CHECK(cap(100, 20, 10, Actor::target) == ENFILE);
  // the outside may lift it; afterwards the target may manage the node again
  CHECK(t.resource_reset(100, Actor::outside) == 0);
  CHECK(t.deregister(100, Actor::target) == 0);
}

TEST_CASE_FIXTURE(Fixture, "an outside registration without quota can be dropped from inside") {
  REQUIRE(t.register_node(100, Actor::outside) == 0);
  CHECK(t.deregister(100, Actor::target) == 0);
  REQUIRE(t.register_node(200, Actor::outside) == 0);
  REQUIRE(cap(200, -1, -1, Actor::outside) == 0);  // no quota: nothing imposed
  CHECK(t.resource_reset(200, Actor::target) == 0);
}

TEST_CASE_FIXTURE(Fixture, "resource_cap_bytes: byte quotas for the CLI") {
  REQUIRE(t.register_node(100, Actor::outside) == 0);
  std::optional<Violation> v;
  REQUIRE(t.resource_cap_bytes(100, 512 * 1024, -1, Actor::outside, v) == 0);
  CHECK(*t.find(100)->heap_quota_bytes == 512 * 1024);
  CHECK(t.check(100, 100, Delta{512 * 1024 + 1, 0}).has_value());
  CHECK(t.resource_cap_bytes(100, 1, 1, Actor::outside, v) == ENFILE);
}

TEST_CASE_FIXTURE(Fixture, "nodes(): lists every node") {
  REQUIRE(t.register_node(100, Actor::target) == 0);
  REQUIRE(t.register_node(101, Actor::target) == 0);
  REQUIRE(t.register_node(200, Actor::target) == 0);
  CHECK(t.nodes().size() == 3);
  CHECK(t.size() == 3);
}
