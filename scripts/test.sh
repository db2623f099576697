#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The test command (README; CI runs exactly this through .ci/run). Installs what the project
# needs, builds with warnings as errors, prints what the host can do (test/host/host_caps:
# which host-dependent tests run in which form), and runs every test with CTest: unit (the
# model, the policy and protocol parsers, the table, the loop with a mock channel, the open
# emulation, the socket server), integration (real targets under `sandbox run` and `sandbox
# serve`), parity (the patched kernel under QEMU against the sandbox), the kernel scripts on
# simulated hosts, style, fuzz (bounded libFuzzer runs), stress (bounded), and the benchmark
# smoke runs. Then the sanitizer job: the same unit, integration and stress tests against an
# ASan+UBSan+LSan supervisor, and the release build: the two programs built as
# -DCMAKE_BUILD_TYPE=Release (-O3, where GCC warns differently) with warnings as errors, as
# a user or a package build makes them (counted as one test). All jobs always run; the last
# line sums them up:
#   test.sh: N passed, N failed
# and the exit status is 0 only when nothing failed.
# Usage: scripts/test.sh [extra ctest arguments, e.g. -L unit] -- with arguments, only that
# ctest run (no sanitizer job).
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/install-deps.sh >&2
build=${BUILD_DIR:-build}
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$build" -j"$(nproc)"
"$build/bin/host_caps" || echo "host: this host cannot run the supervisor (see above); the tests will fail" >&2
if (($#)); then
  exec ctest --test-dir "$build" --output-on-failure "$@"
fi

logs=$(mktemp -d "${TMPDIR:-/tmp}/sandbox-test.XXXXXX")
trap 'rm -rf "$logs"' EXIT
status=0
ctest --test-dir "$build" --output-on-failure 2>&1 | tee "$logs/main" || status=1
echo "== sanitizer job (ASan+UBSan+LSan supervisor)"
./scripts/sanitize.sh -L 'unit|integration|stress' 2>&1 | tee "$logs/sanitize" || status=1
echo "== release build (-O3, warnings as errors)"
release_ok=1
if cmake -S . -B "${build}-release" -DCMAKE_BUILD_TYPE=Release >"$logs/release" 2>&1 &&
  cmake --build "${build}-release" -j"$(nproc)" --target sandbox sandbox-shim >>"$logs/release" 2>&1; then
  echo "release build: sandbox and sandbox-shim built"
else
  release_ok=0
  echo "release build: FAILED"
  grep -E -A4 'error' "$logs/release" | head -30 || tail -20 "$logs/release"
fi

# ctest's own closing line: "NN% tests passed, F tests failed out of T".
passed=0 failed=0
for f in "$logs/main" "$logs/sanitize"; do
  line=$(grep -E '^[0-9]+% tests passed, [0-9]+ tests? failed out of [0-9]+' "$f" | tail -1 || true)
  if [[ -z $line ]]; then
    echo "test.sh: $(basename "$f") job printed no ctest summary (it failed before running tests)"
    failed=$((failed + 1))
    status=1
    continue
  fi
  read -r f_n t_n < <(sed -E 's/.* ([0-9]+) tests? failed out of ([0-9]+).*/\1 \2/' <<<"$line")
  failed=$((failed + f_n))
  passed=$((passed + t_n - f_n))
done
if ((release_ok)); then passed=$((passed + 1)); else failed=$((failed + 1)); fi
((failed == 0)) || status=1
echo "test.sh: $passed passed, $failed failed"
exit "$status"
