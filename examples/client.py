#!/usr/bin/env python3
# A minimal control-socket client (docs/protocol.md): fetch one node and print the answer.
# Usage: client.py PID [SOCKET]
import json, os, socket, stat, struct, sys



def own_dir(d):  # a real directory of ours that no other user can write
    try:
        st = os.lstat(d)
    except OSError:
        return False
    return stat.S_ISDIR(st.st_mode) and st.st_uid == os.geteuid() and not st.st_mode & 0o022


def default_path():  # as `sandbox serve` chooses it (docs/protocol.md)
    uid = os.geteuid()
    xdg = os.environ.get("XDG_RUNTIME_DIR")
    for d in ([xdg] if xdg and own_dir(xdg) else []) + (["/run"] if uid == 0 else []) + [f"/run/user/{uid}"]:
        if d == "/run" or own_dir(d):
            return os.path.join(d, "sandbox.sock")
    return f"/tmp/sandbox-{uid}/sandbox.sock"


path = sys.argv[2] if len(sys.argv) > 2 else os.environ.get("SANDBOX_SOCKET") or default_path()
with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
    s.connect(path)
    # Send nothing to, and believe nothing from, a server of another user: anyone could have
    # bound the path first. Root's server, or our own, only (SO_PEERCRED: pid, uid, gid).
    _, uid, _ = struct.unpack("3i", s.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i")))
    if uid not in (0, os.geteuid()):
        sys.exit(f"client.py: the server at {path} runs as uid {uid}, neither root nor you: not talking to it")
    s.sendall((json.dumps({"op": "fetch", "pid": int(sys.argv[1]), "id": 1}) + "\n").encode())
    reply = json.loads(s.makefile().readline())
print(json.dumps(reply, indent=2))
sys.exit(0 if reply["ok"] else 1)
