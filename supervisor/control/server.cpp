// SPDX-License-Identifier: Apache-2.0
// server: the control socket's sessions (see server.hpp for the threading and the limits).
//
// Boost.Asio 1.74 with C++20 coroutines: the accept loop, and per session a reader, a
// writer and a watchdog coroutine. Reads go through recvmsg() on the native handle, since
// Asio cannot receive SCM_RIGHTS; accepts go through accept4() so client sockets are
// close-on-exec (the supervisor starts targets; they must not inherit control sockets).
#include <utility>  // before Asio: 1.74's awaitable.hpp uses std::exchange without it
//
#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <cerrno>
#include <cstring>
#include <deque>
#include <fstream>
#include <functional>
#include <optional>
#include <stdexcept>
#include <unordered_map>
#include <variant>
#include <vector>

#include "base/fd_passing.hpp"
#include "base/proc.hpp"
#include "base/unique_fd.hpp"
#include "control/protocol.hpp"
#include "control/server.hpp"

namespace sandbox {

namespace asio = boost::asio;
using stream = asio::local::stream_protocol;
using asio::awaitable;
using asio::use_awaitable;
using Clock = std::chrono::steady_clock;

namespace {

constexpr std::size_t kReadChunk = 16 * 1024;
constexpr std::size_t kWriteBatch = 64 * 1024;
constexpr std::size_t kFdsPerRecv = 16;  // ancillary space per recvmsg; the kernel closes any excess

std::string errno_text(int err) {
  return std::strerror(err);
}

#ifndef SO_PEERPIDFD
#define SO_PEERPIDFD 77
#endif

// A pidfd for the process that connected: SO_PEERPIDFD (Linux 6.5) pins the very process
// SO_PEERCRED names. Older kernels: pidfd_open() of the pid, which names the peer unless it
// exited and its pid was reused between connect() and now (a window of one accept; the
// Control decides what to trust, see Supervisor::identify). -1 if neither works.
int peer_pidfd(int sock, pid_t pid) {
  int fd = -1;
  socklen_t len = sizeof fd;
  if (::getsockopt(sock, SOL_SOCKET, SO_PEERPIDFD, &fd, &len) == 0) return fd;
  if (errno != ENOPROTOOPT || pid <= 0) return -1;
  const long r = ::syscall(SYS_pidfd_open, pid, 0);
  return r < 0 ? -1 : static_cast<int>(r);
}

}  // namespace

class Session;

struct Server::Impl {
  Impl(asio::io_context& io_, Control& control_, Options opt_)
      : io(io_), control(control_), opt(std::move(opt_)), acceptor(io_), retry(io_), signals(io_) {}

  awaitable<void> accept_loop(std::shared_ptr<Impl> self);
  void bind_socket();
  void do_stop();

  asio::io_context& io;
  Control& control;
  Options opt;
  stream::acceptor acceptor;
  asio::steady_timer retry;  // backs off accept() when out of descriptors
  asio::signal_set signals;
  std::vector<std::weak_ptr<Session>> sessions;
  std::atomic<std::size_t> live{0};
  // Open sessions per uid (io thread only), for Options::max_per_uid.
  std::unordered_map<uid_t, std::size_t> per_uid;
  bool started = false;
  bool stopped = false;
  dev_t sock_dev = 0;  // the socket file we bound, to remove it only if it is still ours
  ino_t sock_ino = 0;
};

// One client. Owned by its coroutines (each holds a shared_ptr); closed by close(), which
// the server's stop() also calls.
class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(std::shared_ptr<Server::Impl> srv, stream::socket sock, Caller caller, UniqueFd peer)
      : srv_(std::move(srv)),
        sock_(std::move(sock)),
        caller_(caller),
        peer_(std::move(peer)),
        wake_writer_(srv_->io),
        watchdog_(srv_->io) {
    srv_->live.fetch_add(1);
    ++srv_->per_uid[caller_.uid];
  }
  ~Session() {
    // Normally close() ran; this is for sessions destroyed with the io_context.
    if (sub_) srv_->control.unsubscribe(*sub_);
    if (!closed_) srv_->live.fetch_sub(1), leave_uid();
  }

