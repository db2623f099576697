#!/usr/bin/env bash
# Builds the project (warnings are errors) and runs every test with CTest:
# unit (the model, the policy parser, the open emulation), integration (real targets under
# `sandbox run`), and the labelled suites that exist (parity, bench smoke).
# Usage: scripts/test.sh [extra ctest arguments, e.g. -L unit]
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/install-deps.sh >&2
build=${BUILD_DIR:-build}
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$build" -j"$(nproc)"
ctest --test-dir "$build" --output-on-failure "$@"
