// ctl: `sandbox ctl`, a client of the control socket (docs/protocol.md) with one
// subcommand per operation. Blocking I/O: one request, one response (watch: a stream).
//
// Exit status: 0 success; 1 the server answered an error (`sandbox ctl: fetch 1234: EINVAL:
// not registered` on stderr); 2 bad arguments; 3 the socket could not be reached or the
// connection failed.
#pragma once

#include <string>

namespace sandbox {

// argv[0] is the command's own name (e.g. "ctl") and is skipped, as in main().
int ctl_main(int argc, const char* const argv[]);
const char* ctl_usage_text();

// The socket ctl talks to without --socket: $SANDBOX_SOCKET, else default_socket_path()
// (cli.hpp: in a directory no other user can write), the path `sandbox serve` uses by
// default.
std::string ctl_socket_path();

}  // namespace sandbox
