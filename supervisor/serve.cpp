#include "serve.hpp"

#include <signal.h>
#include <unistd.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <cstdio>
#include <functional>
#include <memory>

#include "events.hpp"
#include "oci_listener.hpp"
#include "policy.hpp"
#include "server.hpp"
#include "supervisor.hpp"

#ifndef SANDBOX_VERSION
#define SANDBOX_VERSION "0.0.0"
#endif

namespace sandbox {

int serve_command(const ServeOptions& options) {
  Policy policy;
  try {
    if (options.policy_file) policy = load_policy_file(*options.policy_file);
  } catch (const PolicyError& e) {
    std::fprintf(stderr, "sandbox: %s\n", e.what());
    return 2;
  }
  ::signal(SIGPIPE, SIG_IGN);
  Supervisor sup(Supervisor::Options{policy, options.verbose});
  sup.subscribe(Caller{0, 0, ::getpid()}, [v = options.verbose](const Event& e) { print_event(e, v); });

  boost::asio::io_context io;
  Server::Options so;
  so.path = options.socket;
  so.mode = options.socket_mode;
  so.private_dir = options.socket_default;
  so.version = SANDBOX_VERSION;
  bool stopping = false;
  std::unique_ptr<OciListener> oci;
  so.on_signal = [&](int signo) {
    stopping = true;
    if (oci) oci->stop();
    if (options.verbose)
      std::fprintf(stderr, "sandbox: signal %d: killing every target, then exiting\n", signo);
    sup.kill_all();
  };
  Server server(io, sup, so);
  try {
    server.start();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "sandbox: %s\n", e.what());
    return 2;
  }
  if (options.verbose) std::fprintf(stderr, "sandbox: serving %s\n", options.socket.c_str());
  if (options.oci_listener) {
    OciListener::Options oo;
    oo.path = *options.oci_listener;
    oo.mode = options.oci_listener_mode;
    oo.policy_dir = options.oci_policy_dir;
    oo.verbose = options.verbose;
    oci = std::make_unique<OciListener>(io, oo, [&sup](OciListener::Container& c) {
      return sup.attach(std::move(c.listener), c.pid, c.quotas, c.id);
    });
    try {
      oci->start();
    } catch (const std::exception& e) {
      std::fprintf(stderr, "sandbox: --oci-listener: %s\n", e.what());
      server.stop();
      io.run();
      return 2;
    }
    if (options.verbose) std::fprintf(stderr, "sandbox: OCI listener on %s\n", options.oci_listener->c_str());
  }

  // Retire the notify threads of targets that are all gone, now and then.
  boost::asio::steady_timer timer(io);
  std::function<void()> tick = [&] {
    timer.expires_after(std::chrono::milliseconds(250));
    timer.async_wait([&](const boost::system::error_code& ec) {
      if (ec || stopping) return;
      sup.maintain();
      tick();
    });
  };
  tick();
  // The server stops itself after on_signal; the timer is the only other work.
  io.run();
  timer.cancel();
  sup.kill_all();
  return 0;
}

}  // namespace sandbox
