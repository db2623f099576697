// SPDX-License-Identifier: Apache-2.0
#include <utility>  // before Asio: 1.74's awaitable.hpp uses std::exchange without it
//
#include <arpa/inet.h>
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
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
#include <cstring>
#include <optional>
#include <stdexcept>
#include <vector>

#include "base/unique_fd.hpp"
#include "observe/http.hpp"
#include "observe/http_request.hpp"

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

namespace {

// The uid owning the socket at the other end of `fd` -- asked of the kernel by the
// connection's addresses (sock_diag, an exact lookup; no privilege needed) -- or nullopt
// when no socket of this network namespace has them (a remote peer).
std::optional<uid_t> local_peer_uid(const sockaddr_storage& local, const sockaddr_storage& remote) {
  struct {
    nlmsghdr nh;
    inet_diag_req_v2 req;
  } q{};
  q.nh.nlmsg_len = sizeof q;
  q.nh.nlmsg_type = SOCK_DIAG_BY_FAMILY;
  q.nh.nlmsg_flags = NLM_F_REQUEST;
  q.req.sdiag_protocol = IPPROTO_TCP;
  q.req.idiag_states = ~0u;
  q.req.id.idiag_cookie[0] = q.req.id.idiag_cookie[1] = INET_DIAG_NOCOOKIE;
  // The peer's socket: its source is our remote end, its destination our local end.
  if (remote.ss_family == AF_INET && local.ss_family == AF_INET) {
    const auto& r = reinterpret_cast<const sockaddr_in&>(remote);
    const auto& l = reinterpret_cast<const sockaddr_in&>(local);
    q.req.sdiag_family = AF_INET;
    q.req.id.idiag_sport = r.sin_port;
    q.req.id.idiag_dport = l.sin_port;
    std::memcpy(q.req.id.idiag_src, &r.sin_addr, 4);
    std::memcpy(q.req.id.idiag_dst, &l.sin_addr, 4);
  } else if (remote.ss_family == AF_INET6 && local.ss_family == AF_INET6) {
    const auto& r = reinterpret_cast<const sockaddr_in6&>(remote);
    const auto& l = reinterpret_cast<const sockaddr_in6&>(local);
    const bool mapped = IN6_IS_ADDR_V4MAPPED(&r.sin6_addr);  // a v4 client of a dual-stack socket
    q.req.sdiag_family = mapped ? AF_INET : AF_INET6;
    q.req.id.idiag_sport = r.sin6_port;
    q.req.id.idiag_dport = l.sin6_port;
    std::memcpy(q.req.id.idiag_src, mapped ? &r.sin6_addr.s6_addr[12] : r.sin6_addr.s6_addr, mapped ? 4 : 16);
    std::memcpy(q.req.id.idiag_dst, mapped ? &l.sin6_addr.s6_addr[12] : l.sin6_addr.s6_addr, mapped ? 4 : 16);
  } else {
    return std::nullopt;
  }
  const sandbox::UniqueFd nl(::socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_SOCK_DIAG));
  if (!nl) return std::nullopt;
  sockaddr_nl kernel{};
  kernel.nl_family = AF_NETLINK;
  if (::sendto(nl.get(), &q, sizeof q, 0, reinterpret_cast<sockaddr*>(&kernel), sizeof kernel) !=
      static_cast<ssize_t>(sizeof q))
    return std::nullopt;
  alignas(nlmsghdr) char buf[1024];
  const ssize_t n = ::recv(nl.get(), buf, sizeof buf, 0);
  const auto* h = reinterpret_cast<const nlmsghdr*>(buf);
  constexpr std::size_t kAnswer = NLMSG_LENGTH(sizeof(inet_diag_msg));
  if (n < static_cast<ssize_t>(kAnswer) || h->nlmsg_type != SOCK_DIAG_BY_FAMILY || h->nlmsg_len < kAnswer ||
      h->nlmsg_len > static_cast<std::size_t>(n))
    return std::nullopt;  // NLMSG_ERROR (ENOENT): not a socket of this host
  return static_cast<const inet_diag_msg*>(NLMSG_DATA(h))->idiag_uid;
}

}  // namespace

std::string peer_of(int fd) {
  sockaddr_storage local{}, remote{};
  socklen_t ll = sizeof local, rl = sizeof remote;
  if (::getsockname(fd, reinterpret_cast<sockaddr*>(&local), &ll) != 0 ||
      ::getpeername(fd, reinterpret_cast<sockaddr*>(&remote), &rl) != 0)
    return "";
  if (const auto uid = local_peer_uid(local, remote)) return "uid " + std::to_string(*uid);
  char text[INET6_ADDRSTRLEN] = "?";
  if (remote.ss_family == AF_INET)
    ::inet_ntop(AF_INET, &reinterpret_cast<const sockaddr_in&>(remote).sin_addr, text, sizeof text);
  else if (remote.ss_family == AF_INET6)
    ::inet_ntop(AF_INET6, &reinterpret_cast<const sockaddr_in6&>(remote).sin6_addr, text, sizeof text);
  return "address " + std::string(text);
}

struct MetricsServer::Impl {
  Impl(asio::io_context& io_, Options o, Body b)
      : io(io_), opt(std::move(o)), body(std::move(b)), acceptor(io_) {
    if (!opt.peer_of) opt.peer_of = observe::peer_of;
  }
  // One connection being served. `idle`: waiting for the first byte of its next request,
  // so it may be closed to make room (nothing of a request is lost).
  struct Session {
    std::shared_ptr<beast::tcp_stream> stream;
    std::string peer;
    bool idle = true;
    std::chrono::steady_clock::time_point active;  // its last request began or ended
  };

