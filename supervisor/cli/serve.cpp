// SPDX-License-Identifier: Apache-2.0
#include "cli/serve.hpp"

#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <functional>
#include <memory>
#include <optional>

#include "cli/events.hpp"
#include "control/server.hpp"
#include "notify/supervisor.hpp"
#include "observe/http.hpp"
#include "observe/systemd.hpp"
#include "oci/listener.hpp"
#include "policy/policy.hpp"

#ifndef SANDBOX_VERSION
#define SANDBOX_VERSION "0.0.0"
#endif

namespace sandbox {
namespace {

// Socket activation: a Unix socket passed by the service manager is the control socket, a
// TCP one the metrics endpoint (docs/observability.md); anything else is closed.
void adopt_inherited_sockets(int& control_fd, int& metrics_fd) {
  for (const auto& l : systemd::listen_fds()) {
    if (l.family == AF_UNIX && l.listening && control_fd < 0) {
      control_fd = l.fd;
    } else if ((l.family == AF_INET || l.family == AF_INET6) && l.listening && metrics_fd < 0) {
      metrics_fd = l.fd;
    } else {
      std::fprintf(stderr, "sandbox: ignoring inherited fd %d (%s): not a listening Unix or TCP socket\n",
                   l.fd, l.name.c_str());
      ::close(l.fd);
    }
  }
}

// Where it listens (unless -q): what ctl and sandbox-shim need.
void announce(const ServeOptions& options, int control_fd) {
  if (control_fd >= 0)
    std::fprintf(stderr, "sandbox: serving the control socket from socket activation (LISTEN_FDS)\n");
  else
    std::fprintf(stderr, "sandbox: serving %s (mode %04o; sandbox-shim --socket %s -- CMD to join)\n",
                 options.socket.c_str(), static_cast<unsigned>(options.socket_mode), options.socket.c_str());
}

// --oci-listener: containers handed over by an OCI runtime join `sup`; null (the reason
// printed) if it cannot listen.
std::unique_ptr<OciListener> start_oci_listener(boost::asio::io_context& io, const ServeOptions& options,
                                                Supervisor& sup) {
  OciListener::Options oo;
  oo.path = *options.oci_listener;
  oo.mode = options.oci_listener_mode;
  oo.policy_dir = options.oci_policy_dir;
  oo.verbose = options.verbosity >= 2;
  auto oci = std::make_unique<OciListener>(io, oo, [&sup](OciListener::Container& c) {
    return sup.attach(std::move(c.listener), c.pid, c.quotas, Scope::job, c.id);
  });
  try {
    oci->start();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "sandbox: --oci-listener: %s\n", e.what());
    return nullptr;
  }
  if (options.verbosity >= 1)
    std::fprintf(stderr, "sandbox: OCI listener on %s\n", options.oci_listener->c_str());
  return oci;
}

// The metrics endpoint (--metrics, or an inherited TCP socket). Any local user and every
// target can reach it (loopback too), and TCP says nothing of who asks: totals only, no
// series naming a tenant, unless the operator asks for every tenant's
// (--metrics-per-target). `ctl metrics` shows each caller its own. Throws if it cannot listen.
std::unique_ptr<observe::MetricsServer> start_metrics(boost::asio::io_context& io,
                                                      const ServeOptions& options,
                                                      const std::optional<observe::ListenAddress>& address,
                                                      int inherited_fd, Supervisor& sup) {
  observe::MetricsServer::Options mo;
  if (address) mo.address = *address;
  mo.listen_fd = address ? -1 : inherited_fd;  // --metrics wins over an inherited socket
  const bool per_target = options.metrics_per_target;
  auto metrics =
      std::make_unique<observe::MetricsServer>(io, mo, [&sup, per_target](observe::MetricsFormat f) {
        return sup.metrics_text(Caller{0, 0, 0}, f, per_target);
      });
  metrics->start();
  if (options.verbosity >= 1)  // where it listens, unless -q
    std::fprintf(stderr, "sandbox: metrics on http://%s:%u/metrics\n",
                 address ? address->host.c_str() : "(inherited socket)",
                 static_cast<unsigned>(metrics->port()));
  return metrics;
}

// What serve reads before it starts anything: the policy, the sockets passed by a service
// manager, and where the metrics go.
struct ServeSetup {
  Policy policy;
  int control_fd = -1, metrics_fd = -1;
  std::optional<observe::ListenAddress> metrics_address;
};

// The policy and the metrics address read, the inherited sockets adopted; an exit status if
// one is bad (the reason printed).
std::optional<int> prepare(const ServeOptions& options, ServeSetup& s) {
  try {
    if (options.policy_file) s.policy = load_policy_file(*options.policy_file);
    if (options.no_delegate) s.policy.delegate = false;
  } catch (const PolicyError& e) {
    std::fprintf(stderr, "sandbox: %s\n", e.what());
    return exit_status::usage;
  }
  adopt_inherited_sockets(s.control_fd, s.metrics_fd);
  if (options.metrics) {
    try {
      s.metrics_address = observe::parse_listen_address(*options.metrics);
    } catch (const std::exception& e) {
      std::fprintf(stderr, "sandbox: --metrics: %s\n", e.what());
      return exit_status::usage;
    }
  }
  return std::nullopt;
}

// A serve from its sockets to its end: start the control plane, supervise, shut down. The
// members are destroyed in the reverse order of their start (the server before the
// listeners it shares the io_context with, the supervisor last).
class Serve {
 public:
  Serve(const ServeOptions& options, ServeSetup setup)
      : o_(options), s_(std::move(setup)), sup_(Supervisor::Options{s_.policy, options.verbosity >= 2}) {
    sup_.subscribe(Caller{0, 0, ::getpid()}, [v = o_.verbosity](const Event& e) { print_event(e, v); });
  }

