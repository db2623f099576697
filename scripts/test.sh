#!/usr/bin/env bash
# The test command (README; CI runs exactly this through .ci/run). Installs what the project
# needs, builds with warnings as errors, and runs every test with CTest: unit (the model, the
# policy and protocol parsers, the table, the loop with a mock channel, the open emulation,
# the socket server), integration (real targets under `sandbox run` and `sandbox serve`),
# parity (the patched kernel under QEMU against the sandbox), style, fuzz (bounded libFuzzer
# runs), stress (bounded), and the benchmark smoke runs. Then the sanitizer job: the same
# unit, integration and stress tests against an ASan+UBSan+LSan supervisor.
# Usage: scripts/test.sh [extra ctest arguments, e.g. -L unit] -- with arguments, only that
# ctest run (no sanitizer job).
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/install-deps.sh >&2
build=${BUILD_DIR:-build}
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$build" -j"$(nproc)"
if (($#)); then
  exec ctest --test-dir "$build" --output-on-failure "$@"
fi
ctest --test-dir "$build" --output-on-failure
./scripts/sanitize.sh -L 'unit|integration|stress'
