// SPDX-License-Identifier: Apache-2.0
// oci_listener: see oci_listener.hpp for the threading, the limits and the trust checks.
#include <utility>  // before Asio: 1.74's awaitable.hpp uses std::exchange without it
//
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "base/fd_passing.hpp"
#include "base/log.hpp"
#include "control/server.hpp"
#include "oci/listener.hpp"
#include "target/target.hpp"

namespace sandbox {

namespace asio = boost::asio;
using stream = asio::local::stream_protocol;
using asio::awaitable;
using asio::use_awaitable;

namespace {

constexpr std::size_t kReadChunk = 64 * 1024;

// The kernel names a seccomp listener's inode "anon_inode:seccomp notify".
bool is_seccomp_listener(int fd) {
  char link[64] = {};
  const std::string path = "/proc/self/fd/" + std::to_string(fd);
  const ssize_t n = ::readlink(path.c_str(), link, sizeof link - 1);
  return n > 0 && std::string_view(link, static_cast<std::size_t>(n)) == "anon_inode:seccomp notify";
}

// Whether `pid` is `ancestor` or descends from it, by the parent links in /proc.
bool descends_from(pid_t pid, pid_t ancestor) {
  for (int depth = 0; pid > 0 && depth < 4096; ++depth) {
    if (pid == ancestor) return true;
    const auto st = target::status(pid);
    if (!st || !st->alive()) return false;
    pid = st->ppid;
  }
  return false;
}

}  // namespace

Policy container_quotas(const oci::Quotas& q, const std::optional<std::string>& policy_dir) {
  Policy out;
  if (q.policy) {
    if (!policy_dir)
      throw oci::OciError("listenerMetadata: policy=" + *q.policy +
                          ": this supervisor has no --oci-policy-dir to look it up in");
    try {
      // valid_policy_name() (checked by parse_metadata) keeps the name inside the directory.
      const Policy named = load_policy_file(*policy_dir + "/" + *q.policy + ".json");
      out.heap_quota_bytes = named.heap_quota_bytes;
      out.file_quota = named.file_quota;
      out.track = named.track;
      out.heap_rule = named.heap_rule;  // its profile (oci-profile --policy) notifies what this rule needs
    } catch (const PolicyError& e) {
      throw oci::OciError(std::string("listenerMetadata: ") + e.what());
    }
  }
  if (q.heap_quota_bytes) out.heap_quota_bytes = q.heap_quota_bytes;
  if (q.file_quota) out.file_quota = q.file_quota;
  if (q.track) out.track = true;
  return out;
}

// One connection: owned by its coroutine (and the watchdog's handler).
struct Connection {
  explicit Connection(stream::socket s, asio::io_context& io) : sock(std::move(s)), deadline(io) {}
  stream::socket sock;
  asio::steady_timer deadline;
  ucred peer{};
  std::string buf;
  oci::MessageEnd end;
  std::vector<UniqueFd> fds;
  bool too_many_fds = false;
  bool timed_out = false;
  // Ancillary space for recvmsg. Here and not in the coroutine frame: a frame does not
  // honour alignas (GCC 12), and cmsghdr must be aligned.
  alignas(cmsghdr) char cbuf[CMSG_SPACE(sizeof(int) * OciListener::kMaxFds)];
};

struct OciListener::Impl : std::enable_shared_from_this<OciListener::Impl> {
  Impl(asio::io_context& io_, Options opt_, Admit admit_)
      : io(io_), opt(std::move(opt_)), admit(std::move(admit_)), acceptor(io_) {}

  awaitable<void> accept_loop(std::shared_ptr<Impl> self);
  awaitable<void> read(std::shared_ptr<Impl> self, std::shared_ptr<Connection> c);
  void arm_deadline(const std::shared_ptr<Connection>& c);
  awaitable<bool> receive(std::shared_ptr<Connection> c);
  bool receive_some(Connection& c, bool& complete, bool& eof);
  void refuse_incomplete(const Connection& c, const std::string& who);
  void handle_logged(Connection& c, const std::string& who);
  void handle(Connection& c);
  void log(const std::string& line) const {
    if (opt.log)
      opt.log(line);
    else
      log::line(log::Level::warn, line);
  }

