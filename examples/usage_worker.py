#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
# A worker that registers itself with the tracker-limiter ABI and caps its own heap and files.
import ctypes, os, sys, time
libc = ctypes.CDLL(None, use_errno=True)
libc.syscall(451, os.getpid())                 # register
libc.syscall(454, os.getpid(), 48, 12)         # resource_cap: 48 MiB, 12 files
mib, files, pause = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
held, fds = [], []
for i in range(mib):
    held.append(bytearray(1 << 20))
    if i % max(1, mib // files) == 0 and len(fds) < files:
        fds.append(open("/dev/null"))
    time.sleep(pause)
for f in fds[: len(fds) // 2]:
    f.close()
time.sleep(0.3)
