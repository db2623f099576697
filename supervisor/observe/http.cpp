#include <utility>  // before Asio: 1.74's awaitable.hpp uses std::exchange without it
//
#include <sys/socket.h>

#include <atomic>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <charconv>
#include <stdexcept>
#include <vector>

#include "observe/http.hpp"

namespace sandbox::observe {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using asio::awaitable;
using asio::use_awaitable;

ListenAddress parse_listen_address(std::string_view text) {
  ListenAddress a;
  std::string_view port = text;
  if (const auto colon = text.rfind(':'); colon != std::string_view::npos) {
    std::string_view host = text.substr(0, colon);
    port = text.substr(colon + 1);
    if (host.size() >= 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
    if (!host.empty()) a.host = std::string(host);
  }
  unsigned v = 0;
  const auto [p, ec] = std::from_chars(port.data(), port.data() + port.size(), v);
  if (port.empty() || ec != std::errc() || p != port.data() + port.size() || v > 65535)
    throw std::invalid_argument("'" + std::string(text) +
                                "' is not HOST:PORT (e.g. 127.0.0.1:9464 or :9464)");
  boost::system::error_code bad;
  asio::ip::make_address(a.host, bad);
  if (bad)
    throw std::invalid_argument("'" + std::string(text) + "': '" + a.host +
                                "' is not an IP address (use 127.0.0.1, ::1, 0.0.0.0, ...)");
  a.port = static_cast<std::uint16_t>(v);
  return a;
}

struct MetricsServer::Impl {
  Impl(asio::io_context& io_, Options o, Body b)
      : io(io_), opt(std::move(o)), body(std::move(b)), acceptor(io_) {}

  awaitable<void> accept_loop(std::shared_ptr<Impl> self);
  awaitable<void> session(std::shared_ptr<Impl> self, std::shared_ptr<beast::tcp_stream> stream);
  void do_stop() {
    if (stopped) return;
    stopped = true;
    boost::system::error_code ignored;
    acceptor.close(ignored);
    for (auto& w : sessions)
      if (auto s = w.lock()) s->socket().close(ignored);
    sessions.clear();
  }

  asio::io_context& io;
  Options opt;
  Body body;
  tcp::acceptor acceptor;
  std::vector<std::weak_ptr<beast::tcp_stream>> sessions;
  std::size_t live = 0;
  bool stopped = false;
  std::uint16_t port = 0;
  std::atomic<std::uint64_t> requests{0};
};

awaitable<void> MetricsServer::Impl::accept_loop(std::shared_ptr<Impl> self) {
  while (!stopped) {
    boost::system::error_code ec;
    tcp::socket sock = co_await acceptor.async_accept(asio::redirect_error(use_awaitable, ec));
    if (stopped || ec == asio::error::operation_aborted) break;
    if (ec) continue;  // ECONNABORTED, EMFILE, ...: the next one may do
    if (live >= opt.max_sessions) {
      sock.close(ec);  // a flood of scrapers gets closed connections, not our memory
      continue;
    }
    auto stream = std::make_shared<beast::tcp_stream>(std::move(sock));
    std::erase_if(sessions, [](const auto& w) { return w.expired(); });
    sessions.push_back(stream);
    asio::co_spawn(io, session(self, stream), asio::detached);
  }
}

awaitable<void> MetricsServer::Impl::session(std::shared_ptr<Impl> self,
                                             std::shared_ptr<beast::tcp_stream> stream) {
  ++live;
  struct Leave {
    Impl& impl;
    ~Leave() { --impl.live; }
  } leave{*self};
  try {
    beast::flat_buffer buffer(opt.max_header);  // its max_size bounds what one request may hold
    for (;;) {
      http::request_parser<http::empty_body> parser;
      parser.header_limit(static_cast<std::uint32_t>(opt.max_header));
      parser.body_limit(0);
      boost::system::error_code ec;
      stream->expires_after(opt.timeout);
      co_await http::async_read(*stream, buffer, parser, asio::redirect_error(use_awaitable, ec));
      if (ec || stopped) break;
      const auto& req = parser.get();
      ++requests;
      http::response<http::string_body> res;
      res.version(req.version());
      res.set(http::field::server, "sandbox");
      std::string_view target(req.target().data(), req.target().size());
      if (const auto q = target.find('?'); q != std::string_view::npos) target = target.substr(0, q);
      if (req.method() != http::verb::get && req.method() != http::verb::head) {
        res.result(http::status::method_not_allowed);
        res.set(http::field::allow, "GET, HEAD");
        res.set(http::field::content_type, "text/plain; charset=utf-8");
        res.body() = "only GET /metrics here\n";
      } else if (target != "/metrics") {
        res.result(http::status::not_found);
        res.set(http::field::content_type, "text/plain; charset=utf-8");
        res.body() = "not found: try /metrics\n";
      } else {
        const auto accept = req[http::field::accept];
        const MetricsFormat f = negotiate(std::string_view(accept.data(), accept.size()));
        res.result(http::status::ok);
        res.set(http::field::content_type, std::string(content_type(f)));
        res.body() = body(f);
      }
      res.keep_alive(req.keep_alive());
      res.prepare_payload();
      if (req.method() == http::verb::head) res.body().clear();  // the length stays the GET's
      stream->expires_after(opt.timeout);
      co_await http::async_write(*stream, res, asio::redirect_error(use_awaitable, ec));
      if (ec || !req.keep_alive() || stopped) break;
    }
  } catch (...) {
  }
  boost::system::error_code ignored;
  stream->socket().shutdown(tcp::socket::shutdown_both, ignored);
  stream->socket().close(ignored);
}

MetricsServer::MetricsServer(asio::io_context& io, Options options, Body body)
    : impl_(std::make_shared<Impl>(io, std::move(options), std::move(body))) {}

MetricsServer::~MetricsServer() {
  impl_->do_stop();
}

void MetricsServer::start() {
  Impl& m = *impl_;
  boost::system::error_code ec;
  const std::string where = m.opt.listen_fd >= 0
                                ? "the inherited metrics socket"
                                : m.opt.address.host + ":" + std::to_string(m.opt.address.port);
  if (m.opt.listen_fd >= 0) {
    sockaddr_storage ss{};
    socklen_t len = sizeof ss;
    if (::getsockname(m.opt.listen_fd, reinterpret_cast<sockaddr*>(&ss), &len) != 0 ||
        (ss.ss_family != AF_INET && ss.ss_family != AF_INET6))
      throw std::runtime_error("metrics: " + where + " is not a TCP socket");
    m.acceptor.assign(ss.ss_family == AF_INET ? tcp::v4() : tcp::v6(), m.opt.listen_fd, ec);
    if (ec) throw std::runtime_error("metrics: " + where + ": " + ec.message());
  } else {
    const tcp::endpoint ep(asio::ip::make_address(m.opt.address.host), m.opt.address.port);
    m.acceptor.open(ep.protocol(), ec);
    if (!ec) m.acceptor.set_option(tcp::acceptor::reuse_address(true), ec);
    if (!ec) m.acceptor.bind(ep, ec);
    if (!ec) m.acceptor.listen(asio::socket_base::max_listen_connections, ec);
    if (ec) throw std::runtime_error("metrics: " + where + ": " + ec.message());
  }
  m.port = m.acceptor.local_endpoint(ec).port();
  asio::co_spawn(m.io, m.accept_loop(impl_), asio::detached);
}

void MetricsServer::stop() {
  if (impl_->io.get_executor().running_in_this_thread()) {
    impl_->do_stop();
  } else {
    asio::post(impl_->io, [impl = impl_] { impl->do_stop(); });
  }
}

std::uint16_t MetricsServer::port() const {
  return impl_->port;
}

std::uint64_t MetricsServer::requests() const {
  return impl_->requests.load();
}

}  // namespace sandbox::observe
