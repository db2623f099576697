#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# End-to-end: containers run by an OCI runtime under `sandbox serve --oci-listener`
# (docs/containers.md). One runtime per run:
#   containers_test.sh runc|crun|podman SANDBOX_BIN PROBE_BIN
# The rootfs is made offline from busybox-static plus the static probe (ctr_probe.c); the
# bundle's linux.seccomp comes from `sandbox oci-profile`. Cases:
#   rootfs   the container's own files resolve in its rootfs and namespaces (a file that
#            exists only there), from the probe (container init) and from a busybox child
#   heap     a container over its heap quota is killed (exit 137, one log line naming it)
#   files    a container that opens too many files is killed
#   children a container whose init forks children that each stay under the heap quota but
#            together go over it is killed as one job: a child's crossing kills them all;
#            a watcher on the control socket gets the killed event with the container id
#   childfiles the same with open files (runc, crun)
#   under    a container under its quotas runs to completion; while it runs, `ctl list`
#            shows its id on its node and on its job, its totals are exactly a baseline
#            container's plus what the probe did (8 MiB, 5 files), and its job's are its own
#            (also in `ctl metrics`, labelled with the container id)
# Exit: 0 when every assertion held; 1 at the first that did not; 77 (CTest: skipped, never
# a pass) when this host cannot run the runtime, with the reason on one line. The first
# line says which case of the host it ran.
set -uo pipefail
runtime=${1:?runtime}
sandbox=${2:?sandbox binary}
probe=${3:?probe binary}

skip() {
  echo "SKIP containers/$runtime: $*"
  exit 77
}
fail() {
  echo "FAIL containers/$runtime: $*"
  [[ -n ${T:-} && -f $T/serve.log ]] && sed 's/^/  serve: /' "$T/serve.log" | tail -20
  exit 1
}
pass() { echo "ok   $*"; }

# ---- what this host can do ----------------------------------------------------------
[[ $(id -u) == 0 ]] || skip "needs root (runtimes create namespaces and mounts; the supervisor serves as root)"
command -v "$runtime" >/dev/null || skip "$runtime is not installed (scripts/install-deps.sh installs it)"
command -v python3 >/dev/null || skip "python3 is not installed (edits config.json)"
[[ -x /bin/busybox ]] || skip "/bin/busybox is missing (package busybox-static)"
if ldd /bin/busybox >/dev/null 2>&1; then skip "/bin/busybox is dynamic: install busybox-static"; fi
[[ $runtime == podman ]] && ! command -v crun >/dev/null && skip "podman is tested with crun, which is not installed"

# cgroup layout: crun (alone or under podman) refuses a hybrid layout whose cgroup2 has
# controllers ("cgroups in hybrid mode not supported"). Then it runs in a private mount
# namespace where /sys/fs/cgroup/unified is unmounted: crun sees cgroup v1 only (the
# layout runc uses here anyway); nothing outside that namespace changes.
layout=legacy
case $(stat -fc %T /sys/fs/cgroup 2>/dev/null) in
  cgroup2fs) layout=unified ;;
  tmpfs) [[ $(stat -fc %T /sys/fs/cgroup/unified 2>/dev/null) == cgroup2fs ]] && layout=hybrid ;;
esac
wrap=()
if [[ $layout == hybrid && $runtime != runc && -n $(cat /sys/fs/cgroup/unified/cgroup.controllers 2>/dev/null) ]]; then
  command -v unshare >/dev/null || skip "hybrid cgroups need unshare(1) to hide cgroup2 from $runtime"
  wrap=(unshare -m --propagation private sh -c 'umount /sys/fs/cgroup/unified && exec "$@"' wrap)
  "${wrap[@]}" true 2>/dev/null || skip "hybrid cgroups: cannot unmount /sys/fs/cgroup/unified in a private mount namespace"
  how="in a private mount namespace without /sys/fs/cgroup/unified (hybrid: $(cat /sys/fs/cgroup/unified/cgroup.controllers) on cgroup2)"
else
  how="directly"
fi
echo "containers/$runtime: $("$runtime" --version | head -1); cgroups $layout; $runtime runs $how"

