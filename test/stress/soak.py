#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Soak (issue 20): `sandbox serve` with honest tenants of different uids doing real work
while a hostile tenant loops attacks, bounded in time (SOAK_SECONDS, default 20).

Honest tenants, each its own uid, each joined with `sandbox-shim` again and again until the
time is up:
  make     uid 65534: `make -j2` of a small C project; the program it builds prints what
           the same build prints natively.
  python   uid 65533: `python3 -m compileall` of a copy of the json package: the same .pyc
           files natively and tracked.
  tar      uid 65532: `tar` of /usr/include/linux: the same bytes (sha256) natively.
  killed   uid 65530: 150 MiB touched under --heap-quota 64M: status 137 and one kill
           line every time, and one `killed` event each on a watch connection (none lost).
Hostile tenant, uid 65531, in a loop: socket clients that misbehave in every way the
stress test knows (stress.py hostile_client), idle keep-alive connections to /metrics
(more than its connection table), a tenant with 60 sleeping children, a tenant blocked
in a FIFO open, and every attack mode of the trust tests' attack program given with
--attack (each is run as a joined target and must end without lifting its quota).
Meanwhile a scraper reads /metrics: every scrape must be answered.

At the end: every honest outcome was exact, every scrape answered, the server's
descriptors and threads are back to their baseline and its RSS within 16 MiB of it, no
sanitizer report, and SIGTERM ends it with status 0.
Needs root (tenants of several uids); otherwise it says why and exits 77 (CTest: skipped).
"""
import argparse
import hashlib
import json
import os
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import stress  # noqa: E402  (helpers: Target, wait_for, listening, hostile_client, ...)

failures = stress.failures
check = stress.check


def as_uid(uid):
    def drop():
        os.setgroups([])
        os.setresgid(uid, uid, uid)
        os.setresuid(uid, uid, uid)

    return drop


# The tenants' Python: the system's, which every uid can run (the one running this script
# may be a user's own installation, e.g. under /root).
TENANT_PY = "/usr/bin/python3" if os.access("/usr/bin/python3", os.X_OK) else sys.executable


def run_as(uid, argv, cwd=None, timeout=300):
    p = subprocess.run(argv, cwd=cwd, preexec_fn=as_uid(uid), capture_output=True, timeout=timeout)
    return p.returncode, p.stdout.decode(errors="replace"), p.stderr.decode(errors="replace")


def proc_status(pid, key):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return 0


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def scrape(port, timeout=stress.HANG_GUARD):
    """One GET /metrics on a fresh connection; True when a 200 with a body came back."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
            s.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            data = b""
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    break
                data += chunk
            return data.startswith(b"HTTP/1.1 200") and b"\r\n\r\n" in data
    except OSError:
        return False


MAKEFILE = """\
OBJS = main.o {objs}
prog: $(OBJS)
\tcc -o prog $(OBJS)
%.o: %.c
\tcc -O1 -c $< -o $@
clean:
\trm -f prog *.o
"""


def make_project(d, uid):
    os.makedirs(d)
    n = 6
    for i in range(n):
        with open(os.path.join(d, f"f{i}.c"), "w") as f:
            f.write(f"int f{i}(int x) {{ int s = 0; for (int k = 0; k < x; ++k) s += k * {i + 1}; return s; }}\n")
    decl = "".join(f"int f{i}(int);\n" for i in range(n))
    calls = " + ".join(f"f{i}(100)" for i in range(n))
    with open(os.path.join(d, "main.c"), "w") as f:
        f.write(f'#include <stdio.h>\n{decl}int main(void) {{ printf("sum=%d\\n", {calls}); return 0; }}\n')
    with open(os.path.join(d, "Makefile"), "w") as f:
        f.write(MAKEFILE.format(objs=" ".join(f"f{i}.o" for i in range(n))))
    os.system(f"chown -R {uid}:{uid} {d}")


def honest_make(args, sock, d, uid):
    rc, out, err = run_as(uid, ["make", "-s", "clean"], cwd=d)
    rc, out, err = run_as(uid, [args.shim, "--socket", sock, "--heap-quota", "1G", "--file-quota", "256", "--",
                                "make", "-s", "-j2"], cwd=d)
    if rc != 0:
        return f"make: status {rc}: {err[-500:]}"
    rc, out, err = run_as(uid, ["./prog"], cwd=d)
    return None if out == args.expect_make else f"make: prog printed {out!r}, natively {args.expect_make!r}"


