// Reading the "Key:\tvalue" texts of /proc (status, limits-like files): pure string work,
// one parser for every room that reads them (target, open emulation, waits).
#pragma once

#include <charconv>
#include <cstddef>
#include <string_view>

namespace sandbox::target {

// The text after "Key:" on its line ("" if no line has that key).
inline std::string_view proc_field(std::string_view text, std::string_view key) {
  std::size_t pos = 0;
  while (pos < text.size()) {
    const std::size_t eol = text.find('\n', pos);
    const std::string_view line = text.substr(pos, eol == std::string_view::npos ? eol : eol - pos);
    if (line.size() > key.size() && line.substr(0, key.size()) == key && line[key.size()] == ':')
      return line.substr(key.size() + 1);
    if (eol == std::string_view::npos) break;
    pos = eol + 1;
  }
  return {};
}

// A number in `base`, after blanks; the rest of `s` is left in `s`.
template <typename T>
bool take_num(std::string_view& s, T& out, int base = 10) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  const auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out, base);
  if (ec != std::errc() || p == s.data()) return false;
  s.remove_prefix(static_cast<std::size_t>(p - s.data()));
  return true;
}

template <typename T>
bool parse_num(std::string_view s, T& out, int base = 10) {
  return take_num(s, out, base);
}

// Number `index` (0-based) of the blank-separated numbers after "Key:", in `base`.
template <typename T>
bool proc_value(std::string_view text, std::string_view key, T& out, int base = 10, std::size_t index = 0) {
  std::string_view rest = proc_field(text, key);
  for (std::size_t i = 0;; ++i) {
    if (!take_num(rest, out, base)) return false;
    if (i == index) return true;
  }
}

}  // namespace sandbox::target
