// SPDX-License-Identifier: Apache-2.0
// http: the /metrics endpoint -- a small HTTP/1.1 server (Boost.Beast) that answers
// GET /metrics with the text from a callback and 404 for anything else.
//
// Threads: everything runs on the thread running the io_context given to the constructor;
// the callback runs there too (it snapshots the supervisor under its lock briefly, then
// formats outside it). A scraper cannot stall anything else: request headers are bounded
// (max_header bytes, no body accepted), every read and write has a deadline (timeout), and
// at most max_sessions connections are served at once.
//
// No peer can hold the table (docs/security.md, "Per-tenant bounds"): a peer -- the uid
// owning the other end when it is a socket of this host (every local user shares
// 127.0.0.1, so the address cannot tell them apart), else the remote address -- has at most
// max_per_peer connections; a connection waiting for its next request is closed after
// idle_timeout, and any connection after lifetime; and a new connection that finds its
// peer's share or the table full takes the place of the least recently active idle one. A
// slot is only ever held without being evictable while a request is being read (at most
// `timeout`) or answered, so a scraper is served whatever one peer does.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "observe/metrics.hpp"

namespace boost::asio {
class io_context;
}

namespace sandbox::observe {

// "HOST:PORT", "[V6]:PORT", ":PORT" or "PORT"; without a host, loopback (127.0.0.1).
// Throws std::invalid_argument with one line naming what was wrong.
struct ListenAddress {
  std::string host = "127.0.0.1";
  std::uint16_t port = 0;
};
ListenAddress parse_listen_address(std::string_view text);

// Whom a connected TCP socket's other end belongs to: "uid N" when that end is a socket of
// this host in our network namespace (asked of the kernel by sock_diag), else
// "address A"; "" when the socket has no peer.
std::string peer_of(int fd);

class MetricsServer {
 public:
  struct Options {
    ListenAddress address;
    int listen_fd = -1;  // an inherited listening TCP socket (socket activation): used instead
    std::size_t max_header = 8 * 1024;
    std::chrono::milliseconds timeout{5000};  // per request: read it, write the answer
    std::size_t max_sessions = 16;
    std::size_t max_per_peer = 4;
    std::chrono::milliseconds idle_timeout{5000};  // between keep-alive requests
    std::chrono::milliseconds lifetime{60000};     // of a connection, however busy
    // Who a connection belongs to, for max_per_peer; default: peer_of() below. (A test hook.)
    std::function<std::string(int fd)> peer_of;
  };
  using Body = std::function<std::string(MetricsFormat)>;

  MetricsServer(boost::asio::io_context& io, Options options, Body body);
  MetricsServer(const MetricsServer&) = delete;
  MetricsServer& operator=(const MetricsServer&) = delete;
  ~MetricsServer();

  // Binds and listens (or takes listen_fd) and starts accepting once the io_context runs.
  // Throws std::runtime_error with one line naming the address on failure.
  void start();
  // Stops accepting and closes every connection; from any thread (posted when not on the
  // io thread).
  void stop();
  // The bound port (useful with port 0).
  std::uint16_t port() const;
  std::uint64_t requests() const;
  std::uint64_t evicted() const;  // idle connections closed to make room for a new one
  std::uint64_t refused() const;  // connections closed at accept: no room and nothing idle

  struct Impl;

 private:
  std::shared_ptr<Impl> impl_;
};

}  // namespace sandbox::observe