# ---- the supervisor -------------------------------------------------------------------
# How long a read waits for a line the test needs before it is a failure: a bound against a
# hang only (a busy machine may take seconds to start a container), never a pace.
hang_guard=120
T=$(mktemp -d /tmp/sandbox-containers.XXXXXX)
serve_pid=
cleanup() {
  [[ -n $serve_pid ]] && kill "$serve_pid" 2>/dev/null && wait "$serve_pid" 2>/dev/null
  if [[ $runtime == podman ]]; then
    "${wrap[@]}" "${podman[@]}" rm -af >/dev/null 2>&1
    "${wrap[@]}" "${podman[@]}" system reset -f >/dev/null 2>&1
  fi
  rm -rf "$T"
}
trap cleanup EXIT
mkfifo "$T/serve.err"
"$sandbox" serve --socket "$T/ctl.sock" --oci-listener "$T/oci.sock" --verbose 2>"$T/serve.err" &
serve_pid=$!
exec 4<"$T/serve.err"
: >"$T/serve.log"
# Reads the supervisor's stderr until a line matches (bounded wait for what it says).
expect_log() {
  local line
  while IFS= read -r -t "$hang_guard" line <&4; do
    echo "$line" >>"$T/serve.log"
    [[ $line =~ $1 ]] && return 0
  done
  fail "the supervisor never said /$1/"
}
expect_log "OCI listener on $T/oci.sock"
ctl() { "$sandbox" ctl --socket "$T/ctl.sock" "$@"; }

# ---- the rootfs and the bundles ---------------------------------------------------------
token="only-in-the-rootfs-$RANDOM$RANDOM"
[[ -e /etc/only-in-container ]] && fail "/etc/only-in-container exists on the host: the rootfs test would prove nothing"
rootfs=$T/rootfs
mkdir -p "$rootfs"/{bin,etc,proc,dev,sys,tmp,shared}
cp /bin/busybox "$rootfs/bin/busybox"
for applet in sh cat echo true ls; do ln -s busybox "$rootfs/bin/$applet"; done
cp "$probe" "$rootfs/bin/probe"
echo "$token" >"$rootfs/etc/only-in-container"
mkdir -p "$T/shared"

# bundle NAME HEAP FILES ARGS...: makes $T/bundles/NAME (in $b), whose config runs ARGS
# with those quotas ("-": none).
bundle() {
  local name=$1 heap=$2 files=$3
  shift 3
  b=$T/bundles/$name
  mkdir -p "$b"
  (cd "$b" && runc spec 2>/dev/null || crun spec) || fail "cannot make a config.json with runc/crun spec"
  python3 - "$b/config.json" "$rootfs" "$T/shared" "$@" <<'EOF' || fail "cannot edit $b/config.json"
import json, sys
path, rootfs, shared, args = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4:]
c = json.load(open(path))
c["process"]["terminal"] = False
c["process"]["args"] = args
c["root"] = {"path": rootfs, "readonly": True}
c["mounts"].append({"destination": "/shared", "type": "bind", "source": shared, "options": ["rbind", "rw"]})
json.dump(c, open(path, "w"), indent=1)
EOF
  local q=()
  [[ $heap != - ]] && q+=(--heap-quota "$heap")
  [[ $files != - ]] && q+=(--file-quota "$files")
  "$sandbox" oci-profile --listener "$T/oci.sock" "${q[@]}" --config "$b/config.json" ||
    fail "sandbox oci-profile --config failed"
}

# run_container NAME BUNDLE: runs it in the foreground; stdout to $T/NAME.out; returns its status.
podman=(podman --root "$T/storage" --runroot "$T/run" --storage-driver vfs --cgroup-manager cgroupfs
  --events-backend file)
