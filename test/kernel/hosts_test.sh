#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# kernel/boot.sh, kernel/build.sh and the parity harness on simulated hosts: hosts without
# /dev/kvm, with a /dev/kvm that does not work, and with broken inputs. Each scenario
# asserts the outcome (a TCG boot that runs the case, or one line naming the cause) and
# prints which scenario it ran. The /dev/kvm scenarios run boot.sh in a private mount
# namespace whose /dev is a tmpfs holding only what QEMU needs, so they are the same on a
# host with a working, a broken, or no /dev/kvm.
#
#   test/kernel/hosts_test.sh WORKDIR
# Exit status: 0 every scenario passed, 1 one failed, 77 (CTest: skipped) when this host
# cannot make a mount namespace for the simulation.
set -uo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
work=${1:?usage: hosts_test.sh WORKDIR}
mkdir -p "$work"
failures=0 passes=0

pass() { echo "PASS: $*"; passes=$((passes + 1)); }
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }
# expect NAME WANT_STATUS PATTERN FILE: the status matched and FILE holds PATTERN.
expect() {
  local name=$1 want=$2 got=$3 pattern=$4 file=$5
  if [[ $got != "$want" ]]; then
    fail "$name: status $got, expected $want"; sed 's/^/    /' "$file"; return
  fi
  if ! grep -qE -- "$pattern" "$file"; then
    fail "$name: no line matching '$pattern'"; sed 's/^/    /' "$file"; return
  fi
  pass "$name"
}
# The failure line of a script must be one line: exactly one "error:" line on stderr.
one_error_line() {
  local name=$1 file=$2 n
  n=$(grep -c ': error: ' "$file")
  if ((n == 1)); then pass "$name: one error line"; else fail "$name: $n error lines"; sed 's/^/    /' "$file"; fi
}

# A tiny static case for the VM.
cat > "$work/hello.c" <<'C'
#include <stdio.h>
int main(void) { printf("hello from the parity VM\n"); return 0; }
C
cc -static -O2 -o "$work/hello" "$work/hello.c" || { echo "FAIL: cannot build a static program"; exit 1; }
image=$("$repo/kernel/build.sh" 2>"$work/build.err" | tail -1)
if [[ ! -s $image ]]; then
  echo "FAIL: kernel/build.sh gave no image: $(tail -1 "$work/build.err")"
  exit 1
fi

# Runs boot.sh in a private mount namespace whose /dev has null, zero, random, urandom and,
# when $1 is not "none", a kvm node that is really $1 (e.g. /dev/null: "exists, not KVM").
in_fake_dev() {
  local kvm=$1; shift
  local ns=(unshare -m --propagation private)
  (($(id -u) == 0)) || ns=(unshare -r -m --propagation private)
  "${ns[@]}" bash -c '
    set -e
    kvm=$1; shift
    d=$(mktemp -d)
    mount -t tmpfs -o mode=0755 fake-dev "$d"
    for n in null zero random urandom full; do touch "$d/$n"; mount --bind "/dev/$n" "$d/$n"; done
    if [[ $kvm != none ]]; then touch "$d/kvm"; mount --bind "$kvm" "$d/kvm"; fi
    mount --move "$d" /dev
    exec "$@"' fake-dev "$kvm" "$@"
}
if ! in_fake_dev none true 2>"$work/ns.err"; then
  echo "SKIP: cannot make a private mount namespace here: $(tail -1 "$work/ns.err")"
  exit 77
fi

boot() { "$repo/kernel/boot.sh" --image "$image" --timeout 300 "$@" "$work/hello"; }

# 1. No /dev/kvm at all, accel auto: TCG, said once, and the case runs.
SANDBOX_KERNEL_ACCEL=auto in_fake_dev none "$repo/kernel/boot.sh" --image "$image" --timeout 300 "$work/hello" \
  >"$work/1.out" 2>"$work/1.err"
rc=$?
expect "no /dev/kvm (auto): TCG fallback announced" 0 "$rc" "no /dev/kvm on this host: using TCG" "$work/1.err"
expect "no /dev/kvm (auto): the case ran" 0 "$rc" "hello from the parity VM" "$work/1.out"

