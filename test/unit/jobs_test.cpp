// SPDX-License-Identifier: Apache-2.0
// The job model: a quota over a command and every process it starts (issue 13).
#include "model/jobs.hpp"

#include <doctest/doctest.h>

#include <cerrno>

using namespace sandbox;

namespace {

constexpr std::uint64_t MiB = 1 << 20;

JobSpec spec(std::optional<std::uint64_t> heap, std::optional<std::uint64_t> files, bool history = false) {
  JobSpec s;
  s.root = 100;
  s.owner = 1000;
  s.heap_quota_bytes = heap;
  s.file_quota = files;
  s.keep_history = history;
  return s;
}

Usage usage(const Jobs& jobs, JobId id) {
  JobView v;
  REQUIRE(jobs.fetch(id, v) == 0);
  return v.usage;
}

JobView view(const Jobs& jobs, JobId id) {
  JobView v;
  REQUIRE(jobs.fetch(id, v) == 0);
  return v;
}

}  // namespace

TEST_CASE("jobs: scope names round-trip, anything else is refused") {
  CHECK(parse_scope("job") == Scope::job);
  CHECK(parse_scope("process") == Scope::process);
  CHECK_FALSE(parse_scope("Job").has_value());
  CHECK_FALSE(parse_scope("").has_value());
  CHECK(to_string(Scope::job) == "job");
  CHECK(to_string(Scope::process) == "process");
}

TEST_CASE("jobs: the one accounting function is the node rules") {
  // heap grows and saturates; files never go below 0
  CHECK(counted({0, 0}, Delta{4096, 0}).heap == 4096);
  CHECK(counted({UINT64_MAX - 1, 0}, Delta{4096, 0}).heap == UINT64_MAX);
  CHECK(counted({0, 0}, Delta{0, -1}).files == 0);
  CHECK(counted({0, 2}, Delta{0, -1}).files == 1);
  CHECK(counted({0, 2}, Delta{0, +1}).files == 3);
}

TEST_CASE("jobs: a job counts only with quotas or when tracked; a process-scope job without them is free") {
  Jobs jobs;
  const JobId free_job = jobs.create(spec(std::nullopt, std::nullopt));
  jobs.enter(free_job, 100);
  CHECK(jobs.job_of(100) == free_job);
  CHECK_FALSE(jobs.counting(100));
  jobs.apply(100, Delta{4096, 1});
  CHECK(usage(jobs, free_job).heap == 0);

  JobSpec tracked = spec(std::nullopt, std::nullopt);
  tracked.track = true;
  const JobId t = jobs.create(tracked);
  jobs.enter(t, 200);
  CHECK(jobs.counting(200));
  jobs.apply(200, Delta{4096, 1});
  CHECK(usage(jobs, t).heap == 4096);
  CHECK(usage(jobs, t).files == 1);
  CHECK(jobs.counting(300) == false);  // in no job
}

TEST_CASE("jobs: the job's totals are the sums of its live processes' shares") {
  Jobs jobs;
  const JobId j = jobs.create(spec(100 * MiB, 50));
  for (Pid p : {100, 101, 102}) jobs.enter(j, p);
  jobs.apply(100, Delta{10 * MiB, 0});
  jobs.apply(101, Delta{20 * MiB, 0});
  jobs.apply(102, Delta{30 * MiB, 0});
  jobs.apply(100, Delta{0, +1});
  jobs.apply(101, Delta{0, +1});
  jobs.apply(101, Delta{0, +1});
  CHECK(usage(jobs, j).heap == 60 * MiB);
  CHECK(usage(jobs, j).files == 3);
  CHECK(view(jobs, j).processes == 3);
  CHECK(view(jobs, j).live == 3);
  CHECK(view(jobs, j).peak_heap == 60 * MiB);
  CHECK(view(jobs, j).peak_files == 3);
}

TEST_CASE("jobs: a close of an inherited fd cannot take another process's files away") {
  Jobs jobs;
  const JobId j = jobs.create(spec(std::nullopt, 5));
  jobs.enter(j, 100);
  jobs.enter(j, 101);
  jobs.apply(100, Delta{0, +1});
  jobs.apply(100, Delta{0, +1});
  // 101 was forked with 100's fds and closes three of them: its own share stays at 0.
  for (int i = 0; i < 3; ++i) jobs.apply(101, Delta{0, -1});
  CHECK(usage(jobs, j).files == 2);
}