  // The control socket, the metrics endpoint and the OCI listener; an exit status if one
  // cannot listen (the reason printed).
  std::optional<int> start_control_plane() {
    Server::Options so;
    so.path = o_.socket;
    so.mode = o_.socket_mode;
    so.private_dir = o_.socket_default;
    so.version = SANDBOX_VERSION;
    so.listen_fd = s_.control_fd;
    so.on_signal = [this](int signo) { on_signal(signo); };
    server_ = std::make_unique<Server>(io_, sup_.control(), so);
    try {
      server_->start();
      if (s_.metrics_address || s_.metrics_fd >= 0)
        metrics_ = start_metrics(io_, o_, s_.metrics_address, s_.metrics_fd, sup_);
    } catch (const std::exception& e) {
      std::fprintf(stderr, "sandbox: %s\n", e.what());
      return exit_status::usage;
    }
    if (o_.verbosity >= 1) announce(o_, s_.control_fd);
    if (o_.oci_listener) {
      oci_ = start_oci_listener(io_, o_, sup_);
      if (!oci_) {
        if (metrics_) metrics_->stop();
        server_->stop();
        io_.run();
        return exit_status::usage;
      }
    }
    return std::nullopt;
  }

  // Until a signal: the sockets serve, and now and then the notify threads of targets that
  // are all gone are retired. The server stops itself after on_signal; the timer is the
  // only other work.
  void supervise() {
    // Ready: the sockets accept. A service manager waiting for it (Type=notify) is told.
    if (const Status ready = systemd::notify("READY=1"); !ready.ok())
      std::fprintf(stderr, "sandbox: NOTIFY_SOCKET: %s\n", ready.text().c_str());
    boost::asio::steady_timer timer(io_);
    std::function<void()> tick = [&] {
      timer.expires_after(std::chrono::milliseconds(100));
      timer.async_wait([&](const boost::system::error_code& ec) {
        if (ec || stopping_) return;
        sup_.maintain();
        sup_.flush_usage();
        tick();
      });
    };
    tick();
    io_.run();
    timer.cancel();
  }

  int shut_down() {
    sup_.kill_all();
    return exit_status::ok;
  }

 private:
  void on_signal(int signo) {
    stopping_ = true;
    if (oci_) oci_->stop();
    if (o_.verbosity >= 2)
      std::fprintf(stderr, "sandbox: signal %d: killing every target, then exiting\n", signo);
    systemd::notify("STOPPING=1");
    if (metrics_) metrics_->stop();
    sup_.kill_all();
  }

  const ServeOptions& o_;
  ServeSetup s_;
  Supervisor sup_;
  boost::asio::io_context io_;
  std::unique_ptr<observe::MetricsServer> metrics_;
  bool stopping_ = false;
  std::unique_ptr<OciListener> oci_;
  std::unique_ptr<Server> server_;
};

}  // namespace

int serve_command(const ServeOptions& options) {
  // Out of every target's reach (docs/security.md): a non-dumpable process cannot be
  // ptraced, nor its /proc/<pid>/fd, fdinfo, mem or environ read, nor its descriptors
  // (the seccomp listeners) copied with pidfd_getfd(), by a process of the same uid without
  // CAP_SYS_PTRACE: a tenant of a user's own serve, or a root tenant without that
  // capability. Inherited by the open executors; credential changes leave it off
  // (suid_dumpable), and this process never execs.
  ::prctl(PR_SET_DUMPABLE, 0);
  ServeSetup setup;
  if (const auto status = prepare(options, setup)) return *status;
  ::signal(SIGPIPE, SIG_IGN);
  Serve serve(options, std::move(setup));
  if (const auto status = serve.start_control_plane()) return *status;
  serve.supervise();
  return serve.shut_down();
}

}  // namespace sandbox