def pyc_files(d):
    return sorted(os.path.relpath(os.path.join(r, f), d) for r, _, fs in os.walk(d) for f in fs if f.endswith(".pyc"))


def honest_python(args, sock, d, uid):
    for r, dirs, _ in os.walk(d):
        for x in dirs:
            if x == "__pycache__":
                shutil.rmtree(os.path.join(r, x), ignore_errors=True)
    rc, out, err = run_as(uid, [args.shim, "--socket", sock, "--heap-quota", "1G", "--", TENANT_PY, "-m",
                                "compileall", "-q", d])
    if rc != 0:
        return f"python: status {rc}: {err[-500:]}"
    got = pyc_files(d)
    return None if got == args.expect_pyc else f"python: {len(got)} .pyc files, natively {len(args.expect_pyc)}"


TAR = ["tar", "cf", "-", "--sort=name", "--mtime=@0", "--owner=0", "--group=0", "--numeric-owner", "-C",
       "/usr/include", "linux"]


def honest_tar(args, sock, d, uid):
    p = subprocess.run([args.shim, "--socket", sock, "--file-quota", "64", "--"] + TAR, preexec_fn=as_uid(uid),
                       capture_output=True, timeout=300)
    if p.returncode != 0:
        return f"tar: status {p.returncode}: {p.stderr[-500:]!r}"
    digest = hashlib.sha256(p.stdout).hexdigest()
    return None if digest == args.expect_tar else f"tar: sha256 {digest}, natively {args.expect_tar}"


def honest_killed(args, sock, d, uid):
    rc, out, err = run_as(uid, [args.shim, "--socket", sock, "--heap-quota", "64M", "--", TENANT_PY, "-c",
                                "b = bytearray(150 << 20); b[::4096] = b'x' * len(b[::4096])"])
    if rc != 137 or "killed" not in err:
        return f"killed: status {rc}, stderr {err[-300:]!r} (expected 137 and a kill line)"
    return None


class Tenant(threading.Thread):
    def __init__(self, name, fn, args, sock, d, uid, deadline):
        super().__init__(daemon=True)
        self.name_, self.fn, self.args, self.sock, self.d, self.uid = name, fn, args, sock, d, uid
        self.deadline = deadline
        self.runs, self.errors = 0, []

    def run(self):
        while time.monotonic() < self.deadline:
            try:
                why = self.fn(self.args, self.sock, self.d, self.uid)
            except Exception as e:  # a harness failure is a failure too, never a silent pass
                why = f"{self.name_}: {e!r}"
            self.runs += 1
            if why:
                self.errors.append(why)


