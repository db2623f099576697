#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Stress driver (issue 6): the supervisor under load, bounded in count and time.

  threads    64 threads mmap and open/close at once for STRESS_SECONDS (default 30) under
             `sandbox run --track`; the node must grow by exactly what the threads logged.
  forkstorm  1,000 children each register themselves, open a file and exit under
             `sandbox run`; after each wait() fetch on the child is EINVAL, and at the end
             `list` over the run's socket is empty.
  clients    1,000 socket clients connect and drop (some mid-line, some with a line too
             long, some without reading their answer) against `sandbox serve` while a joined
             target keeps allocating; then the server answers normally and the target's node
             equals what it logged.
  kills      targets joined to the same `sandbox serve` SIGKILLed from outside at random
             moments (during the join, while allocating); after each wait() no node is left.

After each: the supervisor is alive, its descriptor count is back to its baseline, and its
stderr holds no sanitizer report (run under scripts/sanitize.sh, the supervisor has
ASan+UBSan+LSan; the target stays uninstrumented). Figures are printed as "stress: ..." lines.

Usage: stress.py --sandbox BIN --shim BIN --target BIN [--only NAME ...]
Waits are on conditions (lines from the target, the socket answering) with deadlines; the
only timed pauses are the random delays before the kills, which are the point of `kills`.
"""
import argparse
import json
import os
import random
import select
import signal
import socket
import subprocess
import sys
import tempfile
import time

SANITIZER_MARKS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:", "SUMMARY: UndefinedBehavior")
failures = []


def check(ok, what):
    if not ok:
        failures.append(what)
        print("stress: FAIL: " + what, flush=True)
    return ok


def fd_count(pid):
    return len(os.listdir(f"/proc/{pid}/fd"))


def run_supervisor(root):
    """`sandbox run` forks: the supervisor is the descendant holding the seccomp listener."""
    todo = [root]
    while todo:
        pid = todo.pop(0)
        try:
            for fd in os.listdir(f"/proc/{pid}/fd"):
                if "seccomp" in os.readlink(f"/proc/{pid}/fd/{fd}"):
                    return pid
            for tid in os.listdir(f"/proc/{pid}/task"):
                with open(f"/proc/{pid}/task/{tid}/children") as f:
                    todo += [int(c) for c in f.read().split()]
        except OSError:
            pass
    check(False, f"no process under {root} holds a seccomp listener")
    return root


# How long a wait for a state (descriptors closed, nodes gone) may take before it is a
# failure: a bound against a hang only. A busy machine (other builds, a CPU hog on every core,
# an ASan supervisor) may take seconds for what takes milliseconds alone.
HANG_GUARD = 120


def wait_for(cond, timeout, step=0.02):
    """Polls cond() until it is true or `timeout` seconds pass; returns its last value."""
    end = time.monotonic() + timeout
    while True:
        value = cond()
        if value or time.monotonic() > end:
            return value
        time.sleep(step)


class Target:
    """A process driven by lines: reads its "key=value" output up to a marker line."""

    def __init__(self, argv, env=None):
        self.err = tempfile.TemporaryFile()
        self.proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.err, env=env)
        self.kv = {}
        self.buf = b""

    def read_until(self, marker, timeout=120):
        end = time.monotonic() + timeout
        while True:
            while b"\n" in self.buf:
                line, self.buf = self.buf.split(b"\n", 1)
                text = line.decode(errors="replace")
                if text == marker:
                    return True
                if "=" in text:
                    k, v = text.split("=", 1)
                    self.kv[k] = v
            left = end - time.monotonic()
            if left <= 0:
                return False
            r, _, _ = select.select([self.proc.stdout], [], [], left)
            if not r:
                return False
            chunk = os.read(self.proc.stdout.fileno(), 65536)
            if not chunk:
                return False
            self.buf += chunk

    def send(self, line="go"):
        try:
            self.proc.stdin.write((line + "\n").encode())
            self.proc.stdin.flush()
        except BrokenPipeError:
            pass

    def stderr(self):
        self.err.seek(0)
        return self.err.read().decode(errors="replace")

    def wait(self, timeout=300):  # a bound against a hang (then a failure), not a pace
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait()


def request(path, obj, timeout=120):
    """One request over a fresh connection; returns the decoded response."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(timeout)
        s.connect(path)
        s.sendall((json.dumps(obj) + "\n").encode())
        data = b""
        while not data.endswith(b"\n"):
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
        return json.loads(data)


def answers(path):
    try:
        return request(path, {"op": "version"}).get("ok") is True
    except (OSError, ValueError):
        return False


def no_sanitizer_report(name, text):
    marks = [m for m in SANITIZER_MARKS if m in text]
    return check(not marks, f"{name}: sanitizer report in the supervisor's stderr: {marks}\n{text[-4000:]}")


