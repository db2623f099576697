#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Builds the libFuzzer harnesses with clang++ and runs each for SECONDS (default 60):
# fuzz_protocol (the control socket's request parser) and fuzz_policy (the policy parser),
# issue 6; fuzz_proc (the /proc text parsers: status, stat, maps, limits, the waits' signal
# state), fuzz_trace (the trace reader of `sandbox plot`, and the trace writer), fuzz_oci (the
# OCI listener's message reader: containerProcessState and its fds) and fuzz_http (the
# /metrics request reader), issue 20.
# Only the parser sources are compiled: protocol.cpp, policy.cpp, syscalls.cpp (the policy
# checks ABI numbers against the table; it needs libseccomp), tracker.cpp and jobs.cpp
# (names used by the serialisers) and supervisor/base/size.cpp for the first two; target.cpp and
# waits.cpp for fuzz_proc; trace.cpp and plot.cpp for fuzz_trace; oci.cpp (with policy.cpp and
# syscalls.cpp) and message.cpp for fuzz_oci; metrics.cpp and http_request.cpp for fuzz_http.
#
# Usage: test/fuzz/run.sh [SECONDS]
#   FUZZ_BUILD_DIR   build directory (default build-fuzz/ at the top of the tree)
#   CXX              the compiler (default clang++)
# The seed corpora in test/fuzz/corpus/ are read, never written: inputs libFuzzer finds go
# to $FUZZ_BUILD_DIR/corpus/NAME, crashing inputs to $FUZZ_BUILD_DIR/artifacts/.
# Prints, per harness, the executions and the crashes found; exits non-zero on a crash.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
seconds=${1:-60}
build=${FUZZ_BUILD_DIR:-$root/build-fuzz}
cxx=${CXX:-clang++}
mkdir -p "$build/obj" "$build/artifacts"

# shellcheck disable=SC2054 # the commas are inside -fsanitize= lists
flags=(-std=c++20 -g -O1 -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=all
       -I"$root/supervisor" -I"$root/shim" -DSANDBOX_VERSION=\"fuzz\")
seccomp_cflags=$(pkg-config --cflags libseccomp)
seccomp_libs=$(pkg-config --libs libseccomp)
headers=("$root"/supervisor/*.hpp "$root"/shim/*.hpp "$here/run.sh")

# Compiles $1 to $2 unless $2 is newer than $1 and every header (a coarse, safe rule).
compile() {
  local src=$1 obj=$2 stale=0
  [[ -f $obj && $obj -nt $src ]] || stale=1
  for h in "${headers[@]}"; do [[ $h -nt $obj ]] && stale=1; done
  if ((stale)); then
    echo "fuzz: compiling ${src#"$root"/}" >&2
    # shellcheck disable=SC2086
    nice "$cxx" "${flags[@]}" -fsanitize=fuzzer-no-link $seccomp_cflags -c "$src" -o "$obj"
  fi
}

# The sources each harness links (besides its own).
declare -A sources=(
  [fuzz_protocol]="supervisor/control/protocol.cpp supervisor/policy/policy.cpp supervisor/policy/syscalls.cpp supervisor/model/tracker.cpp supervisor/model/jobs.cpp supervisor/model/commit.cpp supervisor/base/size.cpp"
  [fuzz_policy]="supervisor/control/protocol.cpp supervisor/policy/policy.cpp supervisor/policy/syscalls.cpp supervisor/model/tracker.cpp supervisor/model/jobs.cpp supervisor/model/commit.cpp supervisor/base/size.cpp"
  [fuzz_proc]="supervisor/target/target.cpp supervisor/open/waits.cpp supervisor/base/files.cpp"
  [fuzz_trace]="supervisor/observe/trace.cpp supervisor/observe/plot.cpp"
  [fuzz_oci]="supervisor/oci/oci.cpp supervisor/oci/message.cpp supervisor/control/protocol.cpp supervisor/policy/policy.cpp supervisor/policy/syscalls.cpp supervisor/model/tracker.cpp supervisor/model/jobs.cpp supervisor/model/commit.cpp supervisor/base/size.cpp"
  [fuzz_http]="supervisor/observe/metrics.cpp supervisor/observe/http_request.cpp"
)
harnesses=(fuzz_protocol fuzz_policy fuzz_proc fuzz_trace fuzz_oci fuzz_http)
headers+=("$root"/supervisor/*/*.hpp)
for name in "${harnesses[@]}"; do
  objs=()
  for src in ${sources[$name]}; do
    obj="$build/obj/$(basename "${src%.cpp}").o"
    compile "$root/$src" "$obj"
    objs+=("$obj")
  done
  compile "$here/$name.cpp" "$build/obj/$name.o"
  # shellcheck disable=SC2086
  nice "$cxx" "${flags[@]}" -fsanitize=fuzzer "$build/obj/$name.o" "${objs[@]}" $seccomp_libs -lpthread -o "$build/$name"
done

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}
status=0
summary=()
for name in "${harnesses[@]}"; do
  corpus=${name#fuzz_}
  work="$build/corpus/$corpus"
  mkdir -p "$work"
  log="$build/$name.log"
  before=$(find "$build/artifacts" -name "$name-*" | wc -l)
  echo "fuzz: running $name for ${seconds}s (log: $log)" >&2
  rc=0
  # -max_len: requests and policies are small; longer inputs only slow the search down.
  nice "$build/$name" "$work" "$here/corpus/$corpus" -dict="$here/$corpus.dict" \
    -max_total_time="$seconds" -max_len=4096 -timeout=60 -rss_limit_mb=2048 -print_final_stats=1 \
    -artifact_prefix="$build/artifacts/$name-" >"$log" 2>&1 || rc=$?
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  after=$(find "$build/artifacts" -name "$name-*" | wc -l)
  crashes=$((after - before))
  summary+=("$name: ${execs:-?} executions in ${seconds}s, $crashes crash(es), corpus $(find "$work" -type f | wc -l) inputs, exit $rc")
  if ((rc != 0 || crashes > 0)); then
    status=1
    grep -E '^(==[0-9]+==ERROR|SUMMARY|.*runtime error|.*contract violated|.*uncaught exception)' "$log" >&2 || true
    find "$build/artifacts" -name "$name-*" -newer "$build/$name" >&2 || true
  fi
done
printf 'fuzz: %s\n' "${summary[@]}"
exit "$status"
