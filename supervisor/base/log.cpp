// SPDX-License-Identifier: Apache-2.0
#include "base/log.hpp"

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdarg>
#include <cstdio>
#include <string>

namespace sandbox::log {
namespace {

std::atomic<int> g_max{static_cast<int>(Level::warn)};

}  // namespace

void set_level(Level max) {
  g_max.store(static_cast<int>(max), std::memory_order_relaxed);
}

bool enabled(Level l) {
  return static_cast<int>(l) <= g_max.load(std::memory_order_relaxed);
}

void line(Level l, std::string_view text) {
  if (!enabled(l)) return;
  const int saved = errno;  // logging never changes what the caller reads from errno
  std::string out(text);
  out += '\n';
  std::size_t done = 0;
  while (done < out.size()) {
    const ssize_t n = ::write(STDERR_FILENO, out.data() + done, out.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    done += static_cast<std::size_t>(n);
  }
  errno = saved;
}

void printf(Level l, const char* format, ...) {
  if (!enabled(l)) return;
  char buf[4096];
  va_list ap;
  va_start(ap, format);
  const int n = std::vsnprintf(buf, sizeof buf, format, ap);
  va_end(ap);
  if (n < 0) return;
  line(l, std::string_view(buf, std::min(static_cast<std::size_t>(n), sizeof buf - 1)));
}

}  // namespace sandbox::log
