#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# completion_test.sh COMPLETION_FILE [POLICY_DIR]: the bash completion (packaging/bash-completion/
# sandbox), with the `sandbox` and `sandbox-shim` found in PATH (the build's, or the installed
# ones when deb_test.sh runs this in its scratch root). Each case completes a command line in a
# fresh `bash --norc` the way readline would (COMP_WORDS, COMP_CWORD, then the function that
# `complete -p` names) and checks COMPREPLY:
#   - the file sources, and registers a function for both sandbox and sandbox-shim;
#   - subcommands, options, an option's choices and file values, and the command after `--`;
#   - `sandbox plot <TAB>` offers files and `sandbox plot --<TAB>` its options; `sandbox
#     oci-profile --<TAB>` offers only options oci-profile has (not the ones its help mentions);
#   - everything comes from the programs' definition (`PROG --__complete [SUB...]`), never from
#     --help: fakes whose spec lists options and subcommands no real one has get exactly those
#     offered, and what only their --help mentions is not.
set -uo pipefail
file=$1 policy_dir=${2:-}
failures=0
fail() {
  echo "FAIL: $*"
  failures=$((failures + 1))
}

# complete_line WORD...: COMPREPLY, one per line, for the command line WORD... (the last word is
# the one under the cursor).
complete_line() {
  bash --norc --noprofile -c '
    source "$1" || exit 90
    shift
    fn=$(complete -p "$1" 2>/dev/null | sed -nE "s/.* -F ([^ ]+) .*/\1/p")
    [[ -n $fn ]] || exit 91
    COMP_WORDS=("$@") COMP_CWORD=$(($# - 1)) COMP_LINE="$*" COMP_POINT=${#COMP_LINE}
    "$fn" "$1" "${COMP_WORDS[-1]}" "${COMP_WORDS[-2]:-}" || exit 92
    printf "%s\n" "${COMPREPLY[@]}"' complete_line "$file" "$@"
}

# offers offered|not-offered WORD... ::: WORDS...: the completions of WORD... include every one of
# WORDS (offered) or none of them (not-offered).
offers() {
  local mode=$1
  shift
  local -a words=()
  while [[ $1 != ::: ]]; do
    words+=("$1")
    shift
  done
  shift
  local out rc=0
  out=$(complete_line "${words[@]}") || rc=$?
  if ((rc)); then
    fail "'${words[*]}': the completion did not run (status $rc: 90 source, 91 not registered, 92 function)"
    return
  fi
  local want
  for want in "$@"; do
    if grep -qxF -- "$want" <<<"$out"; then
      [[ $mode == offered ]] || fail "'${words[*]}<TAB>' offers '$want'"
    else
      [[ $mode == not-offered ]] || fail "'${words[*]}<TAB>' does not offer '$want' (offers: $(tr '\n' ' ' <<<"$out"))"
    fi
  done
}
expect() { offers offered "$@"; }
reject() { offers not-offered "$@"; }

# The real programs.
command -v sandbox >/dev/null || fail "no sandbox in PATH"
command -v sandbox-shim >/dev/null || fail "no sandbox-shim in PATH"
bash --norc --noprofile -c 'source "$1" && complete -p sandbox && complete -p sandbox-shim' _ "$file" >/dev/null ||
  fail "sourcing $file does not register completions for sandbox and sandbox-shim"
expect sandbox r ::: run
expect sandbox '' ::: run serve ctl
expect sandbox run --heap ::: --heap-quota
expect sandbox run --scope '' ::: job process
expect sandbox run --heap-quota 16M -- ech ::: echo
expect sandbox run --heap-quota=16M ech ::: echo
expect sandbox run --heap-quota = 16M ech ::: echo  # as bash splits it (COMP_WORDBREAKS has =)
expect sandbox-shim --so ::: --socket
expect sandbox-shim --heap ::: --heap-quota
expect sandbox-shim --socket /tmp/s -- ech ::: echo
files=$(mktemp -d)
touch "$files/run.json" "$files/other.json"
expect sandbox plot "$files/r" ::: "$files/run.json"
reject sandbox plot '' ::: serve ctl oci-profile  # not subcommands (files: / has a run/)
expect sandbox plot --t ::: --top --title
expect sandbox plot - ::: -o --output --top --title
expect sandbox plot -o "$files/o" ::: "$files/other.json"
expect sandbox oci-profile -- ::: --listener --heap-quota --file-quota --config --replace --quota-policy
reject sandbox oci-profile -- ::: --oci-listener --oci-policy-dir --trace --socket
expect sandbox oci-profile --config "$files/o" ::: "$files/other.json"
expect sandbox ctl cap --j ::: --job
expect sandbox ctl cap --so ::: --socket  # ctl's options after the subcommand too
expect sandbox ctl '' ::: register fetch cap list watch
reject sandbox run --heap-quota '' ::: run serve
rm -rf "$files"
if [[ -n $policy_dir ]]; then
  expect sandbox run --policy "$policy_dir/st" ::: "$policy_dir/strict.json"
fi

# Fakes: the completion offers what the definition says, whatever it says, and nothing from --help.
fake=$(mktemp -d)
trap 'rm -rf "$fake"' EXIT
cat >"$fake/sandbox" <<'EOF2'
#!/bin/sh
if [ "$1" = --help ]; then echo "  --only-in-help   prose mentions --only-in-help-too"; exit 0; fi
[ "$1" = --__complete ] || exit 2
case "$2" in
  '') printf 'sub frobnicate\nsub defrob\nopt -h,--help flag\n' ;;
  frobnicate) printf 'opt --made-up-flag flag\nopt --colour choice:red,green\nopt --made-up-file file\narg command\n' ;;
  defrob) printf 'opt --other-flag flag\narg file\n' ;;
esac
EOF2
cat >"$fake/sandbox-shim" <<'EOF2'
#!/bin/sh
[ "$1" = --__complete ] || exit 2
printf 'opt -z,--zonk choice:alpha,beta\nopt --quux-file file\nopt --flag-a flag\narg command\n'
EOF2
chmod +x "$fake/sandbox" "$fake/sandbox-shim"
PATH=$fake:$PATH
expect sandbox '' ::: frobnicate defrob
reject sandbox '' ::: run serve ctl
reject sandbox -- ::: --only-in-help --only-in-help-too
expect sandbox frobnicate --made ::: --made-up-flag --made-up-file
reject sandbox frobnicate --he ::: --heap-quota
expect sandbox frobnicate --colour '' ::: red green
expect sandbox frobnicate --made-up-file "$fake/sandbox-s" ::: "$fake/sandbox-shim"
expect sandbox frobnicate --made-up-flag ech ::: echo
expect sandbox defrob "$fake/sandbox-s" ::: "$fake/sandbox-shim"
expect sandbox-shim --zo ::: --zonk
expect sandbox-shim -z '' ::: alpha beta
expect sandbox-shim --zonk=b ::: beta
expect sandbox-shim --zonk = b ::: beta
expect sandbox-shim --zonk = ::: alpha beta
reject sandbox-shim --so ::: --socket
expect sandbox-shim --flag-a ech ::: echo  # a flag takes no value: the command starts

if ((failures)); then
  echo "completion_test: $failures failure(s)"
  exit 1
fi
echo "completion_test: all cases passed"
