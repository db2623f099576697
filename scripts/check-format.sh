#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Fails if any C/C++ source of the project is not clang-format clean (.clang-format).
set -euo pipefail
cd "$(dirname "$0")/.."
mapfile -t files < <(git ls-files '*.cpp' '*.hpp' '*.c' '*.h' | grep -v '^kernel/')
clang-format --dry-run --Werror "${files[@]}"
echo "clang-format: ${#files[@]} files clean"