TEST_CASE("jobs: a process that ends takes its share with it; peaks remain") {
  Jobs jobs;
  const JobId j = jobs.create(spec(100 * MiB, 10));
  jobs.enter(j, 100);
  jobs.enter(j, 101);
  jobs.apply(100, Delta{10 * MiB, +1});
  jobs.apply(101, Delta{40 * MiB, +1});
  jobs.apply(101, Delta{0, +1});
  jobs.leave(101, Ending::exit, 0);
  CHECK(usage(jobs, j).heap == 10 * MiB);
  CHECK(usage(jobs, j).files == 1);
  CHECK(view(jobs, j).peak_heap == 50 * MiB);
  CHECK(view(jobs, j).peak_files == 3);
  CHECK(view(jobs, j).live == 1);
  CHECK(view(jobs, j).processes == 2);
  CHECK(jobs.job_of(101) == 0);
  jobs.leave(101, Ending::exit, 0);  // twice: no-op
  CHECK(usage(jobs, j).heap == 10 * MiB);
  // the freed room is usable again
  CHECK_FALSE(jobs.check(100, Delta{90 * MiB, 0}).has_value());
}

TEST_CASE("jobs: children each under the quota but together over it cross the job's quota") {
  Jobs jobs;
  const JobId j = jobs.create(spec(50 * MiB, std::nullopt));
  for (Pid p = 100; p < 104; ++p) jobs.enter(j, p);
  for (Pid p = 100; p < 103; ++p) {
    REQUIRE_FALSE(jobs.check(p, Delta{15 * MiB, 0}).has_value());
    jobs.apply(p, Delta{15 * MiB, 0});
  }
  // 45 MiB so far; 5 MiB more is exactly the quota (allowed), one page more is not
  CHECK_FALSE(jobs.check(103, Delta{5 * MiB, 0}).has_value());
  const auto v = jobs.check(103, Delta{5 * MiB + 4096, 0});
  REQUIRE(v.has_value());
  CHECK(v->job == j);
  CHECK(v->pid == 103);
  CHECK(v->resource == Resource::heap);
  CHECK(v->usage == 50 * MiB + 4096);
  CHECK(v->limit == 50 * MiB);
  CHECK(v->totals.heap == 50 * MiB + 4096);
  CHECK(v->live == 4);
  // check() changes nothing
  CHECK(usage(jobs, j).heap == 45 * MiB);
}

TEST_CASE("jobs: the file quota, reached exactly is allowed, one more is a violation") {
  Jobs jobs;
  const JobId j = jobs.create(spec(std::nullopt, 3));
  jobs.enter(j, 100);
  jobs.enter(j, 101);
  jobs.apply(100, Delta{0, +1});
  jobs.apply(101, Delta{0, +1});
  CHECK_FALSE(jobs.check(101, Delta{0, +1}).has_value());
  jobs.apply(101, Delta{0, +1});
  const auto v = jobs.check(100, Delta{0, +1});
  REQUIRE(v.has_value());
  CHECK(v->resource == Resource::files);
  CHECK(v->usage == 4);
  CHECK(v->limit == 3);
  CHECK(v->pid == 100);
  CHECK(v->totals.files == 4);
  // a close never crosses
  CHECK_FALSE(jobs.check(100, Delta{0, -1}).has_value());
  // heap is checked before files when one call would cross both (as for nodes)
  Jobs both;
  const JobId b = both.create(spec(0, 0));
  both.enter(b, 1);
  const auto v2 = both.check(1, Delta{4096, +1});
  REQUIRE(v2.has_value());
  CHECK(v2->resource == Resource::heap);
}

TEST_CASE("jobs: a process not in the job is never charged, and never crosses") {
  Jobs jobs;
  const JobId j = jobs.create(spec(MiB, 1));
  jobs.enter(j, 100);
  CHECK_FALSE(jobs.check(555, Delta{100 * MiB, 1}).has_value());
  jobs.apply(555, Delta{100 * MiB, 1});
  CHECK(usage(jobs, j).heap == 0);
}

