#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Boots the patched kernel under QEMU with an initramfs holding a tiny static init
# (kernel/initramfs/init.c) and the given static programs under /cases. init runs each
# program and prints its transcript on the serial console framed by "@@@ CASE" markers
# (see init.c), then reboots, which ends QEMU (-no-reboot). Console output goes to stdout.
#
#   kernel/boot.sh [--image BZIMAGE] [--timeout SECONDS] [--accel auto|kvm|tcg] [--smp N] CASE...
#
# CASE is a static executable (or a directory of them). Without --image the image comes
# from kernel/build.sh (built or taken from its cache).
#
# Acceleration (--accel, or SANDBOX_KERNEL_ACCEL): `auto` (default) uses KVM only when
# /dev/kvm can be opened for reading and writing AND a short probe boot under KVM reaches
# init (on some hosts /dev/kvm exists but -accel kvm hangs); otherwise TCG, with one line
# saying why. `kvm` insists on KVM and fails with one line if it cannot be had; `tcg`
# never touches /dev/kvm. The probe's verdict is cached for the host's boot.
#
# Every failure ends with one line on stderr, "kernel/boot: error: <cause>", and status 1
# (QEMU's own non-zero status is passed on after that line).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
cache=${SANDBOX_KERNEL_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/sandbox-kernel}
image="" timeout=900 accel=${SANDBOX_KERNEL_ACCEL:-auto} smp=2 mem=1024
cases=()
while (($#)); do
  case $1 in
    --image) image=$2; shift 2 ;;
    --timeout) timeout=$2; shift 2 ;;
    --accel) accel=$2; shift 2 ;;
    --smp) smp=$2; shift 2 ;;
    -h|--help) sed -n '2,12p' "$0"; exit 0 ;;
    *) cases+=("$1"); shift ;;
  esac
done

log() { printf 'kernel/boot: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }
# Any other failing command (a compiler, gen_init_cpio, ...) still ends with one line.
on_error() { log "error: command failed with status $1 (line $2): $3"; exit 1; }
trap 'on_error $? $LINENO "$BASH_COMMAND"' ERR
# The first line of QEMU's stderr that says something (not the missing-GUI-module notes).
first_error() { grep -v -e '^$' -e 'module .* not found' | head -1 | cut -c1-200; }
kvm_dev=${SANDBOX_KVM_DEVICE:-/dev/kvm} # overridable only so that tests can simulate hosts

case $accel in
  auto|kvm|tcg) ;;
  *) die "unknown accelerator '$accel' (use auto, kvm or tcg)" ;;
esac
[[ $timeout =~ ^[0-9]+$ && $timeout -gt 0 ]] || die "--timeout must be a positive number of seconds, not '$timeout'"
[[ $smp =~ ^[0-9]+$ && $smp -gt 0 ]] || die "--smp must be a positive number, not '$smp'"

if [[ -z $image ]]; then
  image=$("$here/build.sh" | tail -1) || die "kernel/build.sh failed (its last line above says why)"
