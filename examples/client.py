#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
# A minimal control-socket client (docs/protocol.md): fetch one node and print the answer.
# Usage: client.py [--socket PATH] PID [SOCKET]
# The socket is found as `sandbox ctl` finds it: --socket (or SOCKET), else $SANDBOX_SOCKET,
# else sandbox.sock in $XDG_RUNTIME_DIR, /run (root), /run/user/UID or /tmp/sandbox-UID/.
# Exit status as `sandbox ctl` (docs/cli.md): 0 ok, 1 the server answered an error,
# 2 bad arguments, 3 the socket cannot be reached or is not trusted.
import argparse, json, os, socket, stat, struct, sys


class Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, no usage block
        print(f"client.py: {message} (see 'client.py --help')", file=sys.stderr)
        sys.exit(2)


def own_dir(d):  # a real directory of ours that no other user can write
    try:
        st = os.lstat(d)
    except OSError:
        return False
    return stat.S_ISDIR(st.st_mode) and st.st_uid == os.geteuid() and not st.st_mode & 0o022


def default_path():  # as `sandbox ctl` and `sandbox serve` choose it (docs/cli.md)
    if os.environ.get("SANDBOX_SOCKET"):
        return os.environ["SANDBOX_SOCKET"]
    uid = os.geteuid()
    xdg = os.environ.get("XDG_RUNTIME_DIR")
    if xdg and own_dir(xdg):
        return os.path.join(xdg, "sandbox.sock")
    if uid == 0:
        return "/run/sandbox.sock"
    if own_dir(f"/run/user/{uid}"):
        return f"/run/user/{uid}/sandbox.sock"
    return f"/tmp/sandbox-{uid}/sandbox.sock"


def pid(text):
    try:
        value = int(text, 10)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a PID (an integer)")
    if not -2**31 <= value < 2**31:
        raise argparse.ArgumentTypeError(f"'{text}' is out of range")
    return value


def main():
    ap = Parser(prog="client.py", description="Fetch one node from a sandbox supervisor's socket.")
    ap.add_argument("pid", type=pid, metavar="PID", help="the task (thread) id")
    ap.add_argument("socket_arg", nargs="?", metavar="SOCKET", help="the socket (as --socket)")
    ap.add_argument("--socket", help="the supervisor's control socket")
    args = ap.parse_args()
    if args.socket and args.socket_arg:
        ap.error("--socket and SOCKET: give one or the other, not both")
    path = args.socket or args.socket_arg or default_path()
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.connect(path)
            # Send nothing to, and believe nothing from, a server of another user: anyone could
            # have bound the path first. Root's server, or our own, only (SO_PEERCRED).
            _, uid, _ = struct.unpack("3i", s.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i")))
            if uid not in (0, os.geteuid()):
                print(f"client.py: the server at {path} runs as uid {uid}, neither root nor you: not talking to it",
                      file=sys.stderr)
                return 3
            s.sendall((json.dumps({"op": "fetch", "pid": args.pid, "id": 1}) + "\n").encode())
            line = s.makefile().readline()
    except OSError as e:
        print(f"client.py: cannot reach the supervisor at {path}: {e.strerror or e}", file=sys.stderr)
        return 3
    try:
        reply = json.loads(line)
    except ValueError:
        print(f"client.py: malformed response from the server: {line.strip()!r}", file=sys.stderr)
        return 3
    print(json.dumps(reply, indent=2))
    return 0 if reply.get("ok") else 1


if __name__ == "__main__":
    sys.exit(main())
