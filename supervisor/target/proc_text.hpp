// SPDX-License-Identifier: Apache-2.0
// Reading the "Key:\tvalue" texts of /proc (status, limits-like files): pure string work,
// one parser for every room that reads them (target, open emulation, waits).
#pragma once

#include <charconv>
#include <cstddef>
#include <cstdint>
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

// What /proc/<tid>/syscall says: "running" (on a CPU or runnable: the kernel cannot tell
// more), blocked in system call `nr` with first argument `arg0` ("nr 0xarg0 ..."), blocked
// outside one ("-1 sp pc"), or text it does not recognise (unknown).
struct SyscallState {
  enum class Kind { unknown, running, in_call, outside };
  Kind kind = Kind::unknown;
  long nr = -1;
  std::uint64_t arg0 = 0;
};

inline SyscallState parse_syscall(std::string_view text) {
  SyscallState st;
  if (text.starts_with("running")) {
    st.kind = SyscallState::Kind::running;
    return st;
  }
  if (!take_num(text, st.nr) || text.empty() || text.front() != ' ') return st;
  if (st.nr < 0) {
    st.kind = SyscallState::Kind::outside;
    return st;
  }
  text.remove_prefix(1);
  if (!text.starts_with("0x")) return st;
  text.remove_prefix(2);
  if (!take_num(text, st.arg0, 16)) return st;
  st.kind = SyscallState::Kind::in_call;
  return st;
}

}  // namespace sandbox::target
