#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# spdx.sh [--check] [FILE...]: gives every source file of the project its
# files whose line is missing or wrong (one line each; exit 1 if any). Without FILEs: every file
# git knows in the tree (tracked, and untracked but not ignored), else every file under it.
#
# Which licence (LICENSE, debian/copyright in packaging/deb/copyright):
#   kernel/patches/*.patch      GPL-2.0-only (derived from Linux)
#   *.bpf.c, bpf/ directories   GPL-2.0-only OR BSD-2-Clause (the in-kernel engine's BPF
#                               programs: the kernel wants a GPL-compatible licence)
#   everything else             Apache-2.0
# Which files and which comment (the line goes first, or right after a `#!` line):
#   .c .cpp .hpp                // SPDX-License-Identifier: ...
#   .h                          /* SPDX-License-Identifier: ... */
#   .sh .py .cmake CMakeLists.txt, systemd units, the bash completion, and any file whose
#   first line is `#!`          # SPDX-License-Identifier: ...
#   .patch                      # SPDX-License-Identifier: ... (patch(1) skips text before the
#                               first diff; kernel/build.sh leaves the line out of its cache key)
# Anything else (JSON, Markdown, data) has no comment syntax or needs no line.
set -euo pipefail
check=0
if [[ ${1:-} == --check ]]; then
  check=1
  shift
fi
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

if (($#)); then
  files=("$@")
elif git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
  mapfile -t files < <(git ls-files --cached --others --exclude-standard | sort -u)
else
  mapfile -t files < <(find . -path ./.git -prune -o -path './build*' -prune -o -type f -print | sed 's|^\./||' | sort)
fi

# licence_of FILE
licence_of() {
  case $1 in
    kernel/patches/*.patch) echo GPL-2.0-only ;;
    *.bpf.c | bpf/* | */bpf/*) echo "GPL-2.0-only OR BSD-2-Clause" ;;
    *) echo Apache-2.0 ;;
  esac
}

# style_of FILE: slash, block, hash, or nothing (not a source file)
style_of() {
  local f=$1
  case $f in
    test/fuzz/corpus/*) return ;;  # fuzzer inputs, not sources
    *.c | *.cpp | *.hpp) echo slash ;;
    *.h) echo block ;;
    *.sh | *.py | *.cmake | */CMakeLists.txt | CMakeLists.txt | *.patch | *.service | *.socket) echo hash ;;
    packaging/bash-completion/*) echo hash ;;
    *)
      [[ -f $f && ! -L $f ]] && [[ $(head -c2 "$f" 2>/dev/null) == '#!' ]] && echo hash
      return 0
      ;;
  esac
}

line_for() {  # line_for STYLE LICENCE
  case $1 in
    slash) echo "// SPDX-License-Identifier: $2" ;;
    block) echo "/* SPDX-License-Identifier: $2 */" ;;
    hash) echo "# SPDX-License-Identifier: $2" ;;
  esac
}

bad=0 changed=0 seen=0
for f in "${files[@]}"; do
  [[ -f $f && ! -L $f ]] || continue
  style=$(style_of "$f")
  [[ -n $style ]] || continue
  seen=$((seen + 1))
  want=$(line_for "$style" "$(licence_of "$f")")
  first=$(head -n1 "$f")
  if [[ $first == '#!'* ]]; then at=2; else at=1; fi
  have=$(sed -n "${at}p" "$f")
  [[ $have == "$want" ]] && continue
  other=$(grep -m1 -n 'SPDX-License-Identifier:' "$f" | cut -d: -f1 || true)
  if ((check)); then
    if [[ -n $other ]]; then
      echo "$f:$other: wrong SPDX line (want '$want' on line $at)"
    else
      echo "$f: no SPDX line (want '$want' on line $at)"
    fi
    bad=$((bad + 1))
    continue
  fi
  # A wrong line near the top (another licence, another comment style) is replaced.
  body=$(mktemp) tmp=$(mktemp)
  if [[ -n $other ]] && ((other <= 3)); then sed "${other}d" "$f" >"$body"; else cat "$f" >"$body"; fi
  if ((at == 2)); then
    { head -n1 "$body"; printf '%s\n' "$want"; tail -n +2 "$body"; } >"$tmp"
  else
    { printf '%s\n' "$want"; cat "$body"; } >"$tmp"
  fi
  rm -f "$body"
  chmod --reference="$f" "$tmp"
  mv "$tmp" "$f"
  changed=$((changed + 1))
done

if ((check)); then
  if ((bad)); then
    echo "spdx.sh: $bad of $seen source files lack the right SPDX line (scripts/spdx.sh adds them)"
    exit 1
  fi
  echo "spdx.sh: $seen source files carry the right SPDX line"
else
  echo "spdx.sh: $changed of $seen source files given their SPDX line"
fi