  void start() {
    auto self = shared_from_this();
    asio::co_spawn(srv_->io, reader(self), asio::detached);
    asio::co_spawn(srv_->io, writer(self), asio::detached);
    asio::co_spawn(srv_->io, watchdog(self), asio::detached);
  }

  void leave_uid() {
    if (const auto it = srv_->per_uid.find(caller_.uid); it != srv_->per_uid.end() && --it->second == 0)
      srv_->per_uid.erase(it);
  }

  // Drops the client now: unsent output is discarded.
  void close() {
    if (closed_) return;
    closed_ = true;
    srv_->live.fetch_sub(1);
    leave_uid();
    if (sub_) srv_->control.unsubscribe(*std::exchange(sub_, std::nullopt));
    boost::system::error_code ignored;
    sock_.close(ignored);
    wake_writer_.cancel();
    watchdog_.cancel();
    fds_.clear();
    outq_.clear();
  }

  // The server is stopping: a watcher is told the stream ends ({"event":"end"}), queued
  // answers are flushed, then the session closes -- within a short grace for a client that
  // does not read.
  void end(std::string_view reason) {
    if (closed_) return;
    if (sub_) {
      srv_->control.unsubscribe(*std::exchange(sub_, std::nullopt));
      enqueue(protocol::end_line(reason));
    }
    close_after_flush();
    set_deadline(Clock::now() + std::chrono::seconds(2));
  }

 private:
  struct HeldFd {
    std::uint64_t pos;  // stream offset of the first byte received with it
    UniqueFd fd;
  };

  awaitable<void> reader(std::shared_ptr<Session> self);
  awaitable<void> writer(std::shared_ptr<Session> self);
  awaitable<void> watchdog(std::shared_ptr<Session> self);
  void take_fds(msghdr& mh, std::uint64_t pos);
  void handle_line(std::string_view line, std::uint64_t end_pos);
  // Session::dispatch: a table keyed by operation, one method each (its answer line).
  void dispatch(const protocol::Request& r, std::vector<UniqueFd>& fds);
  std::string op_register(const protocol::Request& r, std::vector<UniqueFd>& fds);
  std::string op_deregister(const protocol::Request& r, std::vector<UniqueFd>& fds);
  std::string op_reset(const protocol::Request& r, std::vector<UniqueFd>& fds);
  std::string op_cap(const protocol::Request& r, std::vector<UniqueFd>& fds);
  std::string op_fetch(const protocol::Request& r, std::vector<UniqueFd>& fds);
  std::string op_list(const protocol::Request& r, std::vector<UniqueFd>& fds);
  std::string op_version(const protocol::Request& r, std::vector<UniqueFd>& fds);
  std::string op_watch(const protocol::Request& r, std::vector<UniqueFd>& fds);
  std::string op_metrics(const protocol::Request& r, std::vector<UniqueFd>& fds);
  std::string op_filter(const protocol::Request& r, std::vector<UniqueFd>& fds);
  std::string op_delegate(const protocol::Request& r, std::vector<UniqueFd>& fds);
  std::string op_join(const protocol::Request& r, std::vector<UniqueFd>& fds);
  void enqueue(std::string line);
  void close_after_flush();
  void set_deadline(Clock::time_point t) {
    deadline_ = t;
    watchdog_.cancel();
  }

  std::shared_ptr<Server::Impl> srv_;
  stream::socket sock_;
  Caller caller_;
  UniqueFd peer_;  // pidfd of the process that connected (-1: none): membership is re-checked
  std::string inbuf_;
  std::uint64_t inbuf_pos_ = 0;  // stream offset of inbuf_[0]
  std::deque<HeldFd> fds_;
  std::deque<std::string> outq_;
  std::size_t out_bytes_ = 0;  // queued plus in flight
  asio::steady_timer wake_writer_;
  asio::steady_timer watchdog_;
  Clock::time_point deadline_ = Clock::time_point::max();
  std::optional<std::uint64_t> sub_;
  bool closed_ = false;
  bool closing_ = false;  // no more reading; close once the queue is flushed
  // Ancillary space for recvmsg. A member, not a local of reader(): a coroutine frame does
  // not honour alignas (GCC 12), and cmsghdr must be aligned.
  alignas(cmsghdr) char cbuf_[CMSG_SPACE(sizeof(int) * kFdsPerRecv)];
};