def scenario_threads(args, tmp):
    seconds = float(os.environ.get("STRESS_SECONDS", "30"))
    sock = os.path.join(tmp, "threads.sock")
    t = Target([args.sandbox, "run", "--track", "--socket", sock, "--", args.target, "threads", "64", str(seconds)])
    check(t.read_until("start"), "threads: no start line")
    sup = run_supervisor(t.proc.pid)
    base = fd_count(sup)
    t.send()
    check(t.read_until("ready"), "threads: no ready line")
    t.send()
    check(t.read_until("done", timeout=seconds + 120), "threads: no done line")
    after = fd_count(sup)
    alive = os.path.exists(f"/proc/{sup}") and t.proc.poll() is None
    t.send("exit")
    rc = t.wait()
    kv = t.kv
    ops = int(kv.get("mmaps", 0)) + int(kv.get("opens", 0)) + int(kv.get("closes", 0))
    print(f"stress: threads: {kv.get('threads')} threads for {kv.get('seconds')} s: {kv.get('mmaps')} mmaps, "
          f"{kv.get('opens')} opens, {kv.get('closes')} closes ({ops} counted calls; failed: mmap "
          f"{kv.get('mmap_failed')}, open {kv.get('open_failed')}); heap node delta {kv.get('heap_delta')} = "
          f"logged {kv.get('heap_sum')}; files node delta {kv.get('files_delta')} = logged {kv.get('files_sum')}; "
          f"supervisor fds {base} -> {after}; exit {rc}", flush=True)
    check(alive, "threads: the supervisor died")
    check(kv.get("heap_delta") == kv.get("heap_sum") and kv.get("heap_sum") is not None,
          "threads: heap node delta != logged sum")
    check(kv.get("files_delta") == kv.get("files_sum") and kv.get("files_sum") is not None,
          "threads: files node delta != logged sum")
    check(after == base, f"threads: supervisor fds {base} -> {after}")
    check(rc == 0, f"threads: exit status {rc}\n{t.stderr()[-2000:]}")
    no_sanitizer_report("threads", t.stderr())


def scenario_forkstorm(args, tmp):
    n = 1000
    sock = os.path.join(tmp, "fork.sock")
    t = Target([args.sandbox, "run", "--socket", sock, "--", args.target, "forkstorm", str(n)])
    check(t.read_until("start"), "forkstorm: no start line")
    sup = run_supervisor(t.proc.pid)
    base = fd_count(sup)
    t.send()
    check(t.read_until("ready"), "forkstorm: no ready line")
    started = time.monotonic()
    t.send()
    check(t.read_until("done", timeout=600), "forkstorm: no done line")
    # A serving thread started for an open that waited in the burst keeps its open emulator
    # (2 fds) until it has been parked 1 s, then leaves (docs/design.md): wait for that.
    wait_for(lambda: fd_count(sup) <= base, HANG_GUARD)
    after = fd_count(sup)
    listed = request(sock, {"op": "list"})
    nodes = listed.get("nodes", [])
    t.send("exit")
    rc = t.wait()
    kv = t.kv
    print(f"stress: forkstorm: {kv.get('children')} children, {kv.get('children_ok')} registered+opened+checked "
          f"their node, {kv.get('children_bad')} failed, {kv.get('stale_after_wait')} fetchable after wait; "
          f"nodes listed at the end: {len(nodes)}; supervisor fds {base} -> {after}; "
          f"{time.monotonic() - started:.1f} s; exit {rc}", flush=True)
    check(kv.get("children_ok") == str(n), "forkstorm: not every child succeeded")
    check(kv.get("stale_after_wait") == "0", "forkstorm: a node was fetchable after wait()")
    check(listed.get("ok") is True and not nodes, f"forkstorm: nodes left at the end: {nodes[:5]}")
    check(after == base, f"forkstorm: supervisor fds {base} -> {after}")
    check(rc == 0, f"forkstorm: exit status {rc}\n{t.stderr()[-2000:]}")
    no_sanitizer_report("forkstorm", t.stderr())