# 2. A /dev/kvm that is not KVM (the probe boot fails): TCG, with the cause, and the case runs.
SANDBOX_KERNEL_ACCEL=auto in_fake_dev /dev/null "$repo/kernel/boot.sh" --image "$image" --timeout 300 "$work/hello" \
  >"$work/2.out" 2>"$work/2.err"
rc=$?
expect "broken /dev/kvm (auto): TCG fallback with the cause" 0 "$rc" "/dev/kvm exists but KVM does not work here \(.+\): using TCG" "$work/2.err"
expect "broken /dev/kvm (auto): the case ran" 0 "$rc" "hello from the parity VM" "$work/2.out"

# 3. --accel kvm without /dev/kvm: one line naming the cause, status 1, no boot.
in_fake_dev none "$repo/kernel/boot.sh" --image "$image" --accel kvm "$work/hello" >"$work/3.out" 2>"$work/3.err"
expect "--accel kvm without /dev/kvm: refused" 1 "$?" "kernel/boot: error: --accel kvm: no /dev/kvm on this host" "$work/3.err"
one_error_line "--accel kvm without /dev/kvm" "$work/3.err"

# 4. --accel kvm with a /dev/kvm that is not KVM: QEMU fails; one line with QEMU's cause.
in_fake_dev /dev/null "$repo/kernel/boot.sh" --image "$image" --accel kvm "$work/hello" >"$work/4.out" 2>"$work/4.err"
expect "--accel kvm, broken /dev/kvm: QEMU's cause named" 1 "$?" "kernel/boot: error: QEMU failed \(status [0-9]+\): .+" "$work/4.err"
one_error_line "--accel kvm, broken /dev/kvm" "$work/4.err"

# 5. TCG on request never looks at /dev/kvm.
SANDBOX_KERNEL_ACCEL=tcg in_fake_dev /dev/null "$repo/kernel/boot.sh" --image "$image" --timeout 300 "$work/hello" \
  >"$work/5.out" 2>"$work/5.err"
expect "--accel tcg: boots" 0 "$?" "booting .* with accel=tcg" "$work/5.err"

# 6. Not a kernel image: QEMU refuses it; one line.
printf 'not a kernel\n' > "$work/bogus"
boot --accel tcg --image "$work/bogus" >"$work/6.out" 2>"$work/6.err"
expect "bogus image: QEMU's cause named" 1 "$?" "kernel/boot: error: QEMU failed" "$work/6.err"
one_error_line "bogus image" "$work/6.err"

# 7. Bad arguments: one line each.
"$repo/kernel/boot.sh" --image "$image" --accel warp "$work/hello" >"$work/7.out" 2>"$work/7.err"
expect "unknown accelerator" 1 "$?" "kernel/boot: error: unknown accelerator 'warp'" "$work/7.err"
"$repo/kernel/boot.sh" --image "$image" "$work/hello.c" >"$work/8.out" 2>"$work/8.err"
expect "a case that is not executable" 1 "$?" "kernel/boot: error: .*hello.c is not an executable" "$work/8.err"

# 8. build.sh without the kernel source: one line, before any work.
KERNEL_TARBALL=$work/none.tar.xz SANDBOX_KERNEL_CACHE=$work/cache "$repo/kernel/build.sh" >"$work/9.out" 2>"$work/9.err"
expect "build.sh without linux-source" 1 "$?" "kernel/build: error: .*none.tar.xz missing" "$work/9.err"
one_error_line "build.sh without linux-source" "$work/9.err"

# 9. The parity harness when the kernel side cannot run: a failure with the cause, never a
#    table of 0/N differences.
SANDBOX_KERNEL_ACCEL=kvm SANDBOX_KVM_DEVICE=$work/no-kvm "$repo/test/parity/run" --kernel-only \
  --only register_basic --build-dir "$work/parity" >"$work/10.out" 2>"$work/10.err"
expect "parity: 0 kernel cases is a failure" 2 "$?" "parity: FAILED: 0 cases ran on the kernel side .*: kernel/boot: error: --accel kvm: no .*no-kvm on this host" "$work/10.out"

echo "hosts_test: $passes passed, $failures failed"
((failures == 0))