awaitable<void> Session::reader([[maybe_unused]] std::shared_ptr<Session> self) {
  try {
    while (!closed_ && !closing_) {
      boost::system::error_code ec;
      co_await sock_.async_wait(stream::socket::wait_read, asio::redirect_error(use_awaitable, ec));
      if (ec || closed_ || closing_) break;
      const std::size_t old = inbuf_.size();
      inbuf_.resize(old + kReadChunk);
      iovec iov{inbuf_.data() + old, kReadChunk};
      msghdr mh{};
      mh.msg_iov = &iov;
      mh.msg_iovlen = 1;
      mh.msg_control = cbuf_;
      mh.msg_controllen = sizeof cbuf_;
      const ssize_t n = ::recvmsg(sock_.native_handle(), &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
      const int err = errno;
      inbuf_.resize(old + static_cast<std::size_t>(n > 0 ? n : 0));
      if (n < 0) {
        if (err == EAGAIN || err == EWOULDBLOCK || err == EINTR) continue;
        close();
        break;
      }
      take_fds(mh, inbuf_pos_ + old);
      if (closing_ || closed_) break;
      const bool was_partial = old > 0;
      bool completed = false;
      std::size_t start = 0;
      // Bytes before `old` hold no '\n': each search starts where the last one ended.
      for (std::size_t scan = old, nl; !closing_ && (nl = inbuf_.find('\n', scan)) != std::string::npos;) {
        scan = nl + 1;
        completed = true;
        const std::string_view line(inbuf_.data() + start, nl - start);
        if (line.size() > srv_->opt.max_line) {
          enqueue(protocol::error_response(
              "", E2BIG,
              "request line longer than " + std::to_string(srv_->opt.max_line) + " bytes; closing"));
          close_after_flush();
          break;
        }
        handle_line(line, inbuf_pos_ + nl);
        start = nl + 1;
      }
      if (closed_ || closing_) break;
      inbuf_.erase(0, start);
      inbuf_pos_ += start;
      if (n == 0) {
        // End of the client's writes: a last line without '\n' still counts, then the
        // answers are flushed and the session ends.
        if (!inbuf_.empty() && inbuf_.size() <= srv_->opt.max_line) {
          handle_line(inbuf_, inbuf_pos_ + inbuf_.size());
        }
        close_after_flush();
        break;
      }
      if (inbuf_.size() > srv_->opt.max_line) {
        enqueue(protocol::error_response(
            "", E2BIG, "request line longer than " + std::to_string(srv_->opt.max_line) + " bytes; closing"));
        close_after_flush();
        break;
      }
      if (inbuf_.empty()) {
        set_deadline(Clock::time_point::max());
      } else if (completed || !was_partial) {
        set_deadline(Clock::now() + srv_->opt.line_timeout);  // a new line has begun
      }
    }
  } catch (...) {
    close();
  }
}

// Collects SCM_RIGHTS descriptors, remembering where in the stream they arrived; the line
// that holds that position may claim them (join), any other line closes them.
void Session::take_fds(msghdr& mh, std::uint64_t pos) {
  bool overflow = false;
  if (take_received_fds(mh, [&](UniqueFd owned) {
        if (fds_.size() >= srv_->opt.max_fds) {
          overflow = true;  // `owned` closes it
          return;
        }
        fds_.push_back({pos, std::move(owned)});
      }))
    overflow = true;
  if (overflow) {
    // MSG_CTRUNC with room left in the session: the kernel could not install a descriptor
    // here -- the server, not the client, is out of them. Say which.
    const bool ours = fds_.size() < srv_->opt.max_fds && (mh.msg_flags & MSG_CTRUNC) != 0;
    fds_.clear();
    enqueue(protocol::error_response(
        "", EMFILE,
        ours
            ? "the supervisor is out of file descriptors (RLIMIT_NOFILE); a descriptor sent was lost; closing"
            : "too many file descriptors sent (at most " + std::to_string(srv_->opt.max_fds) +
                  " per session); closing"));
    close_after_flush();
  }
}

void Session::handle_line(std::string_view line, std::uint64_t end_pos) {
  // The descriptors that came with this line (or before it): claimed by join, else closed.
  std::vector<UniqueFd> fds;
  while (!fds_.empty() && fds_.front().pos <= end_pos) {
    fds.push_back(std::move(fds_.front().fd));
    fds_.pop_front();
  }
  if (line.find_first_not_of(" \t\r") == std::string_view::npos) return;  // blank: no request
  auto parsed = protocol::parse_request(line, srv_->opt.max_line);
  if (auto* e = std::get_if<protocol::ProtocolError>(&parsed)) {
    enqueue(protocol::error_response(*e));
    return;
  }
  const auto& r = std::get<protocol::Request>(parsed);
  try {
    // Membership from what the kernel says now (Caller): a peer that has become a known
    // process of a job since its last request is judged as one from this request on.
    srv_->control.reclassify(caller_, peer_.get());
    dispatch(r, fds);
  } catch (const std::exception& ex) {
    enqueue(protocol::error_response(r.id, EIO, std::string("internal error: ") + ex.what()));
  } catch (...) {
    enqueue(protocol::error_response(r.id, EIO, "internal error"));
  }
}

namespace {

std::string answer(const protocol::Request& r, const OpResult& res) {
  return res.ok() ? protocol::ok_response(r.id) : protocol::error_response(r.id, res.err, res.message);
}

// `line` when the operation succeeded, else its error.
std::string answer(const protocol::Request& r, const OpResult& res,
                   const std::function<std::string()>& line) {
  return res.ok() ? line() : protocol::error_response(r.id, res.err, res.message);
}

}  // namespace

void Session::dispatch(const protocol::Request& r, std::vector<UniqueFd>& fds) {
  // One method per operation, each returning its answer line (empty: already answered).
  using Handler = std::string (Session::*)(const protocol::Request&, std::vector<UniqueFd>&);
  struct Row {
    protocol::Op op;
    Handler handle;
  };
  using protocol::Op;
  static constexpr Row kTable[] = {
      {Op::register_node, &Session::op_register},
      {Op::deregister, &Session::op_deregister},
      {Op::resource_reset, &Session::op_reset},
      {Op::resource_cap, &Session::op_cap},
      {Op::fetch, &Session::op_fetch},
      {Op::list, &Session::op_list},
      {Op::version, &Session::op_version},
      {Op::watch, &Session::op_watch},
      {Op::metrics, &Session::op_metrics},
      {Op::filter, &Session::op_filter},
      {Op::delegate, &Session::op_delegate},
      {Op::join, &Session::op_join},
  };
  for (const Row& row : kTable)
    if (row.op == r.op) {
      if (std::string line = (this->*row.handle)(r, fds); !line.empty()) enqueue(std::move(line));
      return;
    }
  enqueue(protocol::error_response(r.id, EINVAL, "unknown operation"));  // not reached: parsed ops only
}

std::string Session::op_register(const protocol::Request& r, std::vector<UniqueFd>&) {
  return answer(r, srv_->control.register_node(caller_, r.pid));
}

std::string Session::op_deregister(const protocol::Request& r, std::vector<UniqueFd>&) {
  return answer(r, srv_->control.deregister(caller_, r.pid));
}

std::string Session::op_reset(const protocol::Request& r, std::vector<UniqueFd>&) {
  Control& control = srv_->control;
  return answer(r, r.job ? control.reset_job(caller_, *r.job) : control.resource_reset(caller_, r.pid));
}

std::string Session::op_cap(const protocol::Request& r, std::vector<UniqueFd>&) {
  Control& control = srv_->control;
  if (r.replace || r.job) {
    const auto heap_quota = protocol::join_heap_bytes(r);
    const auto file_quota = protocol::join_file_quota(r);
    if (!heap_quota.ok() || !file_quota.ok())
      return protocol::error_response(r.id, EINVAL, "a quota below -1");
    const std::optional<std::uint64_t> heap = *heap_quota, files = *file_quota;
    if (!r.replace) return answer(r, control.cap_job(caller_, *r.job, heap, files));
    return answer(r, r.job ? control.replace_job(caller_, *r.job, heap, files)
                           : control.replace_cap(caller_, r.pid, heap, files));
  }
  if (r.heap_quota_bytes)
    return answer(r,
                  control.resource_cap_bytes(caller_, r.pid, *r.heap_quota_bytes, r.file_quota.value_or(-1)));
  return answer(r,
                control.resource_cap(caller_, r.pid, r.heap_quota.value_or(-1), r.file_quota.value_or(-1)));
}

std::string Session::op_fetch(const protocol::Request& r, std::vector<UniqueFd>&) {
  Control& control = srv_->control;
  if (r.job) {
    JobView v;
    std::vector<ProcessRecord> records;
    OpResult res = control.fetch_job(caller_, *r.job, v);
    if (res.ok() && r.records) res = control.job_records(caller_, *r.job, records);
    return answer(r, res, [&] { return protocol::job_response(r.id, v, r.records ? &records : nullptr); });
  }
  Node n;
  const OpResult res = control.fetch(caller_, r.pid, n);
  return answer(r, res, [&] { return protocol::fetch_response(r.id, n); });
}

std::string Session::op_list(const protocol::Request& r, std::vector<UniqueFd>&) {
  return protocol::list_response(r.id, srv_->control.list(caller_), srv_->control.list_jobs(caller_));
}

std::string Session::op_version(const protocol::Request& r, std::vector<UniqueFd>&) {
  return protocol::version_response(r.id, srv_->opt.version);
}

std::string Session::op_watch(const protocol::Request& r, std::vector<UniqueFd>&) {
  // The answer goes first; events follow it. The callback runs on the notify thread
  // with the supervisor's lock held: it only posts a copy to our io thread.
  enqueue(protocol::ok_response(r.id));
  if (!sub_) {
    std::weak_ptr<Session> weak = weak_from_this();
    auto ex = sock_.get_executor();
    WatchFilter f;
    f.pid = r.pid;
    f.job = r.job.value_or(0);
    f.kinds = r.kinds;
    sub_ = srv_->control.subscribe(caller_, f, [weak, ex](const Event& e) {
      asio::post(ex, [weak, e] {
        if (auto s = weak.lock()) s->enqueue(protocol::event_line(e));
      });
    });
  }
  return {};
}

std::string Session::op_metrics(const protocol::Request& r, std::vector<UniqueFd>&) {
  std::string text;
  const OpResult res = srv_->control.metrics(caller_, r.openmetrics, text);
  return answer(r, res, [&] { return protocol::metrics_response(r.id, r.openmetrics, text); });
}

std::string Session::op_filter(const protocol::Request& r, std::vector<UniqueFd>&) {
  Control& control = srv_->control;
  const auto program = r.heap_rule ? control.filter_program_for(*r.heap_rule) : control.filter_program();
  if (program.empty())
    return protocol::error_response(r.id, EOPNOTSUPP, "this supervisor takes no joining targets");
  return protocol::filter_response(r.id, program);
}

std::string Session::op_delegate(const protocol::Request& r, std::vector<UniqueFd>&) {
  DelegateRequest dr;
  dr.pid = r.pid;
  dr.track = r.track;
  dr.scope = r.scope;
  dr.history = r.records;
  const auto heap_quota = protocol::join_heap_bytes(r);
  const auto file_quota = protocol::join_file_quota(r);
  if (!heap_quota.ok() || !file_quota.ok()) return protocol::error_response(r.id, EINVAL, "a quota below -1");
  dr.heap_quota_bytes = *heap_quota, dr.file_quota = *file_quota;
  JobView v;
  const OpResult res = srv_->control.delegate(caller_, dr, v);
  return answer(r, res, [&] { return protocol::job_response(r.id, v); });
}

std::string Session::op_join(const protocol::Request& r, std::vector<UniqueFd>& fds) {
  JoinRequest jr;
  jr.pid = r.pid;
  jr.track = r.track;
  jr.scope = r.scope;
  jr.heap_rule = r.heap_rule;
  const auto heap_quota = protocol::join_heap_bytes(r);
  if (!heap_quota.ok()) return protocol::error_response(r.id, heap_quota.error(), heap_quota.message());
  const auto file_quota = protocol::join_file_quota(r);
  if (!file_quota.ok()) return protocol::error_response(r.id, file_quota.error(), file_quota.message());
  jr.heap_quota_bytes = *heap_quota, jr.file_quota = *file_quota;
  if (fds.size() != 1)
    return protocol::error_response(
        r.id, EBADF,
        fds.empty() ? "join: no listener fd came with the request (send it with SCM_RIGHTS)"
                    : "join: expected one listener fd with the request, got " + std::to_string(fds.size()));
  jr.listener_fd = fds.front().release();  // ownership passes to join()
  const OpResult res = srv_->control.join(caller_, std::move(jr));
  return answer(r, res, [&] { return protocol::join_response(r.id, res.job); });
}

void Session::enqueue(std::string line) {
  if (closed_) return;
  out_bytes_ += line.size();
  outq_.push_back(std::move(line));
  if (out_bytes_ > srv_->opt.max_queue) {
    close();  // never reads: dropped rather than let it hold memory or the server
    return;
  }
  wake_writer_.cancel();
}

void Session::close_after_flush() {
  if (closing_ || closed_) return;
  closing_ = true;
  fds_.clear();
  // A client that does not read its last answers is dropped after line_timeout.
  set_deadline(Clock::now() + srv_->opt.line_timeout);
  wake_writer_.cancel();
}

awaitable<void> Session::writer([[maybe_unused]] std::shared_ptr<Session> self) {
  try {
    std::string batch;
    while (!closed_) {
      if (outq_.empty()) {
        if (closing_) {
          close();
          break;
        }
        boost::system::error_code ec;
        wake_writer_.expires_at(Clock::time_point::max());
        co_await wake_writer_.async_wait(asio::redirect_error(use_awaitable, ec));
        continue;
      }
      batch.clear();
      while (!outq_.empty() && batch.size() < kWriteBatch) {
        batch += outq_.front();
        outq_.pop_front();
      }
      boost::system::error_code ec;
      co_await asio::async_write(sock_, asio::buffer(batch), asio::redirect_error(use_awaitable, ec));
      if (ec || closed_) {
        close();
        break;
      }
      out_bytes_ -= batch.size();
    }
  } catch (...) {
    close();
  }
}

awaitable<void> Session::watchdog([[maybe_unused]] std::shared_ptr<Session> self) {
  try {
    while (!closed_) {
      boost::system::error_code ec;
      watchdog_.expires_at(deadline_);
      co_await watchdog_.async_wait(asio::redirect_error(use_awaitable, ec));
      if (closed_) break;
      if (Clock::now() < deadline_) continue;  // re-armed or cancelled: wait for the new deadline
      if (!closing_ && outq_.empty()) {
        // Best effort, never blocking: tell the client why before hanging up.
        const std::string msg =
            protocol::error_response("", ETIMEDOUT, "request line not finished in time; closing");
        [[maybe_unused]] const ssize_t sent =
            ::send(sock_.native_handle(), msg.data(), msg.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
      }
      close();
    }
  } catch (...) {
    close();
  }
}

namespace {

// Makes `dir` (mode 0700) if it is missing, then checks that no other user can write it:
// a real directory (lstat: a symlink planted under the name is refused), owned by us or
// root, without group or other write permission. A directory someone else made first, or
// made writable, is refused: its owner could bind or replace our socket's name.
void check_private_dir(const std::string& dir) {
  if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST)
    throw std::runtime_error(dir + ": cannot make the socket directory: " + errno_text(errno));
  struct stat st {};
  if (::lstat(dir.c_str(), &st) != 0) throw std::runtime_error(dir + ": " + errno_text(errno));
  const std::string advice = "; remove it, or choose --socket PATH or XDG_RUNTIME_DIR";
  if (!S_ISDIR(st.st_mode)) throw std::runtime_error(dir + ": not a directory (a symlink?)" + advice);
  if (st.st_uid != ::geteuid() && st.st_uid != 0)
    throw std::runtime_error(dir + ": owned by uid " + std::to_string(st.st_uid) + ", not by you" + advice);
  if (st.st_mode & (S_IWGRP | S_IWOTH)) throw std::runtime_error(dir + ": writable by other users" + advice);
}

}  // namespace

UniqueFd bind_unix_listener(const std::string& path, mode_t mode, dev_t& sock_dev, ino_t& sock_ino) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.empty() || path.size() >= sizeof addr.sun_path) {
    throw std::runtime_error(path + ": socket path empty or too long (at most " +
                             std::to_string(sizeof addr.sun_path - 1) + " bytes)");
  }
  std::memcpy(addr.sun_path, path.data(), path.size());
  const auto len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + path.size() + 1);

  struct stat st {};
  if (::lstat(path.c_str(), &st) == 0) {
    if (!S_ISSOCK(st.st_mode)) throw std::runtime_error(path + ": exists and is not a socket");
    UniqueFd probe(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    if (!probe) throw std::runtime_error("socket(AF_UNIX): " + errno_text(errno));
    if (::connect(probe.get(), reinterpret_cast<const sockaddr*>(&addr), len) == 0) {
      throw std::runtime_error(path + ": a server is already listening on this socket");
    }
    const int err = errno;
    if (err != ECONNREFUSED)
      throw std::runtime_error(path + ": cannot check the existing socket: " + errno_text(err));
    // Stale: its server is gone. Replace it.
    if (::unlink(path.c_str()) != 0 && errno != ENOENT) {
      throw std::runtime_error(path + ": cannot remove the stale socket: " + errno_text(errno));
    }
  } else if (errno != ENOENT) {
    throw std::runtime_error(path + ": " + errno_text(errno));
  }

  UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  if (!fd) throw std::runtime_error("socket(AF_UNIX): " + errno_text(errno));
  // The socket inode's mode is what bind() gives the file (less the umask), so the file
  // never exists with a wider mode than asked for; the chmod below undoes the umask.
  ::fchmod(fd.get(), mode);
  if (::bind(fd.get(), reinterpret_cast<const sockaddr*>(&addr), len) != 0) {
    throw std::runtime_error(path + ": bind: " + errno_text(errno));
  }
  struct stat bound {};
  if (::stat(path.c_str(), &bound) != 0) throw std::runtime_error(path + ": " + errno_text(errno));
  sock_dev = bound.st_dev;
  sock_ino = bound.st_ino;
  // Nobody can connect before listen(), so the mode is final before the first client.
  if ((bound.st_mode & 07777) != mode && ::chmod(path.c_str(), mode) != 0) {
    const int err = errno;
    ::unlink(path.c_str());
    throw std::runtime_error(path + ": chmod: " + errno_text(err));
  }
  if (::listen(fd.get(), SOMAXCONN) != 0) {
    const int err = errno;
    ::unlink(path.c_str());
    throw std::runtime_error(path + ": listen: " + errno_text(err));
  }
  return fd;
}

