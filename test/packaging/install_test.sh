#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# install_test.sh BUILD_DIR SOURCE_DIR: `cmake --install` into a DESTDIR, with prefix /usr and with
# prefix /usr/local, and checks where everything went (packaging/CMakeLists.txt):
#   - exactly sandbox and sandbox-shim in PREFIX/bin, no test or bench program;
#   - the policies (policies/*.json but a schema) in /etc/sandbox for /usr, PREFIX/etc/sandbox
#     otherwise; the units in /lib/systemd/system resp. PREFIX/lib/systemd/system, their
#     ExecStart naming PREFIX/bin/sandbox;
#   - man pages sandbox(1) and sandbox-shim(1), the completion under both names, the docs;
#   - the licence (copyright, DEP-5) and changelog.Debian.gz in the docs, lintian's overrides;
#   - every link in the installed files resolves in the installed tree (links.py: Markdown links,
#     the units' Documentation=, the doc paths the man pages name);
#   - nothing anywhere else, nothing outside DESTDIR, and install_manifest.txt without DESTDIR.
# Needs no root.
set -euo pipefail
build=$1 src=$2
fail() {
  echo "FAIL: $*" >&2
  exit 1
}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/sandbox-install-test.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

policies=()
for p in "$src"/policies/*.json; do
  [[ ${p##*/} == *schema* ]] || policies+=("${p##*/}")
done
((${#policies[@]})) || fail "no policies in $src/policies"

check() {  # check PREFIX ETC LIB: install with PREFIX; ETC and LIB are where /etc and /lib go
  local prefix=$1 etc=$2 lib=$3 dest=$tmp/dest$RANDOM
  local log=$tmp/install.log
  DESTDIR=$dest cmake --install "$build" --prefix "$prefix" >"$log" 2>&1 ||
    fail "cmake --install --prefix $prefix failed: $(grep -v '^-- ' "$log" | head -5)"
  mapfile -t got < <(cd "$dest" && find . \( -type f -o -type l \) -printf '/%P\n' | sort)

  local -a want=("$prefix/bin/sandbox" "$prefix/bin/sandbox-shim" "$lib/systemd/system/sandbox.service"
    "$lib/systemd/system/sandbox.socket" "$prefix/share/bash-completion/completions/sandbox"
    "$prefix/share/bash-completion/completions/sandbox-shim" "$prefix/share/man/man1/sandbox.1.gz"
    "$prefix/share/man/man1/sandbox-shim.1.gz" "$prefix/share/doc/sandbox/README.md"
    "$prefix/share/doc/sandbox/docs/semantics.md" "$prefix/share/doc/sandbox/policies/README.md"
    "$prefix/share/doc/sandbox/copyright" "$prefix/share/doc/sandbox/changelog.Debian.gz"
    "$prefix/share/doc/sandbox/examples/README.md" "$prefix/share/lintian/overrides/sandbox")
  local p f
  for p in "${policies[@]}"; do
    want+=("$etc/sandbox/$p")
  done
  for f in "${want[@]}"; do
    [[ " ${got[*]} " == *" $f "* ]] || fail "prefix $prefix: $f was not installed"
  done
  mapfile -t bins < <(printf '%s\n' "${got[@]}" | grep -E "^$prefix/s?bin/" || true)
  [[ ${bins[*]} == "$prefix/bin/sandbox $prefix/bin/sandbox-shim" ]] || fail "prefix $prefix: programs installed: ${bins[*]}"
  local stray
  stray=$(printf '%s\n' "${got[@]}" | grep -vE "^($etc/sandbox|$lib/systemd/system|$prefix/(bin|share/(man/man1|bash-completion/completions|doc/sandbox|sandbox|lintian/overrides)))/" || true)
  [[ -z $stray ]] || fail "prefix $prefix: installed elsewhere: $stray"
  grep -qx "ExecStart=$prefix/bin/sandbox serve" "$dest$lib/systemd/system/sandbox.service" ||
    fail "prefix $prefix: $(grep ExecStart "$dest$lib/systemd/system/sandbox.service")"
  [[ $(readlink "$dest$prefix/share/bash-completion/completions/sandbox-shim") == sandbox ]] ||
    fail "prefix $prefix: the sandbox-shim completion is not a link to sandbox"
  local links
  links=$(python3 "$(dirname "$0")/links.py" "$dest") || fail "prefix $prefix: links that do not resolve: $links"
  grep -q "^file://$prefix/share/doc/sandbox/\|Documentation=.*file://$prefix/share/doc/sandbox/" \
    "$dest$lib/systemd/system/sandbox.service" ||
    fail "prefix $prefix: sandbox.service's Documentation= does not name $prefix/share/doc/sandbox"
  "$dest$prefix/bin/sandbox" --version >/dev/null || fail "prefix $prefix: the installed sandbox --version fails"
  grep -q "^$dest" "$build/install_manifest.txt" && fail "install_manifest.txt names DESTDIR paths"
  grep -qx "$etc/sandbox/${policies[0]}" "$build/install_manifest.txt" ||
    fail "install_manifest.txt does not list $etc/sandbox/${policies[0]}"
  echo "prefix $prefix: ${#got[@]} files; policies in $etc/sandbox, units in $lib/systemd/system"
}

check /usr /etc /lib
check /usr/local /usr/local/etc /usr/local/lib
