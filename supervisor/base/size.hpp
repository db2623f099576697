// SPDX-License-Identifier: Apache-2.0
// size: the small value parsers every launcher needs -- SIZE, and a quota (a limit or
// unlimited) -- as the CLI, policies, `sandbox ctl` and `sandbox-shim` take them. Lives in
// the shim library, below both the shim and the supervisor.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace sandbox {

// A bare number is MiB (as in the ABI); K, M, G (optionally followed by "iB" or "B", any
// case) scale by 2^10, 2^20, 2^30. Returns bytes, or nullopt for anything else (negative,
// empty, fractional, overflow, unknown suffix).
std::optional<std::uint64_t> parse_size(std::string_view text);

// A quota as given: a limit, or none ("unlimited" or -1, wherever a quota is taken).
struct Quota {
  std::optional<std::uint64_t> limit;  // bytes for the heap, a count for files; nullopt: unlimited
  bool operator==(const Quota&) const = default;
};

// SIZE (parse_size), "unlimited" or "-1". nullopt for anything else.
std::optional<Quota> parse_heap_quota(std::string_view text);
// A whole number of files (at most INT64_MAX), "unlimited" or "-1". nullopt for anything else.
std::optional<Quota> parse_file_quota(std::string_view text);

// A byte count as people read it, the same in every message: "123 bytes" below 1 KiB,
// "123904 bytes (121.0 KiB)" below 1 MiB, "107728896 bytes (102.7 MiB)" from there on (never
// "0.0 MiB" for a small value).
std::string bytes_text(std::uint64_t bytes);
// "1 open file", "2 open files": N and the noun, singular for 1.
std::string count_text(std::uint64_t n, std::string_view singular, std::string_view plural);

}  // namespace sandbox