  awaitable<void> accept_loop(std::shared_ptr<Impl> self);
  awaitable<void> session(std::shared_ptr<Impl> self, std::shared_ptr<Session> s);
  // Makes room for a connection of `peer`: false when there is none to make.
  bool admit(const std::string& peer);
  void close(Session& s) {
    boost::system::error_code ignored;
    s.stream->socket().shutdown(tcp::socket::shutdown_both, ignored);
    s.stream->socket().close(ignored);
  }
  void do_stop() {
    if (stopped) return;
    stopped = true;
    boost::system::error_code ignored;
    acceptor.close(ignored);
    for (auto& s : sessions) close(*s);
    sessions.clear();
  }

  asio::io_context& io;
  Options opt;
  Body body;
  tcp::acceptor acceptor;
  std::vector<std::shared_ptr<Session>> sessions;  // those holding a slot
  bool stopped = false;
  std::uint16_t port = 0;
  std::atomic<std::uint64_t> requests{0}, evicted{0}, refused{0};
};

bool MetricsServer::Impl::admit(const std::string& peer) {
  // The least recently active idle session among those `pick` selects, closed and freed.
  const auto evict = [&](auto pick) {
    std::shared_ptr<Session>* victim = nullptr;
    for (auto& s : sessions)
      if (s->idle && pick(*s) && (!victim || s->active < (*victim)->active)) victim = &s;
    if (!victim) return false;
    close(**victim);  // its coroutine sees the error and ends; its slot is free now
    sessions.erase(sessions.begin() + (victim - sessions.data()));
    ++evicted;
    return true;
  };
  const auto mine = static_cast<std::size_t>(
      std::count_if(sessions.begin(), sessions.end(), [&](const auto& s) { return s->peer == peer; }));
  // A peer at its share makes room among its own connections only: it cannot push others out.
  if (mine >= opt.max_per_peer) return evict([&](const Session& s) { return s.peer == peer; });
  if (sessions.size() < opt.max_sessions) return true;
  return evict([](const Session&) { return true; });
}

awaitable<void> MetricsServer::Impl::accept_loop(std::shared_ptr<Impl> self) {
  while (!stopped) {
    boost::system::error_code ec;
    tcp::socket sock = co_await acceptor.async_accept(asio::redirect_error(use_awaitable, ec));
    if (stopped || ec == asio::error::operation_aborted) break;
    if (ec) continue;  // ECONNABORTED, EMFILE, ...: the next one may do
    std::string peer = opt.peer_of(sock.native_handle());
    if (!admit(peer)) {
      ++refused;
      sock.close(ec);  // every slot busy mid-request (each for at most `timeout`): try again
      continue;
    }
    auto s = std::make_shared<Session>();
    s->stream = std::make_shared<beast::tcp_stream>(std::move(sock));
    s->peer = std::move(peer);
    s->active = std::chrono::steady_clock::now();
    sessions.push_back(s);
    asio::co_spawn(io, session(self, s), asio::detached);
  }
}

awaitable<void> MetricsServer::Impl::session(std::shared_ptr<Impl> self, std::shared_ptr<Session> s) {
  struct Leave {  // however it ends, the slot is freed (unless eviction freed it already)
    Impl& impl;
    Session* s;
    ~Leave() {
      std::erase_if(impl.sessions, [this](const auto& p) { return p.get() == s; });
    }
  } leave{*self, s.get()};
  const std::shared_ptr<beast::tcp_stream>& stream = s->stream;
  const auto end_of_life = std::chrono::steady_clock::now() + opt.lifetime;
  try {
    beast::flat_buffer buffer(opt.max_header);  // its max_size bounds what one request may hold
    for (;;) {
      boost::system::error_code ec;
      const auto now = std::chrono::steady_clock::now();
      if (now >= end_of_life) break;
      if (buffer.size() == 0) {
        // Idle: evictable until the next request's first byte comes.
        s->idle = true;
        s->active = now;
        stream->expires_after(
            std::min<std::chrono::steady_clock::duration>(opt.idle_timeout, end_of_life - now));
        const std::size_t n = co_await stream->async_read_some(buffer.prepare(opt.max_header),
                                                               asio::redirect_error(use_awaitable, ec));
        buffer.commit(n);
        if (ec || stopped) break;
      }
      s->idle = false;
      s->active = std::chrono::steady_clock::now();
      HttpRequestParser parser;
      bound(parser, opt.max_header);
      // One deadline for the whole request, however it trickles in.
      stream->expires_after(opt.timeout);
      co_await http::async_read_header(*stream, buffer, parser, asio::redirect_error(use_awaitable, ec));
      // A request with a body (chunked: a GET has none) is refused unread: no chunk is parsed.
      if (ec || stopped || !parser.is_done()) break;
      const auto& req = parser.get();
      ++requests;
      HttpResponse res = answer(req, body);
      stream->expires_after(opt.timeout);
      co_await http::async_write(*stream, res, asio::redirect_error(use_awaitable, ec));
      if (ec || !req.keep_alive() || stopped) break;
    }
  } catch (...) {
  }
  close(*s);
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

std::uint64_t MetricsServer::evicted() const {
  return impl_->evicted.load();
}

std::uint64_t MetricsServer::refused() const {
  return impl_->refused.load();
}

}  // namespace sandbox::observe
