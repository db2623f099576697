#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# check-library-log.sh: the library never prints (docs/design.md, "Errors"). Below cli/ and
# outside shim/main.cpp -- the two program edges -- every line goes through base/log
# (log::line, log::printf). Lists each fprintf/printf/puts/perror/std::cerr/std::cout of the
# library (one line each) and exits 1 if there is any.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
pattern='(^|[^:_a-z])(std::)?(f?printf|v?fprintf|puts|fputs|perror)[[:space:]]*\(|std::(cerr|cout|clog)\b'
found=$(grep -rnE "$pattern" supervisor shim --include='*.cpp' --include='*.hpp' --include='*.h' |
  grep -v -e '^supervisor/cli/' -e '^shim/main\.cpp:' -e '^supervisor/base/log\.\(cpp\|hpp\):' || true)
if [[ -n $found ]]; then
  echo "$found"
  echo "check-library-log: the library prints; use base/log (log::line, log::printf)" >&2
  exit 1
fi
