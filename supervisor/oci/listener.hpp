// SPDX-License-Identifier: Apache-2.0
// oci_listener: `sandbox serve --oci-listener PATH` -- the socket where OCI runtimes (runc,
// crun; podman and Kubernetes through them) hand over a container's seccomp listener, with
// the container's state as JSON (oci.hpp), so the supervisor serves the container.
//
// Threads: everything here runs on the io_context's thread: the accept loop and one
// coroutine per connection. No connection can hold that thread: reads are non-blocking and
// bounded (oci::kMaxStateBytes, kMaxFds), each byte is scanned once for the end of the
// message (MessageEnd) and the JSON is parsed once, when it is complete; a connection
// that has not sent a complete message within Options::timeout is dropped, at most
// max_clients are read at once (others wait in the backlog) and at most max_per_peer of
// them for one uid (SO_PEERCRED; more are refused with a line), so a peer's parse work is
// bounded by max_per_peer * kMaxStateBytes bytes scanned per timeout.
//
// Trust. The socket belongs to the runtime (root; mode 0600 by default), yet every message
// is checked as if hostile: the JSON is validated field by field, the fd must be a seccomp
// listener, and the container's pid must be the connecting process (SO_PEERCRED) or one of
// its descendants -- the runtime that made the container is its ancestor while it hands the
// listener over, so a message cannot put quotas or a container id on an unrelated process.
// A refused message is one line on the log; its fds are closed, and a container whose
// listener is closed gets ENOSYS for every notified call (even execve): it fails closed.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "base/unique_fd.hpp"
#include "control/control.hpp"
#include "oci/message.hpp"
#include "oci/oci.hpp"
#include "policy/policy.hpp"

namespace boost::asio {
class io_context;
}

namespace sandbox {

class OciListener {
 public:
  struct Container {
    UniqueFd listener;  // the container's seccomp listener
    pid_t pid = 0;      // its process (in our pid namespace, checked)
    std::string id;     // oci::printable_id of the container id
    Policy quotas;      // heap_quota_bytes, file_quota, track (from the listener metadata)
  };
  // Takes the container (the supervisor's attach()); an error refuses it.
  using Admit = std::function<OpResult(Container&)>;

  struct Options {
    std::string path;
    mode_t mode = 0600;
    std::optional<std::string> policy_dir;  // where metadata's policy=NAME is NAME.json
    std::chrono::milliseconds timeout{5000};
    std::size_t max_clients = 64;
    std::size_t max_per_peer = 16;  // connections being read for one uid
    bool verbose = false;
    std::function<void(const std::string&)> log;  // one line, no newline; default: stderr
  };

  static constexpr std::size_t kMaxFds = oci::kMaxFds;  // per message; more is refused

  OciListener(boost::asio::io_context& io, Options options, Admit admit);
  OciListener(const OciListener&) = delete;
  OciListener& operator=(const OciListener&) = delete;
  ~OciListener();

  // Binds the socket (see bind_unix_listener) and starts accepting. Throws
  // std::runtime_error with one line naming the path.
  void start();
  // Stops accepting, drops the connections being read, removes the socket file. From the
  // io thread, or before/after the io_context runs.
  void stop();

  std::size_t admitted() const;  // containers handed to Admit successfully
  std::size_t refused() const;   // messages refused (each logged)
  std::size_t scanned() const;   // bytes scanned for a message's end (the parse work; a test hook)
  std::size_t parsed() const;    // messages parsed as JSON (once each, when complete)

  struct Impl;

 private:
  std::shared_ptr<Impl> impl_;
};

// The quotas a container gets from its metadata: a named policy's quotas (NAME.json under
// `policy_dir`), overridden by explicit heap-quota / file-quota / track. Throws
// oci::OciError (naming the policy file for a PolicyError).
Policy container_quotas(const oci::Quotas& q, const std::optional<std::string>& policy_dir);

}  // namespace sandbox