void Server::Impl::bind_socket() {
  if (opt.private_dir) {
    const auto slash = opt.path.rfind('/');
    check_private_dir(slash == std::string::npos ? "." : slash == 0 ? "/" : opt.path.substr(0, slash));
  }
  UniqueFd fd = bind_unix_listener(opt.path, opt.mode, sock_dev, sock_ino);
  boost::system::error_code ec;
  acceptor.assign(stream(), fd.get(), ec);
  if (ec) {
    ::unlink(opt.path.c_str());
    throw std::runtime_error(opt.path + ": " + ec.message());
  }
  fd.release();
}

awaitable<void> Server::Impl::accept_loop(std::shared_ptr<Impl> self) {
  while (!stopped) {
    boost::system::error_code ec;
    co_await acceptor.async_wait(stream::acceptor::wait_read, asio::redirect_error(use_awaitable, ec));
    if (stopped || ec == asio::error::operation_aborted) break;
    int fd = ::accept4(acceptor.native_handle(), nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK);
    if (fd < 0) {
      const int err = errno;
      if (err == EMFILE || err == ENFILE || err == ENOBUFS || err == ENOMEM) {
        // Out of descriptors: the client waits in the backlog; try again shortly.
        retry.expires_after(std::chrono::milliseconds(50));
        co_await retry.async_wait(asio::redirect_error(use_awaitable, ec));
      }
      continue;  // EAGAIN, ECONNABORTED, ...
    }
    UniqueFd owned(fd);
    // Who is asking: the kernel's record of the peer at connect() time. The Control
    // decides from it what the client may do.
    ucred cred{};
    socklen_t cred_len = sizeof cred;
    if (::getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &cred_len) != 0) continue;
    UniqueFd peer(peer_pidfd(fd, cred.pid));
    const Caller caller = control.identify(cred, peer.get());
    // A bound per tenant: one uid's connections (each bounded in memory and time) cannot fill
    // the server's descriptors for every other uid. Root outside is the operator: not bounded.
    if (!(caller.uid == 0 && !caller.inside)) {
      const auto it = per_uid.find(cred.uid);
      if (it != per_uid.end() && it->second >= opt.max_per_uid) {
        const std::string line = protocol::error_response(
            "", EMFILE,
            "uid " + std::to_string(cred.uid) + " already holds " + std::to_string(it->second) +
                " connections to this server, its limit: close some first");
        (void)!::send(owned.get(), line.data(), line.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
        continue;  // closes it
      }
    }
    stream::socket sock(io);
    sock.assign(stream(), owned.release(), ec);
    if (ec) continue;
    // The pidfd stays with the session: each request re-checks membership through it.
    auto session = std::make_shared<Session>(self, std::move(sock), caller, std::move(peer));
    if (sessions.size() >= 64 && sessions.size() % 64 == 0) {
      std::erase_if(sessions, [](const std::weak_ptr<Session>& w) { return w.expired(); });
    }
    sessions.push_back(session);
    session->start();
  }
}