fi
[[ -s $image ]] || die "no kernel image at $image"
command -v qemu-system-x86_64 >/dev/null || die "qemu-system-x86_64 missing (scripts/install-deps.sh)"
((${#cases[@]})) || die "no CASE given"

stage=$(mktemp -d "${TMPDIR:-/tmp}/tl-initramfs.XXXXXX")
trap 'rm -rf "$stage"' EXIT

# gen_init_cpio from the kernel source makes the archive without root (the /dev/console
# node) and without depending on the host's cpio flavour.
gen=$cache/gen_init_cpio
if [[ ! -x $gen ]]; then
  src=${SANDBOX_KERNEL_WORK:-$cache/work}/pristine/usr/gen_init_cpio.c
  [[ -r $src ]] || die "$src missing: run kernel/build.sh first"
  mkdir -p "$cache"
  cc -O2 -o "$gen.tmp" "$src" && mv "$gen.tmp" "$gen"
fi

cc -static -O2 -Wall -Wextra -o "$stage/init" "$here/initramfs/init.c" ||
  die "cannot build the static init (is libc6-dev installed? scripts/install-deps.sh)"

{
  echo "dir /dev 0755 0 0"
  echo "nod /dev/console 0600 0 0 c 5 1"
  echo "dir /proc 0555 0 0"
  echo "dir /tmp 1777 0 0"
  echo "dir /cases 0755 0 0"
  echo "file /init $stage/init 0755 0 0"
  for c in "${cases[@]}"; do
    if [[ -d $c ]]; then
      for f in "$c"/*; do
        [[ -f $f && -x $f ]] && echo "file /cases/$(basename "$f") $(readlink -f "$f") 0755 0 0"
      done
    else
      [[ -f $c && -x $c ]] || die "$c is not an executable"
      echo "file /cases/$(basename "$c") $(readlink -f "$c") 0755 0 0"
    fi
  done
} > "$stage/list"
"$gen" "$stage/list" > "$stage/initramfs.cpio"

qemu_args() { # $1 = accel, $2 = extra kernel arguments; fills the array qemu
  qemu=(qemu-system-x86_64 -accel "$1" -m "$mem" -smp "$smp" -kernel "$image"
    -initrd "$stage/initramfs.cpio" -display none -monitor none -serial stdio -no-reboot
    -append "console=ttyS0 quiet panic=-1 $2")
}
# Decide the accelerator. `if` statements, not `cond && cmd`: under `set -e` a false
# condition as the last command of a list would end the script without a word.
if [[ $accel == auto ]]; then
  if [[ ! -e $kvm_dev ]]; then
    accel=tcg
    log "no $kvm_dev on this host: using TCG (software emulation)"
  elif [[ ! -r $kvm_dev || ! -w $kvm_dev ]]; then
    accel=tcg
    log "$kvm_dev is not readable and writable by uid $(id -u): using TCG"
  else
    accel=probe
  fi
elif [[ $accel == kvm ]]; then
  [[ -e $kvm_dev ]] || die "--accel kvm: no $kvm_dev on this host (use --accel tcg or auto)"
  [[ -r $kvm_dev && -w $kvm_dev ]] || die "--accel kvm: $kvm_dev is not readable and writable by uid $(id -u)"
fi
if [[ $accel == probe ]]; then
  # A KVM boot that does not reach init within 15 s counts as "KVM does not work".
  # The verdict is kept for the rest of this host boot (keyed by its boot_id and the
  # device's identity, so a simulated device in a test does not poison the real one).
  dev_id=$(stat -L -c '%t-%T-%d-%i' "$kvm_dev" 2>/dev/null || echo none)
  verdict=$cache/kvm-probe-$dev_id
  boot_id=$(cat /proc/sys/kernel/random/boot_id 2>/dev/null || echo unknown)
  if [[ -f $verdict && $(head -1 "$verdict") == "$boot_id" ]]; then
    accel=$(sed -n 2p "$verdict")
    why=$(sed -n 3p "$verdict")
  else
    qemu_args kvm probe
    probe_out=$(timeout -k 2 15 "${qemu[@]}" </dev/null 2>&1) && probe_rc=0 || probe_rc=$?
    if grep -q '@@@ INIT' <<<"$probe_out"; then
      accel=kvm why=""
    else
      accel=tcg
      if ((probe_rc == 124 || probe_rc == 137)); then
        why="a probe boot under KVM did not reach init within 15 s"
      else
        why="a probe boot under KVM failed: $(first_error <<<"$probe_out")"
      fi
    fi
    mkdir -p "$cache" && printf '%s\n%s\n%s\n' "$boot_id" "$accel" "$why" > "$verdict"
  fi
  [[ $accel == kvm ]] || log "$kvm_dev exists but KVM does not work here ($why): using TCG"
fi
log "booting $(basename "$image") with accel=$accel smp=$smp, $(grep -c '^file /cases' "$stage/list") cases"

start=$EPOCHREALTIME
qemu_args "$accel" ""
set +e
trap - ERR # QEMU's status is examined below
timeout -k 5 "$timeout" "${qemu[@]}" </dev/null 2> "$stage/qemu.err" | tr -d '\r'
rc=${PIPESTATUS[0]}
trap 'on_error $? $LINENO "$BASH_COMMAND"' ERR
set -e
grep -v -e 'module .* not found' "$stage/qemu.err" >&2 || true
log "QEMU ended (status $rc) after $(awk -v a="$start" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }')s"
((rc == 124)) && die "QEMU timed out after ${timeout}s"
if ((rc != 0)); then
  cause=$(first_error < "$stage/qemu.err")
  die "QEMU failed (status $rc)${cause:+: $cause}"
fi
exit 0
