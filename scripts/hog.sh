#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Runs a command with a CPU hog on every core beside it, and stops the hog after, whatever the
# command did (issue 21: the tests must hold on a busy machine). The hog is `stress-ng --cpu N`
# where stress-ng is installed, else N shell busy loops; either runs in a session of its own,
# which is killed as a whole at the end. Exit status: the command's.
# Usage: scripts/hog.sh [-n N] COMMAND [ARG...]     N hog workers (default: nproc)
#   e.g. scripts/hog.sh ctest --test-dir build -L 'unit|integration|stress'
#        scripts/hog.sh scripts/sanitize.sh -L 'unit|integration|stress'
set -euo pipefail
workers=$(nproc)
if [[ ${1:-} == -n ]]; then
  workers=${2:?"-n needs a number"}
  shift 2
fi
if (($# == 0)); then
  echo "usage: scripts/hog.sh [-n N] COMMAND [ARG...]" >&2
  exit 2
fi

hog=
stop_hog() {
  if [[ -n $hog ]]; then
    kill -TERM -- "-$hog" 2>/dev/null || true  # the hog's own session (its pid is its group)
    wait "$hog" 2>/dev/null || true
    kill -KILL -- "-$hog" 2>/dev/null || true  # any worker that outlived the TERM
    echo "hog: stopped" >&2
  fi
}
trap stop_hog EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# setsid: the hog leads a process group of its own (a background child of a non-interactive
# shell is no group leader, so setsid execs in place and $! is the group's id).
if command -v stress-ng >/dev/null; then
  setsid stress-ng --cpu "$workers" --quiet </dev/null &
  hog=$!
  echo "hog: stress-ng --cpu $workers (process group $hog)" >&2
else
  setsid bash -c 'for ((i = 0; i < $1; i++)); do while :; do :; done & done; wait' hog "$workers" </dev/null &
  hog=$!
  echo "hog: $workers busy loops (process group $hog)" >&2
fi

status=0
"$@" || status=$?
exit "$status"
