#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Builds the patched Linux 6.1 bzImage: Debian's linux-source-6.1 + patches/*.patch,
# configured as tinyconfig + config/tracker.config. The image is cached under
# $CACHE/<sha256 of the patches, the fragment and this script's recipe version>/,
# so an unchanged patch is never rebuilt. Prints the bzImage path on stdout (last line);
# everything else goes to stderr.
#
#   kernel/build.sh            build (or reuse) and print the image path
#   kernel/build.sh --key      print the cache key only
#
# Environment: SANDBOX_KERNEL_CACHE (default ${XDG_CACHE_HOME:-~/.cache}/sandbox-kernel),
# SANDBOX_KERNEL_WORK (unpacked source and the build tree; default $CACHE/work),
# JOBS (default: number of CPUs), KERNEL_TARBALL (default /usr/src/linux-source-6.1.tar.xz),
# KERNEL_CONFIG_EXTRA (more fragments applied after tracker.config, e.g. config/debug.config;
# part of the cache key, and built in its own tree so the two variants stay incremental).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
recipe=1 # bump when the build steps below change what the image contains
cache=${SANDBOX_KERNEL_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/sandbox-kernel}
work=${SANDBOX_KERNEL_WORK:-$cache/work}
tarball=${KERNEL_TARBALL:-/usr/src/linux-source-6.1.tar.xz}
jobs=${JOBS:-$(nproc)}
fragments=("$here/config/tracker.config")
variant=out
for f in ${KERNEL_CONFIG_EXTRA:-}; do
  f=$(readlink -f "$f")
  [[ -r $f ]] || { echo "kernel/build: no config fragment $f" >&2; exit 1; }
  fragments+=("$f")
  variant+=-$(basename "$f" .config)
done
patches=("$here"/patches/*.patch)

log() { printf 'kernel/build: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }
# Every failure ends with one line "kernel/build: error: <cause>" (the parity harness shows
# it): the named checks below, and this trap for any other failing step.
trap 'rc=$?; log "error: command failed with status $rc (line $LINENO): $BASH_COMMAND"; exit 1' ERR

# A leading SPDX line of a patch (scripts/spdx.sh) is no change to the kernel: not in the key.
key=$( { echo "recipe $recipe"; sed -s '1{/^# SPDX-License-Identifier:/d}' "${patches[@]}"; cat "${fragments[@]}"; } | sha256sum | cut -c1-16)
if [[ ${1:-} == --key ]]; then echo "$key"; exit 0; fi

image=$cache/$key/bzImage
if [[ -s $image ]]; then
  log "cached image for key $key"
  echo "$image"
  exit 0
fi

[[ -r $tarball ]] || die "$tarball missing (run scripts/install-deps.sh: package linux-source-6.1)"
for tool in make gcc flex bison bc perl patch; do
  command -v "$tool" >/dev/null || die "$tool missing (run scripts/install-deps.sh)"
done
mkdir -p "$cache" "$work" || die "cannot create the cache directory $cache"
exec 9>"$cache/.lock"
flock 9 # one build at a time; a second caller waits, then finds the image cached
if [[ -s $image ]]; then echo "$image"; exit 0; fi

start=$(date +%s)

# The unpacked tree and one build need about 2 GiB; say so rather than fail half-way.
free_kib=$(df -Pk "$work" | awk 'NR == 2 { print $4 }')
((free_kib > 2 * 1024 * 1024)) || die "less than 2 GiB free under $work ($((free_kib / 1024)) MiB): set SANDBOX_KERNEL_WORK"

# 1. The pristine tree, unpacked once per tarball.
stamp="$(stat -c '%s %Y' "$tarball")"
pristine=$work/pristine
if [[ ! -f $pristine/.unpacked || $(cat "$pristine/.unpacked") != "$stamp" ]]; then
  log "unpacking $tarball"
  rm -rf "$pristine" "$work/unpack"
  mkdir -p "$work/unpack"
  tar -xf "$tarball" -C "$work/unpack"
  mv "$work/unpack"/linux-source-* "$pristine"
  rmdir "$work/unpack"
  echo "$stamp" > "$pristine/.unpacked"
fi

# 2. A clean copy (hard links: cheap, and unchanged files keep their mtimes, so the
#    out-of-tree objects in $work/out stay valid), with the patches applied.
#    patch(1) replaces the files it changes rather than writing through the links.
src=$work/src
rm -rf "$src"
cp -al "$pristine" "$src"
rm -f "$src/.unpacked"
for p in "${patches[@]}"; do
  log "applying $(basename "$p")"
  patch -d "$src" -p1 --quiet --no-backup-if-mismatch --forward < "$p" >&2 ||
    die "$(basename "$p") does not apply"
done
if grep -q tracker_limiter "$pristine/kernel/Makefile"; then
  die "the pristine tree was modified through a hard link; rm -rf $pristine and retry"
fi

# 3. Configure: tinyconfig + fragment, then check every fragment line survived.
out=$work/$variant
mkdir -p "$out"
mk() { nice -n 10 make -s -C "$src" O="$out" ARCH=x86_64 "$@" >&2; }
mk tinyconfig
KCONFIG_CONFIG=$out/.config "$src/scripts/kconfig/merge_config.sh" -m -O "$out" "$out/.config" "${fragments[@]}" >/dev/null
mk olddefconfig
for f in "${fragments[@]}"; do
  while IFS= read -r line; do
    [[ $line =~ ^CONFIG_ || $line =~ ^#\ CONFIG_.*\ is\ not\ set$ ]] || continue
    grep -qx -- "$line" "$out/.config" || die "$(basename "$f"): not in the final .config: $line"
  done < "$f"
done

# 4. Build.
log "building bzImage with -j$jobs (logs: $work/$variant.log)"
if ! nice -n 10 make -C "$src" O="$out" ARCH=x86_64 -j"$jobs" bzImage > "$work/$variant.log" 2>&1; then
  tail -40 "$work/$variant.log" >&2
  die "kernel build failed"
fi
if grep -n 'tracker_limiter.*warning' "$work/$variant.log" >&2; then
  die "compiler warnings in tracker_limiter"
fi

mkdir -p "$cache/$key.tmp"
cp "$out/arch/x86/boot/bzImage" "$cache/$key.tmp/bzImage"
cp "$out/.config" "$cache/$key.tmp/config"
rm -rf "$cache/$key"
mv "$cache/$key.tmp" "$cache/$key"
log "built in $(( $(date +%s) - start ))s"
echo "$image"