image=
run_container() {
  local name=$1 b=$2 id="sbx-$$-$1"
  case $runtime in
    runc) runc --root "$T/state" run --bundle "$b" "$id" >"$T/$name.out" 2>"$T/$name.err" </dev/null ;;
    crun) "${wrap[@]}" crun --root "$T/state" run --bundle "$b" "$id" >"$T/$name.out" 2>"$T/$name.err" </dev/null ;;
    podman)
      python3 -c 'import json,sys; c=json.load(open(sys.argv[1])); json.dump(c["linux"]["seccomp"], open(sys.argv[2],"w"))' \
        "$b/config.json" "$b/profile.json" || fail "cannot extract the profile"
      local args
      args=$(python3 -c 'import json,sys; print("\n".join(json.load(open(sys.argv[1]))["process"]["args"]))' "$b/config.json")
      mapfile -t args <<<"$args"
      # The host's hard RLIMIT_NOFILE/NPROC may be below podman's defaults (1048576), which
      # crun could then not set: ask for what any host allows.
      "${wrap[@]}" "${podman[@]}" run --rm --name "$id" --runtime crun --network none --cidfile "$T/$name.cid" \
        --ulimit nofile=1024:1024 --ulimit nproc=1024:1024 -v "$T/shared:/shared" \
        --security-opt seccomp="$b/profile.json" "$image" "${args[@]}" >"$T/$name.out" 2>"$T/$name.err" </dev/null
      ;;
  esac
}
container_id() {  # the id the runtime reports in the containerProcessState
  if [[ $runtime == podman ]]; then cat "$T/$1.cid"; else echo "sbx-$$-$1"; fi
}

if [[ $runtime == podman ]]; then
  tar -C "$rootfs" -cf "$T/rootfs.tar" . || fail "tar of the rootfs"
  image=localhost/sandbox-containers-test:latest
  "${wrap[@]}" "${podman[@]}" import "$T/rootfs.tar" "$image" >/dev/null 2>"$T/import.err" ||
    fail "podman import: $(tail -1 "$T/import.err")"
  pass "podman import of a busybox-static rootfs tarball"
fi

# ---- rootfs: files resolve in the container ----------------------------------------------
bundle rootfs 64M 20 /bin/sh -c '/bin/probe cat /etc/only-in-container && /bin/cat /etc/only-in-container'
run_container rootfs "$b"
st=$?
[[ $st == 0 ]] || fail "rootfs: exit $st: $(tail -n 2 "$T/rootfs.out" "$T/rootfs.err")"
grep -qx "probe: /etc/only-in-container says $token" "$T/rootfs.out" || fail "rootfs: probe did not read the rootfs file: $(cat "$T/rootfs.out")"
grep -qx "$token" "$T/rootfs.out" || fail "rootfs: busybox cat did not read the rootfs file: $(cat "$T/rootfs.out")"
expect_log "container '$(container_id rootfs)' \(pid [0-9]+\): served, heap-quota=64M,file-quota=20"
pass "rootfs: /etc/only-in-container (absent on the host) read inside the container, by init and by a child"

# ---- heap: over its quota, killed ---------------------------------------------------------
bundle heap 16M - /bin/probe heap 64
run_container heap "$b"
st=$?
[[ $st == 137 ]] || fail "heap: expected exit 137 (SIGKILL), got $st: $(tail -n 2 "$T/heap.out" "$T/heap.err")"
grep -q "probe: heap +64 MiB" "$T/heap.out" && fail "heap: the probe got its 64 MiB"
expect_log "killed pid [0-9]+ \(probe\) and the rest of job [0-9]+, container $(container_id heap) \([0-9]+ live process(es)?\): job heap quota exceeded: [0-9]+ bytes .* > limit 16777216 bytes"
pass "heap: 64 MiB against a 16M quota: killed (137), one log line with the container id"

# ---- files: too many open files, killed ---------------------------------------------------
if [[ $runtime != podman ]]; then
  bundle files - 10 /bin/probe files 30 /etc/only-in-container
  run_container files "$b"
  st=$?
  [[ $st == 137 ]] || fail "files: expected exit 137 (SIGKILL), got $st: $(tail -n 2 "$T/files.out" "$T/files.err")"
  grep -q "probe: opened" "$T/files.out" && fail "files: the probe opened its 30 files"
  expect_log "killed pid [0-9]+ \(probe\) and the rest of job [0-9]+, container $(container_id files) \([0-9]+ live process(es)?\): job file quota exceeded: 11 open files > limit 10"
  pass "files: 30 opens against a quota of 10: killed at the 11th (137)"
fi