TEST_CASE("jobs: enter is idempotent; a stale entry in another job is moved") {
  Jobs jobs;
  const JobId a = jobs.create(spec(std::nullopt, 10));
  const JobId b = jobs.create(spec(std::nullopt, 10));
  jobs.enter(a, 100);
  jobs.apply(100, Delta{0, +1});
  jobs.enter(a, 100);
  CHECK(view(jobs, a).processes == 1);
  CHECK(usage(jobs, a).files == 1);
  jobs.enter(b, 100);  // only a reused pid can do this: the old share goes
  CHECK(jobs.job_of(100) == b);
  CHECK(usage(jobs, a).files == 0);
  CHECK(view(jobs, a).live == 0);
  CHECK(usage(jobs, b).files == 0);
  jobs.enter(999, 7);  // no such job
  CHECK(jobs.job_of(7) == 0);
}

TEST_CASE("jobs: cap, reset and fetch follow the node operations' error rules") {
  Jobs jobs;
  const JobId j = jobs.create(spec(std::nullopt, std::nullopt));
  std::optional<JobViolation> enforce;
  JobView v;
  CHECK(jobs.fetch(99, v) == ESRCH);
  CHECK(jobs.cap(99, false, MiB, 1, enforce) == ESRCH);
  CHECK(jobs.reset(99) == ESRCH);
  CHECK(jobs.cap(j, true, MiB, 1, enforce) == EINVAL);
  CHECK(jobs.cap(j, false, std::nullopt, std::nullopt, enforce) == 0);  // sets nothing, repeatable
  CHECK_FALSE(view(jobs, j).counting);
  CHECK(jobs.cap(j, false, 2 * MiB, std::nullopt, enforce) == 0);
  CHECK(view(jobs, j).counting);
  CHECK(*view(jobs, j).heap_quota_bytes == 2 * MiB);
  CHECK(jobs.cap(j, false, MiB, 1, enforce) == ENFILE);
  CHECK(jobs.cap(j, true, MiB, 1, enforce) == EINVAL);  // a bad quota before "already set"
  CHECK(jobs.reset(j) == 0);
  CHECK_FALSE(view(jobs, j).heap_quota_bytes.has_value());
  CHECK(view(jobs, j).counting);  // it keeps counting
  CHECK(jobs.cap(j, false, MiB, 1, enforce) == 0);
}

TEST_CASE("jobs: a cap counts from then on, and is enforced at once") {
  Jobs jobs;
  const JobId j = jobs.create(spec(std::nullopt, std::nullopt));
  jobs.enter(j, 100);
  jobs.apply(100, Delta{8 * MiB, +1});  // not counting yet: lost, as before a registration
  std::optional<JobViolation> enforce;
  REQUIRE(jobs.cap(j, false, std::nullopt, 2, enforce) == 0);
  CHECK_FALSE(enforce.has_value());
  jobs.apply(100, Delta{8 * MiB, +1});
  CHECK(usage(jobs, j).heap == 8 * MiB);
  CHECK(usage(jobs, j).files == 1);
  REQUIRE(jobs.reset(j) == 0);
  jobs.apply(100, Delta{0, +1});
  jobs.apply(100, Delta{0, +1});
  REQUIRE(jobs.cap(j, false, 4 * MiB, std::nullopt, enforce) == 0);
  REQUIRE(enforce.has_value());
  CHECK(enforce->job == j);
  CHECK(enforce->resource == Resource::heap);
  CHECK(enforce->usage == 8 * MiB);
  CHECK(enforce->limit == 4 * MiB);
  CHECK(enforce->totals.files == 3);
}

