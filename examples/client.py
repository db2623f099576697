#!/usr/bin/env python3
# A minimal control-socket client (docs/protocol.md): fetch one node and print the answer.
# Usage: client.py PID [SOCKET]
import json, os, socket, sys

path = sys.argv[2] if len(sys.argv) > 2 else os.environ.get("SANDBOX_SOCKET") or os.path.join(
    os.environ.get("XDG_RUNTIME_DIR") or "/run", "sandbox.sock")
with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
    s.connect(path)
    s.sendall((json.dumps({"op": "fetch", "pid": int(sys.argv[1]), "id": 1}) + "\n").encode())
    reply = json.loads(s.makefile().readline())
print(json.dumps(reply, indent=2))
sys.exit(0 if reply["ok"] else 1)