void Server::Impl::do_stop() {
  if (stopped) return;
  stopped = true;
  boost::system::error_code ignored;
  acceptor.close(ignored);
  retry.cancel();
  signals.cancel(ignored);
  signals.clear(ignored);
  for (auto& w : sessions) {
    if (auto s = w.lock()) s->end("the supervisor is stopping");
  }
  sessions.clear();
  if (started && sock_ino != 0) {  // a socket file we bound (not an inherited socket)
    struct stat st {};
    if (::lstat(opt.path.c_str(), &st) == 0 && st.st_dev == sock_dev && st.st_ino == sock_ino) {
      ::unlink(opt.path.c_str());
    }
  }
}

Server::Server(asio::io_context& io, Control& control, Options options)
    : impl_(std::make_shared<Impl>(io, control, std::move(options))) {}

Server::~Server() {
  impl_->do_stop();
}

void Server::start() {
  if (impl_->started || impl_->stopped)
    throw std::runtime_error(impl_->opt.path + ": server already started");
  proc::raise_nofile_limit();  // so a thousand clients and more fit
  if (impl_->opt.listen_fd >= 0) {
    boost::system::error_code ec;
    impl_->acceptor.assign(stream(), impl_->opt.listen_fd, ec);
    if (ec)
      throw std::runtime_error("the inherited control socket (fd " + std::to_string(impl_->opt.listen_fd) +
                               "): " + ec.message());
  } else {
    impl_->bind_socket();
  }
  impl_->started = true;
  asio::co_spawn(impl_->io, impl_->accept_loop(impl_), asio::detached);
  if (impl_->opt.on_signal) {
    impl_->signals.add(SIGTERM);
    impl_->signals.add(SIGINT);
    std::weak_ptr<Impl> weak = impl_;
    impl_->signals.async_wait([weak](const boost::system::error_code& ec, int signo) {
      auto self = weak.lock();
      if (ec || !self || self->stopped) return;
      self->opt.on_signal(signo);
      self->do_stop();
    });
  }
}

void Server::stop() {
  if (impl_->io.get_executor().running_in_this_thread()) {
    impl_->do_stop();
  } else {
    asio::post(impl_->io, [impl = impl_] { impl->do_stop(); });
  }
}

std::size_t Server::session_count() const {
  return impl_->live.load();
}

const std::string& Server::path() const {
  return impl_->opt.path;
}

}  // namespace sandbox
