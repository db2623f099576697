#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# manpages.sh OUTDIR SANDBOX SANDBOX_SHIM: writes the man pages, gzipped, into OUTDIR, all made
# by help2man from the built programs' own --help and --version (nothing here lists an option):
#   sandbox.1.gz and sandbox-shim.1.gz, and a page for every subcommand, at any depth, whose
#   --help is its own text (not its parent's again): sandbox-run.1.gz, sandbox-ctl.1.gz,
#   sandbox-ctl-cap.1.gz, ...
# Subcommands are read from a "Subcommands:" (or "Commands:") section, as CLI11 prints it, or at
# the top level from the usage lines ("usage: sandbox SUB ...", "       sandbox SUB ..."); a
# subcommand's one-line description is taken from the section when there is one.
# Fails with one line naming what went wrong (help2man missing, a --help or --version that fails).
set -euo pipefail
die() {
  echo "manpages.sh: $*" >&2
  exit 1
}
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

help_of() {  # help_of PROG [SUB...]: PROG SUB... --help, or die naming the command
  local text rc=0 cmd
  cmd="$(basename "$1")${2:+ ${*:2}}"
  text=$("$@" --help 2>&1 </dev/null) || rc=$?
  ((rc == 0)) || die "'$cmd --help' exited $rc: $(head -1 <<<"$text")"
  [[ -n $text ]] || die "'$cmd --help' printed nothing"
  printf '%s\n' "$text"
}
for p in "$sandbox" "$shim"; do
  "$p" --version >/dev/null 2>&1 </dev/null || die "'$(basename "$p") --version' failed"
done

# subcommands_of TEXT TOP: "NAME<TAB>DESCRIPTION" lines for the subcommands the help TEXT lists;
# TOP=1 for a program's own help, where usage lines may list them instead.
subcommands_of() {
  local text=$1 top=$2 line in_section=0 found=0 name
  name=$(basename "$sandbox")
  while IFS= read -r line; do
    if [[ ${line,,} =~ ^[[:space:]]*(sub)?commands:[[:space:]]*$ ]]; then
      in_section=1
      continue
    fi
    if ((in_section)); then
      if [[ $line =~ ^[[:space:]]+([[:alpha:]][[:alnum:]_-]*)([[:space:]]+(.*))?$ ]]; then
        printf '%s\t%s\n' "${BASH_REMATCH[1]}" "${BASH_REMATCH[3]:-}"
        found=1
        continue
      fi
      [[ -z $line || $line =~ ^[^[:space:]] ]] && in_section=0
    fi
  done <<<"$text"
  ((found || !top)) && return
  while IFS= read -r line; do
    if [[ $line =~ ^[[:space:]]*([Uu]sage:)?[[:space:]]*${name}[[:space:]]+([[:alpha:]][[:alnum:]_-]*) ]]; then
      printf '%s\t\n' "${BASH_REMATCH[2]}"
    fi
  done <<<"$text" | awk -F'\t' '!seen[$1]++'
}