def hostile(args, sock, port, tmp, deadline, stats):
    uid = 65531
    rng = random.Random(20)
    fifo = os.path.join(tmp, "hostile.fifo")
    os.mkfifo(fifo)
    os.chown(fifo, uid, uid)
    while time.monotonic() < deadline:
        stats["rounds"] += 1
        # 1. socket clients that misbehave (as the hostile uid: the socket is 0666 here).
        held = [stress.hostile_client(sock, k % 8, rng) for k in range(40)]
        # 2. /metrics: more idle keep-alive connections than the table holds, some trickling,
        # from a process of the hostile uid (the endpoint tells local peers apart by uid).
        hog = subprocess.Popen([TENANT_PY, "-c", METRICS_HOG, str(port)], preexec_fn=as_uid(uid),
                               stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        hog.stdout.readline()  # its connections are open
        idle = []
        # 3. a tenant with 60 sleeping children, and one blocked in a FIFO open.
        crowd = subprocess.Popen([args.shim, "--socket", sock, "--", "sh", "-c",
                                  "for i in $(seq 60); do sleep 1000 & done; echo up; wait"],
                                 preexec_fn=as_uid(uid), stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                 start_new_session=True)
        blocked = subprocess.Popen([args.shim, "--socket", sock, "--", "sh", "-c", f"cat < {fifo}"],
                                   preexec_fn=as_uid(uid), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                   start_new_session=True)
        crowd.stdout.readline()  # its children are started (or it failed: then EOF)
        # 4. the trust tests' attacks, each as a joined target under a quota.
        for attack in args.attack:
            argv = attack.replace("{sock}", sock).replace("{serve}", str(args.serve_pid)).split()
            p = subprocess.run([args.shim, "--socket", sock, "--heap-quota", "20M", "--", args.attack_bin] + argv,
                               preexec_fn=as_uid(uid), capture_output=True, timeout=120)
            out = p.stdout.decode(errors="replace")
            stats["attacks"] += 1
            # Each attack allocates 100 MiB under 20M once it thinks the quota is gone (or
            # answers the ABI on another process): either is an escape.
            if "allocated=1" in out or any(f"{op}=0" in out for op in ("cap", "reset", "deregister")):
                stats["escapes"].append(f"{attack}: {out[-300:]}")
        # Unblock the FIFO (a writer), end the crowd, drop the clients.
        fd = os.open(fifo, os.O_WRONLY)
        os.close(fd)
        blocked.wait(60)
        os.killpg(crowd.pid, 9)
        crowd.wait(60)
        for s in held + idle:
            if s is not None:
                s.close()
        hog.stdin.close()
        hog.wait(60)


METRICS_HOG = """
import socket, sys
conns = []
for i in range(40):
    try:
        s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=2)
        s.sendall(b"GET /metrics HTTP/1.1\\r\\nHost: x\\r\\n\\r\\n" if i % 7 else b"GET /metr")
        conns.append(s)
    except OSError:
        pass
print("up", flush=True)
sys.stdin.read()
"""


def watch_kills(sock, stop, counter, comm, subscribed):
    """Counts the killed events of `comm`; sets `subscribed` once the server has answered the
    watch (from then on no event is missed)."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.connect(sock)
        s.sendall(b'{"op":"watch","kinds":["killed"]}\n')
        s.settimeout(0.5)
        buf = b""
        while not stop.is_set():
            try:
                chunk = s.recv(65536)
            except socket.timeout:
                continue
            if not chunk:
                counter["closed"] = True
                return
            buf += chunk
            while b"\n" in buf:
                line, buf = buf.split(b"\n", 1)
                try:
                    ev = json.loads(line)
                except ValueError:
                    continue
                if ev.get("ok") is True:
                    subscribed.set()
                # The hostile tenant's attacks are killed too: only the killed tenant's count.
                if ev.get("event") == "killed" and ev.get("comm") == comm:
                    counter["killed"] += 1


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--sandbox", required=True)
    ap.add_argument("--shim", required=True)
    ap.add_argument("--attack-bin", required=True)
    ap.add_argument("--attack", action="append", default=[],
                    help="arguments of --attack-bin, one attack (repeatable); {sock} and {serve} are replaced by the "
                         "server's socket and pid")
    args = ap.parse_args()
    args.sandbox, args.shim, args.attack_bin = map(os.path.abspath, (args.sandbox, args.shim, args.attack_bin))
    if os.geteuid() != 0:
        print("soak: skipped: needs root (tenants of several uids)", flush=True)
        return 77
    seconds = float(os.environ.get("SOAK_SECONDS", "20"))
    t0 = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="sandbox-soak-") as tmp:
        os.chmod(tmp, 0o755)
        dirs = {n: os.path.join(tmp, n) for n in ("make", "python", "tar", "killed")}
        make_project(dirs["make"], 65534)
        rc, out, err = run_as(65534, ["make", "-s", "-j2"], cwd=dirs["make"])
        args.expect_make = run_as(65534, ["./prog"], cwd=dirs["make"])[1] if rc == 0 else None
        check(rc == 0, f"soak: the native make failed: {err[-500:]}")
        json_dir = subprocess.run([TENANT_PY, "-c", "import json, os; print(os.path.dirname(json.__file__))"],
                                  capture_output=True, text=True).stdout.strip()
        shutil.copytree(json_dir, dirs["python"],
                        ignore=shutil.ignore_patterns("__pycache__"))
        os.system(f"chown -R 65533:65533 {dirs['python']}")
        run_as(65533, [TENANT_PY, "-m", "compileall", "-q", dirs["python"]])
        args.expect_pyc = pyc_files(dirs["python"])
        args.expect_tar = hashlib.sha256(subprocess.run(TAR, capture_output=True).stdout).hexdigest()
        os.makedirs(dirs["tar"])
        os.makedirs(dirs["killed"])

        sock = os.path.join(tmp, "serve.sock")
        port = free_port()
        serve = stress.Target([args.sandbox, "serve", "--socket", sock, "--socket-mode", "0666", "--metrics",
                               f"127.0.0.1:{port}"])
        listening = stress.wait_for(lambda: serve.proc.poll() is None and stress.listening(sock), stress.HANG_GUARD)
        if not check(listening, "soak: serve never listened"):
            print(serve.stderr()[-2000:])
            return 1
        sup = args.serve_pid = serve.proc.pid
        check(stress.wait_for(lambda: scrape(port), stress.HANG_GUARD), "soak: /metrics never answered")
        # Warm-up: the server starts its watcher of opens made for targets at the first such
        # open and keeps it (one thread, open/waits.cpp): part of the baseline, not growth.
        rc, _, err = run_as(65534, [args.shim, "--socket", sock, "--file-quota", "64", "--", "cat", "/etc/hostname"])
        check(rc == 0, f"soak: the warm-up tenant failed: {err[-300:]}")
        base = (stress.fd_count(sup), proc_status(sup, "Threads"), proc_status(sup, "VmRSS"))

        stop = threading.Event()
        kills = {"killed": 0, "closed": False}
        subscribed = threading.Event()
        watcher = threading.Thread(target=watch_kills,
                                   args=(sock, stop, kills, os.path.basename(TENANT_PY)[:15], subscribed), daemon=True)
        watcher.start()
        # The tenants start once the watcher is subscribed: a kill before that would be missed.
        check(subscribed.wait(stress.HANG_GUARD), "soak: the watcher was never subscribed")
        deadline = time.monotonic() + seconds
        tenants = [Tenant("make", honest_make, args, sock, dirs["make"], 65534, deadline),
                   Tenant("python", honest_python, args, sock, dirs["python"], 65533, deadline),
                   Tenant("tar", honest_tar, args, sock, dirs["tar"], 65532, deadline),
                   Tenant("killed", honest_killed, args, sock, dirs["killed"], 65530, deadline)]
        stats = {"rounds": 0, "attacks": 0, "escapes": []}
        bad = threading.Thread(target=hostile, args=(args, sock, port, tmp, deadline, stats), daemon=True)
        for t in tenants:
            t.start()
        bad.start()
        scrapes = answered = 0
        while time.monotonic() < deadline:
            scrapes += 1
            answered += scrape(port)
        for t in tenants:
            t.join(600)
        bad.join(600)
        # Every kill the killed tenant suffered reaches the watcher: its count settles there.
        expected_kills = tenants[3].runs - len(tenants[3].errors)
        stress.wait_for(lambda: kills["killed"] >= expected_kills, stress.HANG_GUARD)
        stop.set()
        watcher.join(5)

        back = stress.wait_for(lambda: stress.fd_count(sup) <= base[0] and proc_status(sup, "Threads") <= base[1],
                               stress.HANG_GUARD)
        after = (stress.fd_count(sup), proc_status(sup, "Threads"), proc_status(sup, "VmRSS"))
        for t in tenants:
            print(f"soak: {t.name_}: {t.runs} runs, {len(t.errors)} wrong", flush=True)
            for why in t.errors[:3]:
                check(False, f"soak: {why}")
            check(t.runs > 0, f"soak: {t.name_} never ran")
        print(f"soak: hostile: {stats['rounds']} rounds, {stats['attacks']} attack runs, "
              f"{len(stats['escapes'])} escapes; scrapes answered {answered} of {scrapes}; killed events "
              f"{kills['killed']} for {expected_kills} kills; server fds/threads/RSS KiB {base} -> {after}; "
              f"{time.monotonic() - t0:.1f} s", flush=True)
        check(stats["rounds"] > 0, "soak: the hostile tenant never ran")
        check(not stats["escapes"], f"soak: attacks escaped: {stats['escapes'][:3]}")
        check(scrapes > 0 and answered == scrapes, f"soak: scrapes answered {answered} of {scrapes}")
        check(kills["killed"] == expected_kills and not kills["closed"],
              f"soak: killed events {kills['killed']} for {expected_kills} kills (watch closed: {kills['closed']})")
        check(back, f"soak: server fds/threads {base[:2]} -> {after[:2]}")
        if "ASAN_OPTIONS" in os.environ:  # the sanitizer job: ASan's quarantine keeps freed memory
            print("soak: RSS not compared: the server is built with ASan (its allocator quarantines)", flush=True)
        else:
            check(after[2] <= base[2] + 16 * 1024, f"soak: server RSS {base[2]} -> {after[2]} KiB")
        serve.proc.send_signal(15)
        rc = serve.wait()
        check(rc == 0, f"soak: serve exit status {rc}\n{serve.stderr()[-2000:]}")
        stress.no_sanitizer_report("soak", serve.stderr())
    print(f"soak: total {time.monotonic() - t0:.1f} s, {len(failures)} failure(s)", flush=True)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
