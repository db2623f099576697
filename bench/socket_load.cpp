// SPDX-License-Identifier: Apache-2.0
// socket_load: a bounded load generator for the control socket (issue 3's load test).
//
//   socket_load SOCKET PID CLIENTS SECONDS
//
// Opens CLIENTS connections and keeps exactly one `fetch PID` in flight on each until
// SECONDS have passed, SIGTERM arrives, or 10 million requests were answered, then prints one JSON line:
// requests, errors, requests/s, p50/p99/max latency in microseconds. Loopback Unix socket only.
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

namespace {

volatile sig_atomic_t g_stop = 0;
void on_stop(int) {
  g_stop = 1;
}

double now_us() {
  timespec t{};
  ::clock_gettime(CLOCK_MONOTONIC, &t);
  return static_cast<double>(t.tv_sec) * 1e6 + static_cast<double>(t.tv_nsec) / 1e3;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 5) {
    std::fprintf(stderr, "usage: socket_load SOCKET PID CLIENTS SECONDS\n");
    return 2;
  }
  const std::string request = std::string("{\"op\":\"fetch\",\"pid\":") + argv[2] + "}\n";
  const int clients = std::atoi(argv[3]);
  const double seconds = std::atof(argv[4]);
  std::vector<pollfd> fds(static_cast<std::size_t>(clients));
  std::vector<double> sent_at(fds.size());
  std::vector<std::string> buf(fds.size());
  sockaddr_un a{};
  a.sun_family = AF_UNIX;
  std::strncpy(a.sun_path, argv[1], sizeof a.sun_path - 1);
  for (auto& p : fds) {
    p.fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (::connect(p.fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
      std::perror("socket_load: connect");
      return 1;
    }
    p.events = POLLIN;
  }
  std::fprintf(stderr, "socket_load: %d clients connected\n", clients);  // the driver waits for this
  // SIGTERM ends the run early and still prints the figures.
  struct sigaction sa {};
  sa.sa_handler = on_stop;
  ::sigaction(SIGTERM, &sa, nullptr);
  ::sigaction(SIGINT, &sa, nullptr);
  std::vector<double> lat;
  lat.reserve(1 << 20);
  long errors = 0;
  const double start = now_us(), end = start + seconds * 1e6;
  for (std::size_t i = 0; i < fds.size(); ++i) {
    sent_at[i] = now_us();
    if (::send(fds[i].fd, request.data(), request.size(), MSG_NOSIGNAL) < 0) ++errors;
  }
  while (!g_stop && now_us() < end && lat.size() < 10'000'000) {
    if (::poll(fds.data(), fds.size(), 100) <= 0) continue;
    for (std::size_t i = 0; i < fds.size(); ++i) {
      if (!(fds[i].revents & (POLLIN | POLLHUP))) continue;
      char chunk[4096];
      const ssize_t n = ::recv(fds[i].fd, chunk, sizeof chunk, 0);
      if (n <= 0) {
        ++errors;
        fds[i].fd = -fds[i].fd;  // ignore from now on
        continue;
      }
      buf[i].append(chunk, static_cast<std::size_t>(n));
      std::size_t nl;
      while ((nl = buf[i].find('\n')) != std::string::npos) {
        if (buf[i].compare(0, 10, "{\"ok\":true") != 0) ++errors;
        buf[i].erase(0, nl + 1);
        const double t = now_us();
        lat.push_back(t - sent_at[i]);
        sent_at[i] = t;
        if (::send(fds[i].fd, request.data(), request.size(), MSG_NOSIGNAL) < 0) ++errors;
      }
    }
  }
  const double elapsed = (now_us() - start) / 1e6;
  std::sort(lat.begin(), lat.end());
  auto pct = [&](double q) {
    return lat.empty() ? 0.0 : lat[static_cast<std::size_t>(q * (lat.size() - 1))];
  };
  std::printf(
      "{\"clients\":%d,\"seconds\":%.2f,\"requests\":%zu,\"errors\":%ld,\"requests_per_s\":%.0f,"
      "\"p50_us\":%.1f,\"p99_us\":%.1f,\"max_us\":%.1f}\n",
      clients, elapsed, lat.size(), errors, static_cast<double>(lat.size()) / elapsed, pct(0.5), pct(0.99),
      lat.empty() ? 0.0 : lat.back());
  for (auto& p : fds) ::close(p.fd < 0 ? -p.fd : p.fd);
  return errors ? 1 : 0;
}