# The pages: name -> the words after `sandbox` (empty for sandbox itself), a description, and the
# parent page. Walked breadth first; a subcommand whose --help repeats its parent's (a parser
# without per-command help) gets no page.
declare -a pages=(sandbox sandbox-shim)
declare -A words=([sandbox]="" [sandbox-shim]="") desc=() parent=()
desc[sandbox]="track and limit the heap growth and open files of a program (seccomp user notification)"
desc[sandbox-shim]="run a command as a target of a running sandbox serve"
declare -A help=()
help[sandbox]=$(help_of "$sandbox")
help_of "$shim" >/dev/null
queue=(sandbox)
while ((${#queue[@]})); do
  page=${queue[0]}
  queue=("${queue[@]:1}")
  read -ra path <<<"${words[$page]}"
  top=$((${#path[@]} == 0))
  while IFS=$'\t' read -r sub text; do
    [[ -n $sub ]] || continue
    child="$page-$sub"
    [[ -n ${words[$child]+set} ]] && continue
    h=$(help_of "$sandbox" ${path[@]+"${path[@]}"} "$sub")
    [[ $h == "${help[$page]}" || $h == "${help[sandbox]}" ]] && continue
    text=${text%.}
    pages+=("$child")
    words[$child]="${words[$page]:+${words[$page]} }$sub"
    desc[$child]=${text:-sandbox ${words[$child]}}
    parent[$child]=$page
    help[$child]=$h
    queue+=("$child")
  done < <(subcommands_of "${help[$page]}" "$top")
done

see_also() {  # see_also PAGE: its SEE ALSO section (help2man --include): the two programs, its
  # parent, the pages of its subcommands
  local p sep="" list=()
  for p in "${pages[@]}"; do
    [[ $p == "$1" ]] && continue
    if [[ $p == sandbox || $p == sandbox-shim || $p == "${parent[$1]:-}" || ${parent[$p]:-} == "$1" ]]; then
      list+=("$p")
    fi
  done
  echo "[SEE ALSO]"
  for p in "${list[@]}"; do
    printf '%s.BR \\%%%s (1)' "$sep" "$p"
    sep=$',\n'
  done
  printf '\n.PP\nThe full documentation (README.md, docs/*.md, examples/) is installed in\n'
  printf '.IR @DOCDIR@/ ;\n'
  printf 'the shipped policies are in\n.IR @SYSCONFDIR@/sandbox/ .\n'
}
# What is written for people (packaging/man/): PAGE.h2m (DESCRIPTION, EXAMPLES) when there is
# one, else a DESCRIPTION and EXAMPLES made from the subcommand's one line; then common.h2m (EXIT
# STATUS, FILES) for every page. @DOCDIR@ and @SYSCONFDIR@ become where the docs and /etc went.
man_src=$(cd "$(dirname "$0")" && pwd)/man
docdir=${SANDBOX_DOCDIR:-/usr/share/doc/sandbox}
sysconfdir=${SANDBOX_SYSCONFDIR:-/etc}
[[ -r $man_src/common.h2m ]] || die "$man_src/common.h2m missing"
written_for_people() {  # written_for_people PAGE
  local page=$1
  if [[ -r $man_src/$page.h2m ]]; then
    cat "$man_src/$page.h2m"
  else
    local words=${words[$page]} parent_page=${parent[$page]:-sandbox}
    printf '[=DESCRIPTION]\n.B sandbox %s\n' "$words"
    printf '%s.\n.PP\nPart of\n.BR %s (1),\nwhich says how it finds the supervisor and who may ask it.\n' \
      "${desc[$page]^}" "$parent_page"
    printf '[EXAMPLES]\n.TP\n.B sandbox %s \\-\\-help\nthis page'"'"'s options in short\n' "$words"
  fi
  sed -n '/^\[/,$p' "$man_src/common.h2m"
}

# help2man reads the programs through a filter: the help's footer (exit status, notes: in the
# sections above instead) and CLI11's "Excludes:"/"Needs:" notes are left out of OPTIONS.
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
include=$work/include
wrap() {  # wrap PROG: $work/bin/NAME running PROG with that filter
  mkdir -p "$work/bin"
  cat >"$work/bin/$(basename "$1")" <<WRAP
#!/bin/sh
"$1" "\$@" | sed -E 's/ (Excludes|Needs):( --?[[:alnum:]_-]+)+//' |
  awk '/^(Options|Subcommands|Commands|Positionals):\$/ { o = 1 } o && /^[^[:space:]]/ && !/:\$/ { exit } { print }'
WRAP
  chmod +x "$work/bin/$(basename "$1")"
  echo "$work/bin/$(basename "$1")"
}
sandbox_wrapped=$(wrap "$sandbox")
shim_wrapped=$(wrap "$shim")

for page in "${pages[@]}"; do
  { written_for_people "$page"; see_also "$page"; } | sed -e "s|@DOCDIR@|$docdir|g" -e "s|@SYSCONFDIR@|$sysconfdir|g" >"$include"
  file=$out/$page.1
  if [[ $page == sandbox-shim ]]; then
    prog=$shim_wrapped opts=()
  else
    prog=$sandbox_wrapped opts=(--help-option="${words[$page]:+${words[$page]} }--help")
  fi
  "$help2man" --no-info --section=1 --name="${desc[$page]}" --include="$include" --output="$file" \
    ${opts[@]+"${opts[@]}"} "$prog" || die "help2man failed for $page"
  if [[ -n ${words[$page]} ]]; then
    # help2man names the page after the program; this page is the subcommand's.
    sed -i -E -e "s/^\\.TH \"?SANDBOX\"? /.TH ${page^^} /" -e "/^\\.SH NAME/{n;s/^sandbox /$page /}" "$file"
  fi
  gzip -9n -f "$file"
done
echo "manpages.sh: ${#pages[@]} pages (${pages[*]}) in $out"
