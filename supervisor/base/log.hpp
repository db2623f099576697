// SPDX-License-Identifier: Apache-2.0
// log: the one way the library speaks on stderr -- one line a message, with a level, so a
// program can quieten it (set_level) and nothing below cli/ calls fprintf. A message is
// written with one write(2), so lines from several threads never interleave.
#pragma once

#include <string_view>

namespace sandbox::log {

enum class Level : int {
  error = 0,  // something failed that the user must know about
  warn = 1,   // a refusal or a degraded service the user should know about (shown by default)
  info = 2,   // what the supervisor does (-v)
  debug = 3,  // every event (-vv)
};

// Messages above `max` are dropped; the default is warn.
void set_level(Level max);
bool enabled(Level l);

// Writes `line` and a newline to stderr if `l` is enabled.
void line(Level l, std::string_view line);
// printf-style; the text is cut at 4 KiB.
[[gnu::format(printf, 2, 3)]] void printf(Level l, const char* format, ...);

}  // namespace sandbox::log