def hostile_client(path, kind, rng):
    """One client that misbehaves in way `kind`; returns its socket, still open (None if it
    could not connect). The caller drops it later, with the rest of its batch."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(10)
    try:
        s.connect(path)
        if kind == 0:  # connect and drop
            pass
        elif kind == 1:  # drop mid-line
            line = b'{"op":"fetch","pid":' + str(rng.randrange(1, 1 << 22)).encode() + b',"id":"x'
            s.sendall(line[: rng.randrange(1, len(line))])
        elif kind == 2:  # a full request, never read the answer
            s.sendall(b'{"op":"list","id":1}\n{"op":"version"}\n')
        elif kind == 3:  # a full request, read the answer
            s.sendall(b'{"op":"version","id":"c"}\n')
            s.recv(4096)
        elif kind == 4:  # garbage, then a partial line
            s.sendall(bytes(rng.randrange(256) for _ in range(rng.randrange(1, 300))) + b"\n{\"op\":")
        elif kind == 5:  # a line over the limit (E2BIG), dropped before the answer
            s.sendall(b'{"op":"' + b"x" * 70000)
        elif kind == 6:  # watch, then drop
            s.sendall(b'{"op":"watch"}\n')
        elif kind == 7:  # half-close after a partial last line
            s.sendall(b'{"op":"version"}')
            s.shutdown(socket.SHUT_WR)
        return s
    except OSError:
        if kind == 5:  # the server may close on E2BIG before all bytes are sent
            return s
        s.close()
        return None


def listening(path):
    """True once a Unix socket bound at `path` is listening (/proc/net/unix, no connection)."""
    with open("/proc/net/unix") as f:
        next(f)
        for line in f:
            fields = line.split()
            if len(fields) >= 8 and fields[7] == path and int(fields[3], 16) & 0x10000:
                return True
    return False


def start_serve(args, tmp):
    """Starts `sandbox serve`; returns it, its socket and its idle descriptor count, taken
    before any client connected (a dropped session is closed asynchronously, so counts
    taken later are compared with this one under a deadline)."""
    sock = os.path.join(tmp, "serve.sock")
    serve = Target([args.sandbox, "serve", "--socket", sock])
    check(wait_for(lambda: serve.proc.poll() is None and listening(sock), HANG_GUARD), "serve: never listened")
    idle = fd_count(serve.proc.pid)
    check(answers(sock), "serve: the server never answered")
    return serve, sock, idle


def join_worker(args, sock, threads):
    return Target([args.shim, "--socket", sock, "--track", "--", args.target, "worker", str(threads)])


def scenario_clients(args, tmp, serve, sock, base0):
    sup = serve.proc.pid
    w = join_worker(args, sock, 4)
    check(w.read_until("start"), "clients: worker: no start line")
    w.send()
    check(w.read_until("ready"), "clients: worker: no ready line")
    base = fd_count(sup)
    w.send()  # go: the worker allocates and opens until told to stop
    rng = random.Random(6)
    kinds = [0] * 8
    started = time.monotonic()
    total, batch = 1000, 100
    peak = 0
    for first in range(0, total, batch):
        held = []  # a batch of clients connected at once, then dropped in random order
        for i in range(first, first + batch):
            kind = i % 8 if i % 50 else 5
            c = hostile_client(sock, kind, rng)
            if c is not None:
                kinds[kind] += 1
                held.append(c)
        peak = max(peak, fd_count(sup))
        rng.shuffle(held)
        for c in held:
            c.close()
    elapsed = time.monotonic() - started
    served = answers(sock)
    pid = int(w.kv.get("pid", "0"))
    during = request(sock, {"op": "fetch", "pid": pid})
    w.send("stop")
    check(w.read_until("done"), "clients: worker: no done line")
    node = request(sock, {"op": "fetch", "pid": pid})
    back = wait_for(lambda: fd_count(sup) <= base, HANG_GUARD)  # dropped sessions close asynchronously
    after = fd_count(sup)
    heap_expected = int(w.kv["heap_before"]) + int(w.kv["heap_sum"])
    files_expected = int(w.kv["files_before"]) + int(w.kv["files_sum"])
    w.send("exit")
    rc = w.wait()
    gone = request(sock, {"op": "fetch", "pid": pid})
    final_back = wait_for(lambda: fd_count(sup) == base0, HANG_GUARD)
    final = fd_count(sup)
    print(f"stress: clients: {sum(kinds)} clients in {elapsed:.1f} s, {batch} connected at once (supervisor fds "
          f"peaked at {peak}) (by kind: connect+drop {kinds[0]}, "
          f"mid-line {kinds[1]}, unread answers {kinds[2]}, read answer {kinds[3]}, garbage {kinds[4]}, "
          f"70000-byte line {kinds[5]}, watch+drop {kinds[6]}, half-close {kinds[7]}); server answered after: "
          f"{served}; worker: {w.kv.get('mmaps')} mmaps, {w.kv.get('opens')} opens, {w.kv.get('closes')} closes; "
          f"node heap {node.get('heapsize')} = expected {heap_expected}, files {node.get('openfile_count')} = "
          f"expected {files_expected}; supervisor fds {base0} (idle) / {base} (worker joined) -> {after} after the "
          f"clients -> {final} after the worker exited; worker exit {rc}", flush=True)
    check(serve.proc.poll() is None, "clients: the server died")
    check(served and during.get("ok") is True, "clients: the server did not answer normally after the clients")
    check(node.get("heapsize") == heap_expected, "clients: worker heap node != logged sum")
    check(node.get("openfile_count") == files_expected, "clients: worker files node != logged sum")
    check(back, f"clients: supervisor fds {base} -> {after} after the clients")
    check(rc == 0, f"clients: worker exit {rc}: {w.stderr()[-2000:]}")
    check(gone.get("ok") is False and gone.get("errno") == 22, f"clients: node left after the worker exited: {gone}")
    check(final_back, f"clients: supervisor fds {base0} -> {final} after the worker exited")


def scenario_kills(args, tmp, serve, sock, base0):
    sup = serve.proc.pid
    rng = random.Random(int(os.environ.get("STRESS_SEED", "1")))
    targets, stale, early, late = 100, 0, 0, 0
    stale_pids = []
    started = time.monotonic()
    for round_ in range(0, targets, 5):
        batch = []
        for i in range(5):
            w = join_worker(args, sock, 2)
            if (round_ + i) % 2 == 0:
                early += 1  # killed at a random moment of its start: shim, join, exec
                batch.append((w, rng.uniform(0, 0.05)))
            else:
                late += 1  # killed at a random moment while it allocates and opens
                if w.read_until("start", 30):
                    w.send()
                    if w.read_until("ready", 30):
                        w.send()
                batch.append((w, rng.uniform(0, 0.1)))
        for w, delay in batch:
            time.sleep(delay)  # the random moment of the kill (not a synchronisation)
            # The shim runs CMD as its child. A worker that said its pid is killed itself (the
            # shim reaps it and exits); one still starting is killed with its shim (CMD goes
            # too: PR_SET_PDEATHSIG), at any moment of fork, join or exec.
            pid = int(w.kv.get("pid", "0"))
            if pid > 0:
                os.kill(pid, signal.SIGKILL)
            else:
                w.proc.send_signal(signal.SIGKILL)
        for w, _ in batch:
            w.wait()
            pid = int(w.kv.get("pid", "0"))
            if pid <= 0:
                continue
            # The shim has reaped the worker (its wait() returned) before it exited: from then
            # on no query reports the task (docs/semantics.md).
            r = request(sock, {"op": "fetch", "pid": pid})
            if r.get("ok") is not False:
                stale += 1
                stale_pids.append(pid)
    # Workers killed with their shim die by PR_SET_PDEATHSIG, after the shim: reaped by init.
    wait_for(lambda: not request(sock, {"op": "list"}).get("nodes"), HANG_GUARD)
    listed = request(sock, {"op": "list"})
    nodes = listed.get("nodes", [])
    served = answers(sock)
    back = wait_for(lambda: fd_count(sup) == base0, HANG_GUARD)
    after = fd_count(sup)
    print(f"stress: kills: {targets} targets SIGKILLed ({early} during start/join, {late} while working) in "
          f"{time.monotonic() - started:.1f} s; fetchable after wait: {stale}; nodes listed at the end: {len(nodes)}; "
          f"server answered after: {served}; supervisor fds {base0} -> {after}", flush=True)
    check(stale == 0, f"kills: nodes fetchable after wait(): {stale_pids[:10]}")
    check(not nodes, f"kills: nodes left: {nodes[:5]}")
    check(served and serve.proc.poll() is None, "kills: the server did not answer after the kills")
    check(back, f"kills: supervisor fds {base0} -> {after}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--sandbox", required=True)
    ap.add_argument("--shim", required=True)
    ap.add_argument("--target", required=True)
    ap.add_argument("--only", action="append", choices=["threads", "forkstorm", "clients", "kills"])
    args = ap.parse_args()
    only = set(args.only or ["threads", "forkstorm", "clients", "kills"])
    t0 = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="sandbox-stress-") as tmp:
        for name, fn in (("threads", scenario_threads), ("forkstorm", scenario_forkstorm)):
            if name in only:
                s = time.monotonic()
                fn(args, tmp)
                print(f"stress: {name}: {time.monotonic() - s:.1f} s", flush=True)
        if only & {"clients", "kills"}:
            serve, sock, idle = start_serve(args, tmp)
            for name, fn in (("clients", scenario_clients), ("kills", scenario_kills)):
                if name in only:
                    s = time.monotonic()
                    fn(args, tmp, serve, sock, idle)
                    print(f"stress: {name}: {time.monotonic() - s:.1f} s", flush=True)
            serve.proc.send_signal(signal.SIGTERM)
            rc = serve.wait(30)
            print(f"stress: serve: exit {rc} after SIGTERM", flush=True)
            check(rc == 0, f"serve: exit status {rc}\n{serve.stderr()[-2000:]}")
            no_sanitizer_report("serve", serve.stderr())
    print(f"stress: total {time.monotonic() - t0:.1f} s, {len(failures)} failure(s)", flush=True)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