TEST_CASE("jobs: killed jobs remember the first violation; members end as killed") {
  Jobs jobs;
  const JobId j = jobs.create(spec(MiB, std::nullopt, /*history=*/true));
  jobs.enter(j, 100);
  jobs.enter(j, 101);
  jobs.enter(j, 102);
  jobs.leave(102, Ending::exit, 3);  // ended before the kill
  auto v = jobs.check(101, Delta{2 * MiB, 0});
  REQUIRE(v.has_value());
  CHECK_FALSE(jobs.killed(j));
  jobs.mark_killed(*v);
  CHECK(jobs.killed(j));
  JobViolation later = *v;
  later.pid = 100;
  jobs.mark_killed(later);
  CHECK(view(jobs, j).killed->pid == 101);
  CHECK(jobs.members(j) == std::vector<Pid>{100, 101});
  jobs.leave(100, Ending::unknown, -1);
  jobs.leave(101, Ending::exit, 0);  // an exit_group that got through first stays an exit
  const auto h = jobs.history(j);
  REQUIRE(h.size() == 3);
  CHECK(h[0].pid == 102);
  CHECK(h[0].end == Ending::exit);
  CHECK(h[0].code == 3);
  CHECK(h[1].pid == 100);
  CHECK(h[1].end == Ending::killed);
  CHECK(h[2].end == Ending::exit);
}

TEST_CASE("jobs: history records pid, argv[0], peaks and the ending; live ones are running") {
  Jobs jobs;
  const JobId j = jobs.create(spec(100 * MiB, 100, /*history=*/true));
  jobs.enter(j, 100);
  jobs.name(100, "make");
  jobs.enter(j, 101);
  jobs.name(101, "cc1");
  jobs.name(101, std::string(1000, 'x'));  // exec: the new name, bounded
  jobs.apply(101, Delta{3 * MiB, +1});
  jobs.apply(101, Delta{0, +1});
  jobs.apply(101, Delta{0, -1});
  jobs.apply(101, Delta{MiB, 0});
  jobs.leave(101, Ending::unknown, -1);
  jobs.reaped(101, Ending::signal, 15);
  jobs.reaped(555, Ending::exit, 0);  // not ours: nothing happens
  const auto h = jobs.history(j);
  REQUIRE(h.size() == 2);
  CHECK(h[0].pid == 101);
  CHECK(h[0].argv0 == std::string(255, 'x'));
  CHECK(h[0].peak_heap == 4 * MiB);
  CHECK(h[0].peak_files == 2);
  CHECK(h[0].end == Ending::signal);
  CHECK(h[0].code == 15);
  CHECK(h[1].pid == 100);
  CHECK(h[1].argv0 == "make");
  CHECK(h[1].end == Ending::running);
  // reaped() makes only an unknown ending exact
  jobs.leave(100, Ending::exit, 0);
  jobs.reaped(100, Ending::signal, 9);
  CHECK(jobs.history(j)[1].end == Ending::exit);
}

TEST_CASE("jobs: without history nothing is kept per ended process") {
  Jobs jobs;
  const JobId j = jobs.create(spec(MiB, 10));
  for (Pid p = 100; p < 200; ++p) {
    jobs.enter(j, p);
    jobs.name(p, "sh");
    jobs.leave(p, Ending::exit, 0);
  }
  CHECK(jobs.history(j).empty());
  CHECK(jobs.members() == 0);
  CHECK(view(jobs, j).processes == 100);
  CHECK_FALSE(jobs.keeps_history(j));
}

TEST_CASE("jobs: list in id order; remove forgets a job and its processes") {
  Jobs jobs;
  const JobId a = jobs.create(spec(MiB, 1));
  const JobId b = jobs.create(spec(std::nullopt, std::nullopt));
  jobs.enter(a, 100);
  jobs.enter(b, 200);
  const auto l = jobs.list();
  REQUIRE(l.size() == 2);
  CHECK(l[0].id == a);
  CHECK(l[1].id == b);
  CHECK(l[0].root == 100);
  CHECK(l[0].owner == 1000);
  jobs.remove(a);
  CHECK(jobs.size() == 1);
  CHECK(jobs.job_of(100) == 0);
  CHECK(jobs.job_of(200) == b);
  JobView v;
  CHECK(jobs.fetch(a, v) == ESRCH);
}