# ---- children: each under the quota, together over it: the container is one job ----------
# Three children of the container's init grow 6 MiB each and hold it until all three have:
# each stays under the 16M quota, together they are over it. The child whose growth crosses
# it is killed with the rest of the job (init and the other children), so the probe never
# says that all three held their memory.
# A watcher over the control socket (protocol: the response, then one line per event) sees
# the kill with the container id; it is subscribed before the container starts.
mkfifo "$T/watch.out"
python3 - "$T/ctl.sock" >"$T/watch.out" <<'EOF3' &
import json, socket, sys
s = socket.socket(socket.AF_UNIX)
s.connect(sys.argv[1])
s.sendall(b'{"op":"watch","kinds":["killed"]}\n')
for line in s.makefile():
    print(line.strip(), flush=True)
EOF3
watcher=$!
exec 8<"$T/watch.out"
IFS= read -r -t "$hang_guard" line <&8 || fail "children: no answer to watch"
[[ $line == *'"ok":true'* ]] || fail "children: watch refused: $line"
bundle children 16M - /bin/probe forks 3 6
run_container children "$b"
st=$?
[[ $st == 137 ]] || fail "children: expected exit 137 (SIGKILL), got $st: $(tail -n 2 "$T/children.out" "$T/children.err")"
grep -q "children held" "$T/children.out" && fail "children: 3 x 6 MiB were held at once under a 16M quota: $(cat "$T/children.out")"
expect_log "container '$(container_id children)' \(pid ([0-9]+)\): served, heap-quota=16M"
init=${BASH_REMATCH[1]}
expect_log "killed pid ([0-9]+) \(probe\) and the rest of job [0-9]+, container $(container_id children) \(([0-9]+) live processes\): job heap quota exceeded: ([0-9]+) bytes .* > limit 16777216 bytes"
killer=${BASH_REMATCH[1]} live=${BASH_REMATCH[2]} usage=${BASH_REMATCH[3]}
[[ $killer != "$init" ]] || fail "children: the kill was for init (pid $init), not for a child's growth"
# init and three children; the job's total with the crossing call is over 16 MiB by less
# than the 1 MiB step that crossed it, and no one process held more than 6 MiB.
((live == 4)) || fail "children: $live live processes in the job at the kill, expected 4 (init + 3 children)"
((usage > 16777216 && usage <= 16777216 + 1048576)) || fail "children: job heap $usage at the kill, expected just over 16 MiB"
IFS= read -r -t "$hang_guard" line <&8 || fail "children: the watcher saw no killed event"
kill "$watcher" 2>/dev/null
wait "$watcher" 2>/dev/null
exec 8<&-
python3 - "$line" "$(container_id children)" "$killer" <<'EOF3' || fail "children: the watch event is not the container's job kill: $line"
import json, sys
e = json.loads(sys.argv[1])
assert e["event"] == "killed" and e["container"] == sys.argv[2] and e["pid"] == int(sys.argv[3]), e
assert e["reason"] == "heap" and e["limit"] == 16 << 20 and e["heapsize"] == e["usage"] and e["job"] > 0, e
EOF3
pass "children: 3 children x 6 MiB (each under 16M, together over): child pid $killer's crossing killed the container's job of 4 (137); ctl watch's killed event names the container"

# The same with files (runc and crun, as for `files`): 3 children open 4 files each and hold
# them; each is under a quota of 10, together over it: the 11th open kills the job.
if [[ $runtime != podman ]]; then
  bundle childfiles - 10 /bin/probe forkfiles 3 4 /etc/only-in-container
  run_container childfiles "$b"
  st=$?
  [[ $st == 137 ]] || fail "childfiles: expected exit 137 (SIGKILL), got $st: $(tail -n 2 "$T/childfiles.out" "$T/childfiles.err")"
  grep -q "children held" "$T/childfiles.out" && fail "childfiles: 3 x 4 files were held at once under a quota of 10"
  expect_log "container '$(container_id childfiles)' \(pid ([0-9]+)\): served, file-quota=10"
  init=${BASH_REMATCH[1]}
  expect_log "killed pid ([0-9]+) \(probe\) and the rest of job [0-9]+, container $(container_id childfiles) \(([0-9]+) live processes\): job file quota exceeded: 11 open files > limit 10"
  killer=${BASH_REMATCH[1]} live=${BASH_REMATCH[2]}
  [[ $killer != "$init" ]] || fail "childfiles: the kill was for init (pid $init), not for a child's open"
  ((live == 4)) || fail "childfiles: $live live processes in the job at the kill, expected 4 (init + 3 children)"
  pass "childfiles: 3 children x 4 files (each under 10, together over): child pid $killer's 11th open killed the container's job (137)"
