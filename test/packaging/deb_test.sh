#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# deb_test.sh BUILD_DIR VERSION ALLOC COMPLETION_TEST: builds the .deb with cpack from BUILD_DIR,
# checks its control data, then installs it with `dpkg -i` into a scratch root and uses the
# installed copy there, then removes and purges it.
#
# The scratch root: in a private mount namespace (unshare -m), an overlayfs whose lower layer is
# the host's / and whose upper layer is a tmpfs, with /proc, /dev, /sys, /tmp and /run mounted,
# and chroot into it. dpkg sees the host's database through the overlay, so the package's
# dependencies are satisfied without a network, and everything it writes goes to the tmpfs,
# which disappears with the namespace: nothing on the host changes.
#
# Exit status: 0 when every check passed, 1 on the first failure (FAIL: ... says which), 77
# (ctest SKIP_RETURN_CODE) with "SKIP: reason" when the host cannot make the scratch root (not
# root, no unshare, no overlayfs, not a dpkg system).
set -euo pipefail
skip() {
  echo "SKIP: $*"
  exit 77
}
fail() {
  echo "FAIL: $*" >&2
  exit 1
}

if [[ ${1:-} == --inside ]]; then
  inside=1
  shift
else
  inside=0
fi
(($# == 4)) || fail "usage: deb_test.sh BUILD_DIR VERSION ALLOC COMPLETION_TEST"
build=$1 version=$2 alloc=$3 completion_test=$4

# ---- the checks run inside the scratch root (chroot), with the package and helpers in /tmp ----
if [[ -n ${SANDBOX_DEB_TEST_CHROOTED:-} ]]; then
  cd /
  deb=$(echo /tmp/pkg/sandbox_*.deb)
  echo "== dpkg -i $(basename "$deb")"
  # --path-include: keep the man pages and docs even where dpkg.cfg.d excludes them (Docker's
  # minimal images); where nothing is excluded it changes nothing.
  dpkg --path-include='/usr/share/man/man1/sandbox*' --path-include='/usr/share/doc/sandbox/*' -i "$deb" ||
    fail "dpkg -i $deb failed"
  [[ $(dpkg-query -W -f='${db:Status-Abbrev}' sandbox) == "ii " ]] || fail "sandbox is not installed after dpkg -i"
  mapfile -t files < <(dpkg -L sandbox)
  mapfile -t conffiles < <(dpkg-query -W -f='${Conffiles}\n' sandbox | awk 'NF {print $1}')

  echo "== the installed programs"
  [[ $(command -v sandbox) == /usr/bin/sandbox ]] || fail "sandbox in PATH is '$(command -v sandbox)', not /usr/bin/sandbox"
  [[ $(command -v sandbox-shim) == /usr/bin/sandbox-shim ]] || fail "sandbox-shim is not /usr/bin/sandbox-shim"
  out=$(sandbox --version) || fail "sandbox --version exited $?"
  [[ $out == *"$version"* ]] || fail "sandbox --version printed '$out', without $version"
  echo "sandbox --version: $out"
  out=$(sandbox-shim --version) || fail "sandbox-shim --version exited $?"
  [[ $out == *"$version"* ]] || fail "sandbox-shim --version printed '$out', without $version"

  echo "== a heap quota, from the installed sandbox"
  /tmp/alloc 32 >/dev/null || fail "alloc 32 fails natively (status $?): the test program is broken"
  rc=0
  out=$(sandbox run --heap-quota 64M -- /tmp/alloc 32 2>&1) || rc=$?
  ((rc == 0)) || fail "sandbox run --heap-quota 64M -- alloc 32 exited $rc (it fits): $out"
  rc=0
  sandbox run --heap-quota 16M -- /tmp/alloc 32 >/tmp/out 2>/tmp/err || rc=$?
  ((rc == 137)) || fail "sandbox run --heap-quota 16M -- alloc 32 exited $rc, not 137 (stderr: $(cat /tmp/err))"
  [[ ! -s /tmp/out ]] || fail "alloc 32 finished under a 16M quota: $(cat /tmp/out)"
  [[ $(wc -l </tmp/err) -eq 1 ]] || fail "the quota kill printed $(wc -l </tmp/err) lines, not one: $(cat /tmp/err)"
  grep -qE '^sandbox: .*kill.*heap.quota' /tmp/err || fail "the quota kill's line does not say so: $(cat /tmp/err)"
  echo "quota kill: exit 137, $(cat /tmp/err)"

  echo "== the installed policies"
  policies=(/etc/sandbox/*.json)
  [[ -e ${policies[0]} ]] || fail "no policy in /etc/sandbox"
  for p in "${policies[@]}"; do
    [[ " ${conffiles[*]} " == *" $p "* ]] || fail "$p is not a conffile (conffiles: ${conffiles[*]})"
    out=$(sandbox run --policy "$p" -- /bin/true 2>&1) || fail "sandbox run --policy $p -- true failed: $out"
  done
  ((${#conffiles[@]} == ${#policies[@]})) || fail "conffiles (${conffiles[*]}) are not the policies (${policies[*]})"
  echo "${#policies[@]} policies load, all conffiles: ${policies[*]}"

  echo "== the man pages"
  mapfile -t pages < <(printf '%s\n' "${files[@]}" | grep -E '^/usr/share/man/man1/.*\.1\.gz$')
  for want in sandbox sandbox-shim; do
    [[ " ${pages[*]} " == *" /usr/share/man/man1/$want.1.gz "* ]] || fail "no man page $want(1) in the package"
  done
  # Every subcommand `sandbox --help` lists in a Subcommands: section (CLI11) has its page.
  while read -r sub; do
    [[ " ${pages[*]} " == *" /usr/share/man/man1/sandbox-$sub.1.gz "* ]] || fail "no man page sandbox-$sub(1)"
  done < <(sandbox --help | awk 'tolower($0) ~ /^ *subcommands: *$/ {s = 1; next} s && /^ +[a-z]/ {print $1; next} {s = 0}')
  for page in "${pages[@]}"; do
    [[ -s $page ]] || fail "$page is listed by dpkg -L but missing"
    name=$(basename "$page" .1.gz)
    rc=0
    MANWIDTH=80 man -l "$page" >/tmp/man.out 2>/tmp/man.err </dev/null || rc=$?
    ((rc == 0)) || fail "man -l $page exited $rc: $(head -3 /tmp/man.err)"
    [[ ! -s /tmp/man.err ]] || fail "man -l $page warned: $(head -3 /tmp/man.err)"
    head -1 /tmp/man.out | grep -qiF "${name^^}(1)" || fail "man -l $page: no ${name^^}(1) header: $(head -1 /tmp/man.out)"
    grep -q '^NAME' /tmp/man.out || fail "man -l $page: no NAME section"
    grep -qE "^ +$name +- " /tmp/man.out || fail "man -l $page: NAME is not '$name - ...'"
    for section in SYNOPSIS DESCRIPTION OPTIONS 'EXIT STATUS' FILES EXAMPLES 'SEE ALSO'; do
      grep -qx "$section" /tmp/man.out || fail "man -l $page: no $section section"
    done
    # DESCRIPTION says more than NAME's one line.
    desc_lines=$(awk '/^DESCRIPTION$/ {s = 1; next} /^[A-Z]/ {s = 0} s && NF' /tmp/man.out | wc -l)
    ((desc_lines >= 2)) || fail "man -l $page: DESCRIPTION is $desc_lines line(s)"
  done
  MANWIDTH=80 man -l /usr/share/man/man1/sandbox-shim.1.gz 2>/dev/null | grep -q -- '--heap-quota' ||
    fail "sandbox-shim(1) does not mention --heap-quota"
  echo "${#pages[@]} man pages render: ${pages[*]##*/}"

  echo "== the bash completion"
  for name in sandbox sandbox-shim; do
    f=/usr/share/bash-completion/completions/$name
    [[ -e $f ]] || fail "no $f"
    bash --norc --noprofile -c 'source "$1" && complete -p "$2"' _ "$f" "$name" >/dev/null ||
      fail "sourcing $f does not register a completion for $name"
  done
  "$completion_test" /usr/share/bash-completion/completions/sandbox /etc/sandbox || fail "the completion test failed"

  echo "== every link in the installed files resolves"
  mapfile -t installed < <(dpkg -L sandbox)
  python3 /tmp/links.py / "${installed[@]}" || fail "links in the installed files do not resolve"

  echo "== the systemd units"
  for unit in sandbox.service sandbox.socket; do
    [[ -f /lib/systemd/system/$unit ]] || fail "no /lib/systemd/system/$unit"
  done
  grep -qx 'ExecStart=/usr/bin/sandbox serve' /lib/systemd/system/sandbox.service ||
    fail "sandbox.service does not start /usr/bin/sandbox: $(grep ExecStart /lib/systemd/system/sandbox.service)"

  echo "== dpkg -r, then dpkg -P"
  dpkg -r sandbox >/tmp/dpkg.out 2>&1 || fail "dpkg -r sandbox failed: $(cat /tmp/dpkg.out)"
  [[ $(dpkg-query -W -f='${db:Status-Abbrev}' sandbox) == "rc " ]] ||
    fail "after dpkg -r the status is '$(dpkg-query -W -f='${db:Status-Abbrev}' sandbox)', not 'rc'"
  left=()
  for f in "${files[@]}"; do
    [[ -d $f ]] && continue  # directories may be shared (/usr/bin, and /lib -> usr/lib)
    [[ " ${conffiles[*]} " == *" $f "* ]] && continue
    [[ -e $f || -L $f ]] && left+=("$f")
  done
  ((${#left[@]} == 0)) || fail "dpkg -r left: ${left[*]}"
  for f in "${conffiles[@]}"; do
    [[ -e $f ]] || fail "dpkg -r removed the conffile $f (it should stay until purge)"
  done
  hash -r
  command -v sandbox >/dev/null && fail "sandbox is still in PATH after dpkg -r"
  dpkg -P sandbox >/tmp/dpkg.out 2>&1 || fail "dpkg -P sandbox failed: $(cat /tmp/dpkg.out)"
  [[ -z $(dpkg-query -W -f='${db:Status-Abbrev}' sandbox 2>/dev/null) ]] ||
    [[ $(dpkg-query -W -f='${db:Status-Abbrev}' sandbox 2>/dev/null) == "un " ]] ||
    fail "after dpkg -P sandbox is still known to dpkg"
  [[ ! -e /etc/sandbox ]] || fail "dpkg -P left /etc/sandbox: $(ls /etc/sandbox)"
  echo "removed: ${#files[@]} paths gone, conffiles kept until purge, purge removed /etc/sandbox"
  exit 0
fi

# ---- in the private mount namespace: make the scratch root and chroot into it ----
if ((inside)); then
  scratch=$SANDBOX_DEB_TEST_SCRATCH
  mount -t tmpfs -o mode=0755 sandbox-deb-test "$scratch" || skip "cannot mount a tmpfs in a mount namespace"
  mkdir "$scratch/upper" "$scratch/work" "$scratch/root"
  err=$(mount -t overlay overlay -o "lowerdir=/,upperdir=$scratch/upper,workdir=$scratch/work" "$scratch/root" 2>&1) ||
    skip "cannot mount an overlayfs over / here: $err"
  root=$scratch/root
  mount -t proc proc "$root/proc"
  mount --rbind /dev "$root/dev"
  mount --rbind /sys "$root/sys"
  mount -t tmpfs -o mode=1777 tmpfs "$root/tmp"
  mount -t tmpfs -o mode=0755 tmpfs "$root/run"
  # man-db's trigger would re-index every manual page on the system: not what is tested here.
  rm -f "$root/var/lib/man-db/auto-update"
  mkdir "$root/tmp/pkg"
  cp "$SANDBOX_DEB_TEST_DEB" "$root/tmp/pkg/"
  cp "$alloc" "$root/tmp/alloc"
  cp "$0" "$root/tmp/deb_test.sh"
  cp "$completion_test" "$root/tmp/completion_test.sh"
  cp "$(dirname "$0")/links.py" "$root/tmp/links.py"
  exec env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LC_ALL=C.UTF-8 \
    TERM=dumb SANDBOX_DEB_TEST_CHROOTED=1 \
    chroot "$root" /bin/bash /tmp/deb_test.sh / "$version" /tmp/alloc /tmp/completion_test.sh
fi

# ---- on the host: what can it do, then build the package ----
[[ $(id -u) -eq 0 ]] || skip "needs root (a mount namespace, overlayfs, chroot and dpkg -i in the scratch root)"
for tool in unshare chroot dpkg dpkg-deb dpkg-query cpack; do
  command -v "$tool" >/dev/null || skip "no $tool on this host"
done
grep -qw overlay /proc/filesystems || modprobe overlay 2>/dev/null || true
grep -qw overlay /proc/filesystems || skip "the kernel has no overlayfs"
err=$(unshare -m --propagation private true 2>&1) || skip "cannot make a private mount namespace: $err"

tmp=$(mktemp -d "${TMPDIR:-/tmp}/sandbox-deb-test.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
echo "== cpack -G DEB"
cpack --config "$build/CPackConfig.cmake" -G DEB -B "$tmp/out" >"$tmp/cpack.log" 2>&1 ||
  fail "cpack -G DEB failed: $(grep -iE 'error|fail' "$tmp/cpack.log" | head -5)"
debs=("$tmp"/out/sandbox_*.deb)
if ((${#debs[@]} != 1)) || [[ ! -f ${debs[0]} ]]; then fail "cpack made no single sandbox_*.deb: $(ls "$tmp/out")"; fi
deb=${debs[0]}
echo "built $(basename "$deb") ($(stat -c %s "$deb") bytes)"

echo "== the package's control data"
field() { dpkg-deb -f "$deb" "$1"; }
[[ $(field Package) == sandbox ]] || fail "Package: $(field Package)"
[[ $(field Version) == "$version"-* ]] || fail "Version: $(field Version), not $version-N"
[[ $(field Architecture) == "$(dpkg --print-architecture)" ]] || fail "Architecture: $(field Architecture)"
[[ -n $(field Maintainer) ]] || fail "no Maintainer"
[[ -n $(field Section) ]] || fail "no Section"
[[ $(field Description | wc -l) -ge 2 ]] || fail "Description has no long description"
dpkg-deb -e "$deb" "$tmp/control"
[[ -f $tmp/control/conffiles ]] || fail "the package has no conffiles"
# Regular files and symlinks (6th column: the name; a symlink's target follows " -> ").
mapfile -t listed < <(dpkg-deb -c "$deb" | awk '$1 !~ /^d/ {print $6}' | sed 's|^\./|/|')
mapfile -t conf < <(sort "$tmp/control/conffiles")
mapfile -t etc < <(printf '%s\n' "${listed[@]}" | grep -E '^/etc/sandbox/[^/]+\.json$' | sort)
[[ ${conf[*]} == "${etc[*]}" ]] || fail "conffiles (${conf[*]}) are not the policies in /etc/sandbox (${etc[*]})"
mapfile -t bins < <(printf '%s\n' "${listed[@]}" | grep -E '^/usr/s?bin/.' | sort)
[[ ${bins[*]} == "/usr/bin/sandbox /usr/bin/sandbox-shim" ]] || fail "the package's programs are: ${bins[*]}"
stray=$(printf '%s\n' "${listed[@]}" |
  grep -vE '^/(etc/sandbox|lib/systemd/system|usr/bin|usr/share/(man/man1|bash-completion/completions|doc/sandbox|sandbox))/' |
  grep -vx '/usr/share/lintian/overrides/sandbox' || true)
[[ -z $stray ]] || fail "the package installs outside its places: $stray"
for f in /usr/share/doc/sandbox/copyright /usr/share/doc/sandbox/changelog.Debian.gz; do
  [[ " ${listed[*]} " == *" $f "* ]] || fail "the package has no $f"
done
echo "control: $(field Package) $(field Version) $(field Architecture), Section $(field Section), Depends '$(field Depends)', ${#conf[@]} conffiles"

# lintian: no error and no warning; the deliberate choices are overridden in the package, each
# with its reason (packaging/deb/lintian-overrides*).
echo "== lintian"
command -v lintian >/dev/null || fail "lintian is not installed (scripts/install-deps.sh installs it)"
lintian_out=$(lintian "$deb" 2>&1 | grep -v 'running with root privileges' || true)
[[ -z $(grep -E '^[EW]: ' <<<"$lintian_out") ]] || fail "lintian: $(grep -E '^[EW]: ' <<<"$lintian_out" | head -10)"
echo "lintian: no error, no warning"

echo "== into a scratch root (overlay of / in a private mount namespace)"
mkdir "$tmp/scratch"
SANDBOX_DEB_TEST_SCRATCH=$tmp/scratch SANDBOX_DEB_TEST_DEB=$deb \
  unshare -m --propagation private "$0" --inside "$build" "$version" "$alloc" "$completion_test"
