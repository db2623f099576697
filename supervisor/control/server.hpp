// SPDX-License-Identifier: Apache-2.0
// server: the control socket -- a Unix stream socket speaking the newline-delimited JSON of
// docs/protocol.md (schema in protocol.*), answered through a Control.
//
// Threads: everything here runs on the one thread that runs the io_context given to the
// constructor (one coroutine per client, plus the accept loop and the signal wait), except
// the subscribe callbacks, which the notify thread calls with the supervisor's lock held:
// they only post a copy of the event to the io_context. Control calls are made from the io
// thread and are quick (they take the supervisor's lock briefly); the server never waits
// for a client inside one, so a slow, stalled or hostile client cannot delay the notify loop.
//
// Bad input is bounded per client: a line longer than max_line gets E2BIG and the session
// is closed; a line left half-sent for line_timeout is dropped; a client whose unread
// responses and events exceed max_queue bytes is dropped; a session holds at most max_fds
// unclaimed SCM_RIGHTS descriptors.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <string>

#include "base/unique_fd.hpp"
#include "control/control.hpp"

namespace boost::asio {
class io_context;
}

namespace sandbox {

// Creates a listening, non-blocking, close-on-exec Unix stream socket at `path` with file
// mode `mode` (never wider, not even for an instant). A stale socket file is replaced, a
// live one is not. Sets the file's identity (to remove it later only if it is still ours).
// Throws std::runtime_error with one line naming the path. (Also for the OCI listener.)
UniqueFd bind_unix_listener(const std::string& path, mode_t mode, dev_t& dev, ino_t& ino);

class Server {
 public:
  struct Options {
    std::string path;    // the socket's path (at most 107 bytes)
    mode_t mode = 0600;  // the socket file's mode
    // A default path: its directory must be one no other user can write (owned by us or
    // root, no group/other write bit, not a symlink); made 0700 if missing. Else start()
    // refuses, naming the directory's owner: someone else could take or replace the name.
    bool private_dir = false;
    std::size_t max_line = 64 * 1024;               // bytes per request line, without '\n'
    std::chrono::milliseconds line_timeout{10000};  // to finish a line once begun
    std::size_t max_queue = 1 << 20;                // unsent response/event bytes per client
    std::size_t max_fds = 8;                        // descriptors a session may hold unclaimed
    std::size_t max_per_uid = 128;                  // open connections per uid (not root's outside)
    std::string version = "unknown";                // answered by `version`
    // An inherited listening Unix socket (systemd socket activation) to serve instead of
    // binding `path`; the server then neither creates nor removes a socket file.
    int listen_fd = -1;
    // When set, SIGTERM and SIGINT are caught: on_signal(signo) runs on the io thread,
    // then the server stops (stop()).
    std::function<void(int signo)> on_signal;
  };

  // `control` must outlive the server.
  Server(boost::asio::io_context& io, Control& control, Options options);
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;
  // Stops (see stop()); call it when the io_context is not running on another thread.
  ~Server();

  // Creates the socket and starts accepting (on the io thread, once the io_context runs).
  // Raises RLIMIT_NOFILE's soft limit to the hard limit. A stale socket file at the path
  // (nobody listening) is replaced; a live one is not. Throws std::runtime_error with a
  // one-line message naming the path on failure.
  void start();
  // Stops accepting, closes every session (unsent output is dropped) and removes the socket
  // file. From any thread: from another thread it is posted to the io_context, and takes
  // effect once the io_context runs. Once stopped, the server's coroutines finish, so
  // io_context::run() returns when nothing else keeps it busy.
  void stop();

  // Sessions open now (any thread; for tests and `--verbose`).
  std::size_t session_count() const;
  const std::string& path() const;

  struct Impl;

 private:
  std::shared_ptr<Impl> impl_;
};

}  // namespace sandbox
