// SPDX-License-Identifier: Apache-2.0
// fuzz_policy: libFuzzer harness for the policy parser (issue 6). Any bytes go to
// sandbox::parse_policy(). A PolicyError is the expected answer to a bad policy, and its
// message must be one line naming the origin; anything else -- another exception type, a
// crash, undefined behaviour, a leak -- is a finding. An accepted policy must satisfy the
// invariants the parser promises (policy.hpp, policies/README.md).
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <set>
#include <string>
#include <string_view>

#include "policy/policy.hpp"

namespace {

constexpr std::string_view kOrigin = "fuzz.json";

[[noreturn]] void violated(const char* what, std::string_view detail) {
  std::fprintf(stderr, "fuzz_policy: contract violated: %s: %.*s\n", what, static_cast<int>(detail.size()),
               detail.data());
  std::abort();
}

void check(bool ok, const char* what, std::string_view detail = {}) {
  if (!ok) violated(what, detail);
}

void check_accepted(const sandbox::Policy& p) {
  const std::set<int> distinct(p.abi_numbers.begin(), p.abi_numbers.end());
  check(distinct.size() == p.abi_numbers.size(), "accepted ABI numbers that are not distinct");
  for (const int nr : p.abi_numbers) check(nr >= 0, "accepted a negative ABI number");
  if (p.heap_quota_bytes) check(p.notify_brk || p.notify_mmap, "accepted an unenforceable heap quota");
  if (p.file_quota) check(p.notify_open, "accepted an unenforceable file quota");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  try {
    check_accepted(sandbox::parse_policy(text, kOrigin));
  } catch (const sandbox::PolicyError& e) {
    const std::string_view what = e.what();
    check(what.rfind(std::string(kOrigin) + ": ", 0) == 0, "error does not start with the origin", what);
    check(what.find('\n') == std::string_view::npos, "error message spans lines", what);
  }
  // Any other exception escapes: libFuzzer reports it as a crash ("uncaught exception").
  return 0;
}
