// SPDX-License-Identifier: Apache-2.0
// The doctest main of the integration test binary. SANDBOX_TEST_EXCLUDE (comma-separated
// test-case name patterns) leaves cases out, and says so: the sanitizer job uses it for the
// cases that run the sandbox binary itself INSIDE a target under a quota, where an
// ASan-built binary cannot run (its shadow memory reservation is refused by the target's
// RLIMIT_AS or heap quota); the main job runs them with the plain binary.
#define DOCTEST_CONFIG_IMPLEMENT
#include <doctest/doctest.h>

#include <cstdio>
#include <cstdlib>

int main(int argc, char** argv) {
  doctest::Context context;
  if (const char* exclude = std::getenv("SANDBOX_TEST_EXCLUDE"); exclude && *exclude) {
    std::printf("integration: left out here (run by the main job): %s\n", exclude);
    context.addFilter("test-case-exclude", exclude);
  }
  context.applyCommandLine(argc, argv);
  return context.run();
}