fi

# ---- under: runs to completion, listed while it runs, exact totals -------------------------
# Parks the container (probe step park), reads its node from `ctl list`, lets it go.
# Sets tot_heap and tot_files to the container's node's heapsize and openfile_count.
parked_totals() {
  local name=$1 b=$2
  rm -f "$T/shared/ready" "$T/shared/go"
  mkfifo "$T/shared/ready" "$T/shared/go"
  # Both FIFOs opened read-write here, first: no open blocks, here or in the container,
  # whatever the other side does; "go" stays open until the container has read it.
  exec 5<>"$T/shared/ready" 6<>"$T/shared/go"
  run_container "$name" "$b" &
  local runner=$!
  local line=
  IFS= read -r -t "$hang_guard" line <&5 || fail "$name: the container never reached its wait: $(cat "$T/$name.out" "$T/$name.err")"
  [[ $line == ready ]] || fail "$name: unexpected '$line' from the container"
  ctl --json list >"$T/$name.list" || fail "$name: ctl list failed"
  ctl list >"$T/$name.table" || fail "$name: ctl list (table) failed"
  ctl metrics >"$T/$name.metrics" || fail "$name: ctl metrics failed"
  echo go >&6
  wait "$runner"
  local st=$?
  exec 5<&- 6<&-
  [[ $st == 0 ]] || fail "$name: exit $st: $(tail -n 2 "$T/$name.out" "$T/$name.err")"
  grep -qx "probe: done" "$T/$name.out" || fail "$name: the probe did not finish: $(cat "$T/$name.out")"
  python3 - "$T/$name.list" "$(container_id "$name")" >"$T/$name.totals" <<'EOF2' ||
import json, sys
doc = json.load(open(sys.argv[1]))
nodes = [n for n in doc["nodes"] if n.get("container") == sys.argv[2]]
jobs = [j for j in doc.get("jobs", []) if j.get("container") == sys.argv[2]]
assert len(nodes) == 1, "nodes with the container id: %d" % len(nodes)
assert len(jobs) == 1, "jobs with the container id: %d" % len(jobs)
# One process in the container: its job's totals are its node's, and the job holds the quota.
n, j = nodes[0], jobs[0]
assert (j["heapsize"], j["openfile_count"]) == (n["heapsize"], n["openfile_count"]), (j, n)
assert j["root"] == n["pid"] and j["live"] == 1 and j["heap_quota"] == 64, j
print(n["heapsize"], n["openfile_count"])
EOF2
    fail "$name: ctl list does not show the container id on one node and its job: $(cat "$T/$name.list")"
  read -r tot_heap tot_files <"$T/$name.totals"
}
bundle baseline 64M 20 /bin/probe park /shared/ready /shared/go
parked_totals baseline "$b"
base_heap=$tot_heap base_files=$tot_files
bundle under 64M 20 /bin/probe heap 8 files 5 /etc/only-in-container park /shared/ready /shared/go
parked_totals under "$b"
heap=$tot_heap files=$tot_files
(($(grep -c "$(container_id under)" "$T/under.table") == 2)) ||
  fail "under: ctl list (table) does not show the container id on its node and its job: $(cat "$T/under.table")"
((heap == base_heap + 8 * 1048576)) ||
  fail "under: heapsize $heap, expected the baseline's $base_heap + 8 MiB = $((base_heap + 8 * 1048576))"
((files == base_files + 5)) || fail "under: openfile_count $files, expected the baseline's $base_files + 5"
grep -Eq "^sandbox_job_heap_bytes\{[^}]*container=\"$(container_id under)\"[^}]*\} $heap\$" "$T/under.metrics" ||
  fail "under: ctl metrics has no sandbox_job_heap_bytes $heap labelled with the container id: $(grep sandbox_job_heap "$T/under.metrics")"
pass "under: ran to completion (exit 0); listed as $(container_id under) (node, job, metrics) while parked; totals heap $heap = $base_heap + 8 MiB, files $files = $base_files + 5"

echo "containers/$runtime: all cases passed"
