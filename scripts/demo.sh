#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Builds the project and runs the built-in example: a heap hog under a 100 MiB quota,
# killed by the supervisor with a one-line message; then the seed's own test program,
# written for the kernel patch's five system calls, unchanged under the sandbox.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/install-deps.sh >&2
build=${BUILD_DIR:-build}
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$build" -j"$(nproc)" >/dev/null
echo "\$ sandbox run --heap-quota 100M -- heap_hog"
status=0
"$build/bin/sandbox" run --heap-quota 100M -- "$build/bin/heap_hog" || status=$?
echo "(exit status $status)"
echo
echo "\$ sandbox run -- seed_test"
"$build/bin/sandbox" run -- "$build/bin/seed_test"
