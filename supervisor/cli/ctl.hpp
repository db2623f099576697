// SPDX-License-Identifier: Apache-2.0
// ctl: `sandbox ctl`, a client of the control socket (docs/protocol.md) with one
// subcommand per operation. Blocking I/O: one request, one response (watch: a stream).
// Its arguments are parsed with the rest of `sandbox` (cli.cpp).
//
// Exit status (docs/cli.md): 0 success; 1 the server answered an error (`sandbox: ctl fetch
// 1234: EINVAL: not registered` on stderr); 2 bad arguments; 3 the socket could not be
// reached or the connection failed.
#pragma once

#include <optional>
#include <stdexcept>
#include <string>

#include "base/unique_fd.hpp"
#include "cli/commands.hpp"

namespace sandbox {

int ctl_command(const CtlOptions& options);

// The socket ctl talks to without --socket: $SANDBOX_SOCKET, else default_socket_path()
// (cli.hpp: in a directory no other user can write), the path `sandbox serve` uses by
// default.
std::string ctl_socket_path();

// The client side, shared with a nested `sandbox run` (run.cpp). CtlIoError: the socket
// could not be reached, is not trusted (a server neither root nor us), or the connection failed.
struct CtlIoError : std::runtime_error {
  using std::runtime_error::runtime_error;
};
UniqueFd connect_to(const std::string& path);
void send_all(int fd, const std::string& data);
// Reads lines from the server, one at a time.
class LineReader {
 public:
  explicit LineReader(int fd) : fd_(fd) {}
  // The next line without '\n'; nullopt at end of stream.
  std::optional<std::string> next();

 private:
  int fd_;
  std::string buf_;
};

}  // namespace sandbox
