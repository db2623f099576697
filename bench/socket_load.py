#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Load test of the control socket (issue 3), bounded in count and time, loopback only.

A `sandbox serve` supervises 8 targets running an open/close loop (bench_open_close, joined
with `sandbox-shim --track`, so every call is accounted) while CLIENTS clients issue `fetch`
in a loop (socket_load). Each round runs the targets once without clients and once with
them, back to back, so the slowdown is a ratio measured side by side.

  bench/socket_load.py [--build DIR] [--rounds N] [--clients N] [--iters N] [--out DIR]

Writes DIR/socket_load.md and DIR/socket_load.json and prints the table.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile


def start_serve(bin_dir, path):
    p = subprocess.Popen([f"{bin_dir}/sandbox", "serve", "--socket", path, "--verbose"],
                         stderr=subprocess.PIPE, text=True)
    for line in p.stderr:  # ready once it says so
        if "serving" in line:
            return p
    raise SystemExit("socket_load: sandbox serve did not start")


def run_targets(bin_dir, path, n, iters):
    """Runs n targets at once; returns the median ns/op they report."""
    procs = [subprocess.Popen([f"{bin_dir}/sandbox-shim", "--socket", path, "--track", "--",
                               f"{bin_dir}/bench_open_close", str(iters)],
                              stdout=subprocess.PIPE, text=True) for _ in range(n)]
    values = []
    for p in procs:
        out, _ = p.communicate(timeout=600)
        values += [float(l.split()[1]) for l in out.splitlines() if l.startswith("ns/op")]
    if len(values) != n:
        raise SystemExit("socket_load: a target failed")
    return statistics.median(values)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default="build")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--clients", type=int, default=200)
    ap.add_argument("--targets", type=int, default=8)
    ap.add_argument("--iters", type=int, default=20000)
    ap.add_argument("--out", default="bench-out")
    a = ap.parse_args()
    bin_dir = os.path.abspath(os.path.join(a.build, "bin"))
    os.makedirs(a.out, exist_ok=True)
    path = os.path.join(tempfile.mkdtemp(prefix="sandbox-load-"), "s.sock")
    serve = start_serve(bin_dir, path)
    rows = []
    try:
        # A parked, registered target for the clients to fetch.
        parked = subprocess.Popen([f"{bin_dir}/sandbox-shim", "--socket", path, "--track", "--",
                                   "/bin/sh", "-c", "echo ready; exec sleep 100000"],
                                  stdout=subprocess.PIPE, text=True)
        parked.stdout.readline()  # it runs, so it has joined and is registered
        for r in range(a.rounds):
            quiet = run_targets(bin_dir, path, a.targets, a.iters)
            load = subprocess.Popen([f"{bin_dir}/socket_load", path, str(parked.pid), str(a.clients), "600"],
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            load.stderr.readline()  # "N clients connected": the load is on
            loaded = run_targets(bin_dir, path, a.targets, a.iters)
            load.terminate()
            out, _ = load.communicate(timeout=60)
            stats = json.loads(out.strip().splitlines()[-1]) if out.strip() else {}
            rows.append({"round": r + 1, "target_ns_per_open_close_quiet": quiet,
                         "target_ns_per_open_close_loaded": loaded, "slowdown": loaded / quiet, **stats})
            print(f"round {r + 1}: quiet {quiet:.0f} ns/op, loaded {loaded:.0f} ns/op, "
                  f"{stats.get('requests_per_s', 0):.0f} req/s, p99 {stats.get('p99_us', 0):.0f} us",
                  file=sys.stderr)
        parked.kill()
    finally:
        serve.terminate()
        serve.wait(timeout=60)
    med = {k: statistics.median(r[k] for r in rows)
           for k in ("slowdown", "requests_per_s", "p50_us", "p99_us", "target_ns_per_open_close_quiet",
                     "target_ns_per_open_close_loaded") if all(k in r for r in rows)}
    table = ["| measure | median of rounds |", "|---|---|",
             f"| clients issuing fetch in a loop | {a.clients} |",
             f"| targets running open/close (tracked) | {a.targets} |"]
    for k, v in med.items():
        table.append(f"| {k} | {v:.2f} |")
    md = "\n".join(table) + "\n"
    with open(os.path.join(a.out, "socket_load.md"), "w") as f:
        f.write(md)
    with open(os.path.join(a.out, "socket_load.json"), "w") as f:
        json.dump({"rounds": rows, "median": med}, f, indent=2)
    print(md)


if __name__ == "__main__":
    main()
