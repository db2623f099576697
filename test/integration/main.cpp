// SPDX-License-Identifier: Apache-2.0
// The doctest main of the integration test binary. SANDBOX_TEST_EXCLUDE (comma-separated
// test-case name patterns) leaves cases out, and says so: the sanitizer job uses it for the
// cases that run the sandbox binary itself INSIDE a target under a quota, where an
// ASan-built binary cannot run (its shadow memory reservation is refused by the target's
// RLIMIT_AS or heap quota); the main job runs them with the plain binary.
// SANDBOX_TEST_ENGINE=bpf runs the cases under `sandbox run --engine bpf` (harness.hpp); where
// that engine cannot run here, the whole run is skipped with its one-line reason (status 77,
// CTest's SKIP_RETURN_CODE), never passed.
#define DOCTEST_CONFIG_IMPLEMENT
#include <doctest/doctest.h>
#include <sys/wait.h>

#include <cstdio>
#include <cstdlib>
#include <string>

int g_skipped_under_bpf = 0;  // harness.hpp, NOTIFY_ENGINE_ONLY

namespace {

// "" when `sandbox run --engine bpf -- /bin/true` works here, else the first line it printed.
std::string bpf_unavailable() {
  FILE* p = ::popen(SANDBOX_BIN " run --engine bpf -- /bin/true 2>&1", "r");
  if (!p) return "popen failed";
  std::string out;
  char buf[512];
  while (std::fgets(buf, sizeof buf, p)) out += buf;
  const int st = ::pclose(p);
  if (st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == 0) return "";
  out = out.substr(0, out.find('\n'));
  return out.empty() ? "sandbox run --engine bpf -- /bin/true failed" : out;
}

}  // namespace

int main(int argc, char** argv) {
  if (const char* engine = std::getenv("SANDBOX_TEST_ENGINE"); engine && std::string(engine) == "bpf") {
    if (const std::string why = bpf_unavailable(); !why.empty()) {
      std::printf("integration: skipped under --engine bpf: %s\n", why.c_str());
      return 77;
    }
    std::printf("integration: every sandbox run under --engine bpf (SANDBOX_TEST_ENGINE=bpf)\n");
  }
  doctest::Context context;
  if (const char* exclude = std::getenv("SANDBOX_TEST_EXCLUDE"); exclude && *exclude) {
    std::printf("integration: left out here (run by the main job): %s\n", exclude);
    context.addFilter("test-case-exclude", exclude);
  }
  context.applyCommandLine(argc, argv);
  const int rc = context.run();
  if (g_skipped_under_bpf > 0)
    std::printf(
        "integration: %d case(s) skipped under --engine bpf, each with its reason above (doctest counts "
        "them as passed, with no assertion: they checked nothing)\n",
        g_skipped_under_bpf);
  return rc;
}
