// size: SIZE as the CLI, policies, `sandbox ctl` and `sandbox-shim` take it. Lives in the
// shim library because it is the one piece of parsing every launcher needs.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

namespace sandbox {

// A bare number is MiB (as in the ABI); K, M, G (optionally followed by "iB" or "B", any
// case) scale by 2^10, 2^20, 2^30. Returns bytes, or nullopt for anything else (negative,
// empty, fractional, overflow, unknown suffix).
std::optional<std::uint64_t> parse_size(std::string_view text);

}  // namespace sandbox
