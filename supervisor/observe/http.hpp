// http: the /metrics endpoint -- a small HTTP/1.1 server (Boost.Beast) that answers
// GET /metrics with the text from a callback and 404 for anything else.
//
// Threads: everything runs on the thread running the io_context given to the constructor;
// the callback runs there too (it snapshots the supervisor under its lock briefly, then
// formats outside it). A scraper cannot stall anything else: request headers are bounded
// (max_header bytes, no body accepted), every read and write has a deadline (timeout), and
// at most max_sessions connections are served at once (more are closed at accept).
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

class MetricsServer {
 public:
  struct Options {
    ListenAddress address;
    int listen_fd = -1;  // an inherited listening TCP socket (socket activation): used instead
    std::size_t max_header = 8 * 1024;
    std::chrono::milliseconds timeout{5000};  // per request: read it, write the answer
    std::size_t max_sessions = 16;
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

  struct Impl;

 private:
  std::shared_ptr<Impl> impl_;
};

}  // namespace sandbox::observe
