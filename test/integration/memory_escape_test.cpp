// SPDX-License-Identifier: Apache-2.0
// Issue 10 item 4: heap escapes through the prediction of results. Each test runs the
// real attack (test/integration/heap_attacks.c, as uid 65534) under a real `sandbox run`
// and asserts it is counted or killed (docs/security.md lists them with these names).
#include "harness.hpp"

namespace {

const std::string kAttacks = ATTACKS_BIN;

Result attack(std::vector<std::string> opts, std::vector<std::string> args) {
  args.insert(args.begin(), kAttacks);
  return sandboxed(std::move(opts), std::move(args));
}

}  // namespace

TEST_CASE(
    "escape: prctl(PR_SET_MM_MAP) moving the heap below the layout seen at exec is EPERM; brk is counted") {
  REQUIRE(::geteuid() == 0);  // the attack drops to uid 65534 itself
  const Result r = attack({"--heap-quota", "100M"}, {"prset-mm"});
  INFO(r.out << r.err);
  CHECK(r["prctl_rc"] == "-1");
  CHECK(r["prctl_errno"] == "EPERM");
  CHECK(r.status == 128 + SIGKILL);  // killed past 100 MiB of brk growth
  CHECK(r.kv.count("brk_grown_mib") == 0);
}

TEST_CASE("escape: RLIMIT_AS lowered and raised through an idle thread's id leaves no stale limit") {
  REQUIRE(::geteuid() == 0);
  REQUIRE(::access("/usr/bin/prlimit", X_OK) == 0);  // util-linux
  // The target starts with a soft RLIMIT_AS of 1 GiB (the supervisor reads it at the
  // target's first mapping), then raises it through a thread the supervisor never saw.
  const Result r = run({"/usr/bin/prlimit", "--as=1073741824:unlimited", "--", kSandbox, "run",
                        "--heap-quota", "100M", "--", kAttacks, "prlimit-idle"});
  INFO(r.out << r.err);
  CHECK(r["lower_rc"] == "0");
  CHECK(r["small_mapped"] == "1");
  CHECK(r["raise_rc"] == "0");
  CHECK(r.status == 128 + SIGKILL);  // the 2 GiB mapping is counted: over the quota
  CHECK(r.kv.count("mapped_2g") == 0);
  CHECK(r.kv.count("touched_mib") == 0);
}

TEST_CASE("escape: MAP_FIXED_NOREPLACE racing a page another thread unmaps is counted whenever it maps") {
  REQUIRE(::geteuid() == 0);
  const Result r = attack({"--track"}, {"noreplace-race", "3000"});
  INFO(r.out << r.err);
  CHECK(r.status == 0);
  CHECK(r["rounds"] == "3000");
  CHECK(r["other_errors"] == "0");
  CHECK(r["escaped"] == "0");
  // The race ran both ways: some calls met the page, some did not.
  CHECK(std::stol(r["mapped"]) > 0);
  CHECK(std::stol(r["eexist"]) > 0);
}
