#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The sanitizer job (issue 6): builds the project with -DSANDBOX_SANITIZE=ON (ASan+UBSan on
# the supervisor, sandbox_core and what links it; the probes, examples and stress targets
# that run inside the filter stay uninstrumented) in build-asan/, and runs the unit and
# integration tests there with LeakSanitizer on and every report fatal.
# Usage: scripts/sanitize.sh [extra ctest arguments, e.g. -L 'unit|integration|stress']
#   BUILD_DIR (default build-asan) picks the build directory.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/install-deps.sh >&2
build=${BUILD_DIR:-build-asan}
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSANDBOX_SANITIZE=ON >/dev/null
nice cmake --build "$build" -j"$(nproc)"

# Every sanitizer report fails the test that triggered it: ASan/LSan abort, UBSan halts.
# The supervisor is not under the seccomp filter (its targets are), so LSan's ptrace-based
# leak check at exit works there.
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
# Cases that run the sandbox binary itself inside a target under a quota or a lowered
# RLIMIT_AS (`sandbox ctl` from inside, a nested `sandbox run` or `sandbox-shim`: trust 11,
# delegation): an ASan-built binary cannot
# start there (its shadow reservation is refused). The main job runs them unsanitized; here
# the supervisor side of everything else is checked (test/integration/main.cpp says which).
export SANDBOX_TEST_EXCLUDE='trust 1:*,trust 11:*,delegation:*,jobs: a process cannot leave its job*,escape: RLIMIT_AS lowered and raised*'
labels='unit|integration'
if (($# == 0)); then set -- -L "$labels"; fi
nice ctest --test-dir "$build" --output-on-failure "$@"