TEST_CASE("jobs: huge heap shares saturate instead of wrapping") {
  Jobs jobs;
  const JobId j = jobs.create(spec(UINT64_MAX - 1, std::nullopt));
  jobs.enter(j, 1);
  jobs.enter(j, 2);
  jobs.apply(1, Delta{UINT64_MAX / 2, 0});
  jobs.apply(2, Delta{UINT64_MAX / 2, 0});
  const auto v = jobs.check(2, Delta{UINT64_MAX / 2, 0});
  REQUIRE(v.has_value());
  CHECK(v->usage == UINT64_MAX);
  jobs.leave(1, Ending::exit, 0);
  CHECK(usage(jobs, j).heap == UINT64_MAX / 2);
}

// ---- delegation: nested jobs (issue 20) ------------------------------------------------

TEST_CASE("jobs: a nested job's quotas are equal or tighter than what its ancestors have left") {
  Jobs jobs;
  const JobId outer = jobs.create(spec(64 * MiB, 20));
  jobs.enter(outer, 100);
  jobs.apply(100, Delta{10 * MiB, 4});
  // asking for more than is left (or for unlimited) gets what is left: 54 MiB, 16 files
  JobSpec loose;
  loose.root = 101;
  loose.heap_quota_bytes = 1024 * MiB;
  const JobId inner = jobs.create_child(outer, loose);
  REQUIRE(inner != 0);
  CHECK(view(jobs, inner).heap_quota_bytes == 54 * MiB);
  CHECK(view(jobs, inner).file_quota == 16u);
  CHECK(view(jobs, inner).parent == outer);
  // asking for less keeps it
  JobSpec tight;
  tight.heap_quota_bytes = 8 * MiB;
  const JobId inner2 = jobs.create_child(outer, tight);
  CHECK(view(jobs, inner2).heap_quota_bytes == 8 * MiB);
  // two levels: the grandchild is clamped by both
  JobSpec deeper;
  deeper.heap_quota_bytes = 32 * MiB;
  const JobId grand = jobs.create_child(inner2, deeper);
  CHECK(view(jobs, grand).heap_quota_bytes == 8 * MiB);
  CHECK(jobs.within(grand, outer));
  CHECK(jobs.within(grand, inner2));
  CHECK_FALSE(jobs.within(grand, inner));
  CHECK_FALSE(jobs.within(outer, grand));
  CHECK(jobs.top(grand) == outer);
  // no such parent: refused
  CHECK(jobs.create_child(999, tight) == 0);
  // a later cap of a nested job is clamped too, never looser than the chain
  JobSpec none;
  const JobId free_child = jobs.create_child(inner2, none);
  CHECK(view(jobs, free_child).heap_quota_bytes == 8 * MiB);  // unlimited gets what is left
  std::optional<JobViolation> enforce;
  const JobId bare = jobs.create(spec(std::nullopt, std::nullopt));
  const JobId bare_child = jobs.create_child(bare, none);
  CHECK_FALSE(view(jobs, bare_child).heap_quota_bytes.has_value());  // nothing above: no quota
  CHECK(jobs.cap(bare_child, false, 5 * MiB, std::nullopt, enforce) == 0);
  CHECK(view(jobs, bare_child).heap_quota_bytes == 5 * MiB);
}

