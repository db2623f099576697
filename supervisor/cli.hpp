// cli: argv -> a command and its options. Pure parsing; bad input throws UsageError with
// one line naming the argument that was wrong.
#pragma once

#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace sandbox {

struct UsageError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

struct RunOptions {
  std::optional<std::uint64_t> heap_quota_bytes;
  std::optional<std::uint64_t> file_quota;
  bool track = false;
  std::optional<std::string> policy_file;
  bool verbose = false;
  std::vector<std::string> command;  // CMD ARG...
};

struct Command {
  enum class Kind { run, help, version } kind = Kind::help;
  RunOptions run;
};

Command parse_command_line(int argc, const char* const argv[]);
const char* usage_text();

}  // namespace sandbox
