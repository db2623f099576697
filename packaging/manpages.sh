#!/usr/bin/env bash
# manpages.sh OUTDIR SANDBOX SANDBOX_SHIM: writes the man pages, gzipped, into OUTDIR, all made
# by help2man from the built programs' own --help and --version (nothing here lists an option):
#   sandbox.1.gz, sandbox-shim.1.gz, and sandbox-SUB.1.gz for every subcommand SUB that
#   `sandbox --help` lists and whose `sandbox SUB --help` is its own text (not the top-level
#   help again).
# Subcommands are read from a "Subcommands:" (or "Commands:") section, as CLI11 prints it, or
# else from the usage lines ("usage: sandbox SUB ...", "       sandbox SUB ..."); a subcommand's
# one-line description is taken from the section when there is one.
# Fails with one line naming what went wrong (help2man missing, a --help that fails).
set -euo pipefail
die() { echo "manpages.sh: $*" >&2; exit 1; }
(($# == 3)) || die "usage: manpages.sh OUTDIR SANDBOX SANDBOX_SHIM"
out=$1 sandbox=$2 shim=$3
help2man=${HELP2MAN:-help2man}
command -v "$help2man" >/dev/null || die "help2man not found; install it (scripts/install-deps.sh does)"
command -v gzip >/dev/null || die "gzip not found"
mkdir -p "$out"
rm -f "$out"/*.1 "$out"/*.1.gz

# Reproducible pages: help2man dates them from SOURCE_DATE_EPOCH when set.
export SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-$(git -C "$(dirname "$0")" log -1 --format=%ct 2>/dev/null || date +%s)}
export LC_ALL=C.UTF-8 COLUMNS=100

help_of() {  # help_of PROG [SUB]: PROG [SUB] --help, or die naming the command
  local text rc=0
  text=$("$@" --help 2>&1 </dev/null) || rc=$?
  ((rc == 0)) || die "'$(basename "$1")${2:+ $2} --help' exited $rc: $(head -1 <<<"$text")"
  [[ -n $text ]] || die "'$(basename "$1")${2:+ $2} --help' printed nothing"
  printf '%s\n' "$text"
}

top_help=$(help_of "$sandbox")
help_of "$shim" >/dev/null
for p in "$sandbox" "$shim"; do
  "$p" --version >/dev/null 2>&1 </dev/null || die "'$(basename "$p") --version' failed"
done

# Subcommands and their descriptions, in the order the help lists them.
declare -a subs=()
declare -A sub_desc=()
in_section=0
while IFS= read -r line; do
  lower=${line,,}
  if [[ $lower =~ ^[[:space:]]*(sub)?commands:[[:space:]]*$ ]]; then
    in_section=1
    continue
  fi
  if ((in_section)); then
    if [[ $line =~ ^[[:space:]]+([[:alpha:]][[:alnum:]_-]*)([[:space:]]+(.*))?$ ]]; then
      subs+=("${BASH_REMATCH[1]}")
      sub_desc[${BASH_REMATCH[1]}]=${BASH_REMATCH[3]:-}
      continue
    fi
    [[ -z $line || $line =~ ^[^[:space:]] ]] && in_section=0
  fi
done <<<"$top_help"
if ((${#subs[@]} == 0)); then
  name=$(basename "$sandbox")
  while IFS= read -r line; do
    if [[ $line =~ ^[[:space:]]*([Uu]sage:)?[[:space:]]*${name}[[:space:]]+([[:alpha:]][[:alnum:]_-]*) ]]; then
      s=${BASH_REMATCH[2]}
      [[ " ${subs[*]} " == *" $s "* ]] || subs+=("$s")
    fi
  done <<<"$top_help"
fi

# Which subcommands get a page of their own: those whose --help is not the top-level help.
pages=(sandbox sandbox-shim)
own=()
for s in ${subs[@]+"${subs[@]}"}; do
  text=$(help_of "$sandbox" "$s")
  [[ $text == "$top_help" ]] && continue
  own+=("$s")
  pages+=("sandbox-$s")
done

see_also() {  # see_also PAGE: the SEE ALSO section of PAGE (help2man --include), naming the others
  local p sep=""
  echo "[SEE ALSO]"
  for p in "${pages[@]}"; do
    [[ $p == "$1" ]] && continue
    printf '%s.BR \\%%%s (1)' "$sep" "$p"
    sep=$',\n'
  done
  printf '\n.PP\nThe full documentation (README.md, semantics.md, protocol.md, ...) is installed in\n'
  printf '.IR /usr/share/doc/sandbox/ ;\n'
  printf 'the shipped policies are in\n.IR /etc/sandbox/ .\n'
}
include=$(mktemp)
trap 'rm -f "$include"' EXIT

h2m() {  # h2m OUTFILE NAME DESCRIPTION PROG [help2man options...]
  local file=$1 name=$2 desc=$3 prog=$4
  shift 4
  see_also "$name" >"$include"
  "$help2man" --no-info --section=1 --name="$desc" --include="$include" --output="$file" "$@" "$prog" ||
    die "help2man failed for $name"
}

h2m "$out/sandbox.1" sandbox "track and limit the heap growth and open files of a program (seccomp user notification)" \
  "$sandbox"
h2m "$out/sandbox-shim.1" sandbox-shim "run a command as a target of a running sandbox serve" "$shim"
for s in ${own[@]+"${own[@]}"}; do
  desc=${sub_desc[$s]:-sandbox $s}
  desc=${desc%.}
  h2m "$out/sandbox-$s.1" "sandbox-$s" "${desc,}" "$sandbox" --help-option="$s --help"
  # help2man names the page after the program; this page is the subcommand's.
  sed -i -E -e "s/^\\.TH \"?SANDBOX\"? /.TH SANDBOX-${s^^} /" \
    -e "/^\\.SH NAME/{n;s/^sandbox /sandbox-$s /}" "$out/sandbox-$s.1"
done

for f in "$out"/*.1; do
  gzip -9n -f "$f"
done
echo "manpages.sh: ${#pages[@]} pages (${pages[*]}) in $out"