  asio::io_context& io;
  Options opt;
  Admit admit;
  stream::acceptor acceptor;
  std::vector<std::weak_ptr<Connection>> conns;
  std::size_t reading = 0;
  std::unordered_map<uid_t, std::size_t> reading_by_uid;
  std::atomic<std::size_t> admitted{0}, refused{0}, scanned{0}, parsed{0};
  bool started = false, stopped = false;
  dev_t sock_dev = 0;
  ino_t sock_ino = 0;
};

awaitable<void> OciListener::Impl::accept_loop(std::shared_ptr<Impl> self) {
  while (!stopped) {
    boost::system::error_code ec;
    co_await acceptor.async_wait(stream::acceptor::wait_read, asio::redirect_error(use_awaitable, ec));
    if (stopped || ec == asio::error::operation_aborted) break;
    if (reading >= opt.max_clients) {
      // Enough connections are being read: the next waits in the backlog until one ends.
      asio::steady_timer pause(io);
      pause.expires_after(std::chrono::milliseconds(20));
      co_await pause.async_wait(asio::redirect_error(use_awaitable, ec));
      continue;
    }
    const int fd = ::accept4(acceptor.native_handle(), nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK);
    if (fd < 0) continue;  // EAGAIN, ECONNABORTED, out of fds (the client retries or fails)
    UniqueFd owned(fd);
    ucred cred{};
    socklen_t len = sizeof cred;
    if (::getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0) continue;
    stream::socket sock(io);
    sock.assign(stream(), owned.release(), ec);
    if (ec) continue;
    // One uid's connections being read are bounded, so one peer's parse work is too.
    if (reading_by_uid[cred.uid] >= opt.max_per_peer) {
      ++refused;
      log("sandbox: oci-listener: runtime pid " + std::to_string(cred.pid) + ": uid " +
          std::to_string(cred.uid) + " has " + std::to_string(opt.max_per_peer) +
          " connections being read already; refused");
      continue;  // `sock` closes it
    }
    auto c = std::make_shared<Connection>(std::move(sock), io);
    c->peer = cred;
    ++reading_by_uid[cred.uid];
    std::erase_if(conns, [](const std::weak_ptr<Connection>& w) { return w.expired(); });
    conns.push_back(c);
    ++reading;
    asio::co_spawn(io, read(self, c), asio::detached);
  }
}

awaitable<void> OciListener::Impl::read(std::shared_ptr<Impl> self, std::shared_ptr<Connection> c) {
  struct Done {  // however the coroutine ends, it stops being counted
    Impl& impl;
    uid_t uid;
    ~Done() {
      --impl.reading;
      if (--impl.reading_by_uid[uid] == 0) impl.reading_by_uid.erase(uid);
    }
  } done{*self, c->peer.uid};
  arm_deadline(c);
  const bool complete = co_await receive(c);
  c->deadline.cancel();
  if (stopped) co_return;
  const std::string who = "sandbox: oci-listener: runtime pid " + std::to_string(c->peer.pid) + ": ";
  if (!complete) {
    refuse_incomplete(*c, who);
    co_return;
  }
  handle_logged(*c, who);
  boost::system::error_code ignored;
  c->sock.close(ignored);
}

// The watchdog: a connection without a complete message within the timeout is closed,
// which wakes its reader.
void OciListener::Impl::arm_deadline(const std::shared_ptr<Connection>& c) {
  std::weak_ptr<Connection> weak = c;
  c->deadline.expires_after(opt.timeout);
  c->deadline.async_wait([weak](const boost::system::error_code& ec) {
    auto conn = weak.lock();
    if (ec || !conn) return;
    conn->timed_out = true;
    boost::system::error_code ignored;
    conn->sock.close(ignored);  // wakes the reader
  });
}

// Reads until the message is complete, the peer closes, or reading stops (an error, too
// long, the deadline, stop()); whether the message is complete.
awaitable<bool> OciListener::Impl::receive(std::shared_ptr<Connection> c) {
  bool complete = false, eof = false;
  try {
    while (!stopped && !complete && !eof) {
      boost::system::error_code ec;
      co_await c->sock.async_wait(stream::socket::wait_read, asio::redirect_error(use_awaitable, ec));
      if (ec || stopped || !c->sock.is_open()) break;
      if (!receive_some(*c, complete, eof)) break;
    }
  } catch (...) {
  }
  co_return complete;
}

// One recvmsg of what is ready: the bytes appended, the fds kept (at most kMaxFds). False:
// stop reading (an error, or the message too long).
bool OciListener::Impl::receive_some(Connection& c, bool& complete, bool& eof) {
  const std::size_t old = c.buf.size();
  c.buf.resize(old + kReadChunk);
  iovec iov{c.buf.data() + old, kReadChunk};
  msghdr mh{};
  mh.msg_iov = &iov;
  mh.msg_iovlen = 1;
  mh.msg_control = c.cbuf;
  mh.msg_controllen = sizeof c.cbuf;
  const ssize_t n = ::recvmsg(c.sock.native_handle(), &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
  const int err = errno;
  c.buf.resize(old + static_cast<std::size_t>(n > 0 ? n : 0));
  if (n < 0) return err == EAGAIN || err == EWOULDBLOCK || err == EINTR;
  // MSG_CTRUNC: the kernel closed the excess.
  if (take_received_fds(mh, [&](UniqueFd owned) {
        if (c.fds.size() < kMaxFds)
          c.fds.push_back(std::move(owned));
        else
          c.too_many_fds = true;
      }))
    c.too_many_fds = true;
  if (c.buf.size() > oci::kMaxStateBytes) return false;
  eof = n == 0;
  // A runtime sends the state in one sendmsg and does not always close at once: the
  // message ends where its JSON does. Only the new bytes are looked at.
  scanned += static_cast<std::size_t>(n);
  complete = c.end.feed(std::string_view(c.buf).substr(old));
  return true;
}

// Why a connection gave no complete message, logged; it counts as refused.
void OciListener::Impl::refuse_incomplete(const Connection& c, const std::string& who) {
  ++refused;
  if (c.buf.size() > oci::kMaxStateBytes)
    log(who + "message longer than " + std::to_string(oci::kMaxStateBytes) + " bytes; refused");
  else if (c.timed_out)
    log(who + "no complete message within " + std::to_string(opt.timeout.count()) + " ms; dropped");
  else if (c.buf.empty())
    log(who + "closed the connection without a message");
  else
    log(who + "containerProcessState: not valid JSON (message ended before its JSON did)");
}

// The message handled; a refusal (or an internal error) logged and counted.
void OciListener::Impl::handle_logged(Connection& c, const std::string& who) {
  try {
    handle(c);
  } catch (const oci::OciError& e) {
    ++refused;
    log(who + e.what());
  } catch (const std::exception& e) {
    ++refused;
    log(who + "internal error: " + e.what());
  }
}

void OciListener::Impl::handle(Connection& c) {
  ++parsed;  // the one parse of this connection's message
  const oci::Message m = oci::read_message(c.buf, c.fds.size(), c.too_many_fds);
  const oci::ProcessState& st = m.state;
  UniqueFd listener = std::move(c.fds[st.seccomp_fd]);
  c.fds.clear();  // any other fd is not ours to keep
  const std::string& id = m.id;
  const std::string what = "container '" + id + "' (pid " + std::to_string(st.pid) + "): ";
  if (!is_seccomp_listener(listener.get()))
    throw oci::OciError(what + "the \"seccompFd\" fd is not a seccomp listener");
  const oci::Quotas& asked = m.quotas;
  Policy quotas;
  try {
    quotas = container_quotas(asked, opt.policy_dir);
  } catch (const oci::OciError& e) {
    throw oci::OciError(what + e.what());
  }
  // The pidfd first, then the ancestry: if the pid is reused between the two, the pidfd
  // shows the exit and the container is refused (checked below, after the walk).
  UniqueFd pidfd(target::pidfd_open(st.pid, false));
  if (!pidfd) throw oci::OciError(what + "no such process");
  if (!descends_from(st.pid, c.peer.pid))
    throw oci::OciError(what + "not the runtime (pid " + std::to_string(c.peer.pid) +
                        ") nor one of its descendants; refused");
  if (target::pidfd_exited(pidfd.get())) throw oci::OciError(what + "exited before it could be served");
  Container container{std::move(listener), st.pid, id, quotas};
  const OpResult r = admit(container);
  if (!r.ok()) throw oci::OciError(what + r.message);
  ++admitted;
  if (opt.verbose) {
    oci::Quotas shown;
    shown.heap_quota_bytes = quotas.heap_quota_bytes;
    shown.file_quota = quotas.file_quota;
    shown.track = quotas.track;
    const std::string q = oci::format_metadata(shown);
    log("sandbox: oci-listener: " + what + "served" + (q.empty() ? "" : ", " + q));
  }
}

OciListener::OciListener(asio::io_context& io, Options options, Admit admit)
    : impl_(std::make_shared<Impl>(io, std::move(options), std::move(admit))) {}

OciListener::~OciListener() {
  stop();
}

void OciListener::start() {
  if (impl_->started) throw std::runtime_error(impl_->opt.path + ": OCI listener already started");
  UniqueFd fd = bind_unix_listener(impl_->opt.path, impl_->opt.mode, impl_->sock_dev, impl_->sock_ino);
  boost::system::error_code ec;
  impl_->acceptor.assign(stream(), fd.get(), ec);
  if (ec) {
    ::unlink(impl_->opt.path.c_str());
    throw std::runtime_error(impl_->opt.path + ": " + ec.message());
  }
  fd.release();
  impl_->started = true;
  asio::co_spawn(impl_->io, impl_->accept_loop(impl_), asio::detached);
}

void OciListener::stop() {
  Impl& m = *impl_;
  if (m.stopped) return;
  m.stopped = true;
  boost::system::error_code ignored;
  m.acceptor.close(ignored);
  for (auto& w : m.conns)
    if (auto c = w.lock()) {
      c->deadline.cancel();
      c->sock.close(ignored);
    }
  m.conns.clear();
  if (m.started) {
    struct stat st {};
    if (::lstat(m.opt.path.c_str(), &st) == 0 && st.st_dev == m.sock_dev && st.st_ino == m.sock_ino)
      ::unlink(m.opt.path.c_str());
  }
}

std::size_t OciListener::admitted() const {
  return impl_->admitted.load();
}

std::size_t OciListener::refused() const {
  return impl_->refused.load();
}

std::size_t OciListener::scanned() const {
  return impl_->scanned.load();
}

std::size_t OciListener::parsed() const {
  return impl_->parsed.load();
}

}  // namespace sandbox