TEST_CASE("jobs: a nested job's usage counts in it and in every ancestor") {
  Jobs jobs;
  const JobId outer = jobs.create(spec(64 * MiB, std::nullopt));
  jobs.enter(outer, 100);
  jobs.enter(outer, 101);  // the inner launcher's child, seen before the delegation
  jobs.apply(101, Delta{1 * MiB, 1});
  JobSpec s;
  s.heap_quota_bytes = 32 * MiB;
  const JobId inner = jobs.create_child(outer, s);
  jobs.move(101, inner);  // its share goes with it: the outer keeps it, the inner gains it
  CHECK(jobs.job_of(101) == inner);
  CHECK(usage(jobs, outer).heap == 1 * MiB);
  CHECK(usage(jobs, inner).heap == 1 * MiB);
  CHECK(view(jobs, outer).live == 2);
  CHECK(view(jobs, inner).live == 1);
  jobs.enter(inner, 102);  // a child of the inner job
  CHECK(jobs.counting(102));
  jobs.apply(102, Delta{10 * MiB, 2});
  jobs.apply(100, Delta{5 * MiB, 0});
  CHECK(usage(jobs, inner).heap == 11 * MiB);
  CHECK(usage(jobs, outer).heap == 16 * MiB);
  CHECK(usage(jobs, inner).files == 3);
  CHECK(usage(jobs, outer).files == 3);
  CHECK(view(jobs, outer).live == 3);
  CHECK(view(jobs, outer).processes == 3);
  // an ending takes its share from every level
  jobs.leave(102, Ending::exit, 0);
  CHECK(usage(jobs, inner).heap == 1 * MiB);
  CHECK(usage(jobs, outer).heap == 6 * MiB);
  CHECK(view(jobs, outer).live == 2);
  // a nested job counts for its ancestors even when it has no quota of its own
  Jobs j2;
  const JobId o2 = j2.create(spec(8 * MiB, std::nullopt));
  JobSpec none;
  const JobId c2 = j2.create_child(o2, none);
  j2.enter(c2, 200);
  CHECK(j2.counting(200));
}

TEST_CASE("jobs: the innermost quota crossed is the level that is killed") {
  Jobs jobs;
  const JobId outer = jobs.create(spec(64 * MiB, std::nullopt));
  jobs.enter(outer, 100);
  JobSpec s;
  s.heap_quota_bytes = 16 * MiB;
  const JobId inner = jobs.create_child(outer, s);
  jobs.enter(inner, 101);
  // crossing the inner quota names the inner job
  auto v = jobs.check(101, Delta{17 * MiB, 0});
  REQUIRE(v);
  CHECK(v->job == inner);
  CHECK(v->limit == 16 * MiB);
  // under the inner quota, but the outer is over: the outer is named
  jobs.apply(101, Delta{10 * MiB, 0});
  jobs.apply(100, Delta{50 * MiB, 0});
  v = jobs.check(101, Delta{5 * MiB, 0});
  REQUIRE(v);
  CHECK(v->job == outer);
  CHECK(v->usage == 65 * MiB);
  // the outer CMD's own call crosses only the outer
  v = jobs.check(100, Delta{5 * MiB, 0});
  REQUIRE(v);
  CHECK(v->job == outer);
  // killing the inner leaves the outer alive; killing the outer kills the inner too
  JobViolation inner_kill;
  inner_kill.job = inner;
  jobs.mark_killed(inner_kill);
  CHECK(jobs.killed(inner));
  CHECK_FALSE(jobs.killed(outer));
  Jobs j2;
  const JobId o2 = j2.create(spec(64 * MiB, std::nullopt));
  const JobId c2 = j2.create_child(o2, s);
  const JobId g2 = j2.create_child(c2, s);
  JobViolation outer_kill;
  outer_kill.job = o2;
  j2.mark_killed(outer_kill);
  CHECK(j2.killed(o2));
  CHECK(j2.killed(c2));
  CHECK(j2.killed(g2));
  // removing the outer forgets the nested jobs and their processes
  j2.enter(g2, 300);
  j2.remove(o2);
  CHECK(j2.size() == 0);
  CHECK(j2.job_of(300) == 0);
}

TEST_CASE("jobs: an outer report lists the processes of its nested jobs") {
  Jobs jobs;
  const JobId outer = jobs.create(spec(std::nullopt, std::nullopt, true));
  jobs.enter(outer, 100);
  JobSpec s;
  s.track = true;
  s.keep_history = true;
  const JobId inner = jobs.create_child(outer, s);
  jobs.enter(inner, 101);
  jobs.name(101, "inner-cmd");
  jobs.apply(101, Delta{2 * MiB, 0});
  CHECK(jobs.history(outer).size() == 2);
  CHECK(jobs.history(inner).size() == 1);
  jobs.leave(101, Ending::exit, 3);
  REQUIRE(jobs.history(inner).size() == 1);
  CHECK(jobs.history(inner)[0].argv0 == "inner-cmd");
  CHECK(jobs.history(inner)[0].code == 3);
  CHECK(jobs.history(outer).size() == 2);  // its record, and the outer CMD still running
}
