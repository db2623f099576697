// SPDX-License-Identifier: Apache-2.0
#include "base/size.hpp"

#include <cstdint>
#include <cstdio>
#include <limits>
#include <string>

namespace sandbox {

std::optional<std::uint64_t> parse_size(std::string_view text) {
  std::size_t pos = 0;
  std::uint64_t value = 0;
  constexpr std::uint64_t kMax = std::numeric_limits<std::uint64_t>::max();
  while (pos < text.size() && text[pos] >= '0' && text[pos] <= '9') {
    const auto digit = static_cast<std::uint64_t>(text[pos] - '0');
    if (value > (kMax - digit) / 10) return std::nullopt;
    value = value * 10 + digit;
    ++pos;
  }
  if (pos == 0) return std::nullopt;  // empty, negative, or no digits

  std::string suffix;
  for (const char c : text.substr(pos)) {
    suffix += (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
  }
  unsigned shift = 0;
  if (suffix.empty()) {
    shift = 20;  // a bare number is MiB, as in the ABI
  } else {
    switch (suffix[0]) {
      case 'k': shift = 10; break;
      case 'm': shift = 20; break;
      case 'g': shift = 30; break;
      default: return std::nullopt;
    }
    const std::string_view rest = std::string_view(suffix).substr(1);
    if (!rest.empty() && rest != "ib" && rest != "b") return std::nullopt;
  }
  if (value > (kMax >> shift)) return std::nullopt;
  return value << shift;
}

}  // namespace sandbox

namespace sandbox {

namespace {
bool is_unlimited(std::string_view text) {
  return text == "unlimited" || text == "-1";
}
}  // namespace

std::optional<Quota> parse_heap_quota(std::string_view text) {
  if (is_unlimited(text)) return Quota{};
  if (const auto bytes = parse_size(text)) return Quota{bytes};
  return std::nullopt;
}

std::optional<Quota> parse_file_quota(std::string_view text) {
  if (is_unlimited(text)) return Quota{};
  std::uint64_t n = 0;
  if (text.empty() || text.size() > 19) return std::nullopt;
  for (const char c : text) {
    if (c < '0' || c > '9') return std::nullopt;
    n = n * 10 + static_cast<std::uint64_t>(c - '0');
  }
  if (n > static_cast<std::uint64_t>(INT64_MAX)) return std::nullopt;
  return Quota{n};
}

std::string bytes_text(std::uint64_t bytes) {
  char buf[80];
  const auto n = static_cast<unsigned long long>(bytes);
  if (bytes < (std::uint64_t{1} << 10))
    std::snprintf(buf, sizeof buf, "%llu byte%s", n, bytes == 1 ? "" : "s");
  else if (bytes < (std::uint64_t{1} << 20))
    std::snprintf(buf, sizeof buf, "%llu bytes (%.1f KiB)", n, static_cast<double>(bytes) / 1024);
  else
    std::snprintf(buf, sizeof buf, "%llu bytes (%.1f MiB)", n, static_cast<double>(bytes) / (1 << 20));
  return buf;
}

std::string count_text(std::uint64_t n, std::string_view singular, std::string_view plural) {
  return std::to_string(n) + " " + std::string(n == 1 ? singular : plural);
}

}  // namespace sandbox
