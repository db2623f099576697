#!/usr/bin/env bash
# Boots the patched kernel under QEMU with an initramfs holding a tiny static init
# (kernel/initramfs/init.c) and the given static programs under /cases. init runs each
# program and prints its transcript on the serial console framed by "@@@ CASE" markers
# (see init.c), then reboots, which ends QEMU (-no-reboot). Console output goes to stdout.
#
#   kernel/boot.sh [--image BZIMAGE] [--timeout SECONDS] [--accel auto|kvm|tcg] [--smp N] CASE...
#
# CASE is a static executable (or a directory of them). Without --image the image comes
# from kernel/build.sh (built or taken from its cache). KVM is used only when a short
# probe boot under KVM succeeds (here -enable-kvm was seen to hang); otherwise TCG.
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

[[ -n $image ]] || image=$("$here/build.sh" | tail -1)
[[ -s $image ]] || die "no kernel image at $image"
command -v qemu-system-x86_64 >/dev/null || die "qemu-system-x86_64 missing (scripts/install-deps.sh)"

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

cc -static -O2 -Wall -Wextra -o "$stage/init" "$here/initramfs/init.c"

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
[[ $accel == auto ]] && accel=tcg$( [[ -r /dev/kvm && -w /dev/kvm ]] && echo +probe)
if [[ $accel == tcg+probe ]]; then
  # A KVM boot that does not reach init within 15 s counts as "KVM does not work".
  # The verdict is kept for the rest of this host boot (keyed by its boot_id).
  verdict=$cache/kvm-probe
  boot_id=$(cat /proc/sys/kernel/random/boot_id 2>/dev/null || echo unknown)
  if [[ -f $verdict && $(head -1 "$verdict") == "$boot_id" ]]; then
    accel=$(sed -n 2p "$verdict")
  else
    qemu_args kvm probe
    probe_out=$(timeout -k 2 15 "${qemu[@]}" </dev/null 2>&1 || true)
    if grep -q '@@@ INIT' <<<"$probe_out"; then accel=kvm; else accel=tcg; fi
    mkdir -p "$cache" && printf '%s\n%s\n' "$boot_id" "$accel" > "$verdict"
  fi
  [[ $accel == kvm ]] || log "KVM probe failed (this host boot), using TCG"
fi
log "booting $(basename "$image") with accel=$accel smp=$smp, $(grep -c '^file /cases' "$stage/list") cases"

start=$(date +%s.%N)
set +e
qemu_args "$accel" ""
timeout -k 5 "$timeout" "${qemu[@]}" </dev/null | tr -d '\r'
rc=${PIPESTATUS[0]}
set -e
log "QEMU ended (status $rc) after $(printf '%.1f' "$(echo "$(date +%s.%N) - $start" | bc)")s"
((rc == 124)) && die "QEMU timed out after ${timeout}s"
exit "$rc"
