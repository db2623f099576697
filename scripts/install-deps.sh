#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Installs everything the project needs on a fresh Debian 12 machine (idempotent).
# Build + tests: compiler, CMake, libseccomp, Boost.Asio, nlohmann/json, doctest, CLI11 (header-only: the
# command lines of sandbox and sandbox-shim).
# Parity (kernel side): linux-source-6.1, QEMU and the kernel build tools.
# Fuzzing (test/fuzz): clang, and libFuzzer's runtime (libclang-rt-14-dev, only recommended by clang).
# Containers (test label `containers`, docs/containers.md): runc, crun, podman (rootful; it pulls
# conmon, containers-common, netavark/CNI plugins and iptables; no uidmap, slirp4netns or
# fuse-overlayfs needed as root), and busybox-static for an offline rootfs.
# Observability tests: promtool (prometheus) checks the Prometheus text, python3-prometheus-client parses the
# OpenMetrics text strictly, rsvg-convert (librsvg2-bin) renders the plot.
# Packaging (packaging/, test label `packaging`): help2man makes the man pages from --help, cpack's
# DEB generator needs file (and dpkg-dev, via build-essential), the test renders the pages with man
# and runs lintian on the package (no error or warning).
# Policies: python3-jsonschema validates them against policies/policy.schema.json (test policy_schema).
set -euo pipefail
packages=(
  build-essential cmake pkg-config git ca-certificates python3
  libseccomp-dev libboost-dev nlohmann-json3-dev doctest-dev libcli11-dev
  strace clang-format
  linux-source-6.1 qemu-system-x86 flex bison bc libelf-dev libssl-dev cpio xz-utils
  patch perl python3-ply libc6-dev gcc-multilib
  # The BPF engine (supervisor/bpf): clang builds the programs, bpftool dumps vmlinux.h and makes the
  # skeleton, libbpf (static, with libelf and zlib) loads it.
  libbpf-dev bpftool zlib1g-dev
  clang libclang-rt-14-dev
  runc crun podman busybox-static
  prometheus librsvg2-bin python3-prometheus-client
  help2man file man-db lintian
  python3-jsonschema
  # CPython's own test modules, run under the commit heap rule (CTest heap_rule_cpython, docs/memory.md).
  libpython3.11-testsuite
)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  [ "$(id -u)" -eq 0 ] || { echo "install-deps: need root to install: ${missing[*]}" >&2; exit 1; }
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
echo "install-deps: all ${#packages[@]} packages present"
