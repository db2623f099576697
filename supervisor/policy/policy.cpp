// SPDX-License-Identifier: Apache-2.0
// policy: parses the JSON policy format documented in policies/README.md.
// The parser is strict on purpose: unknown keys, duplicate keys, wrong types and
// out-of-range values are all errors, each reported as one line naming the JSON path
// of the fault, so a typo in a policy never silently weakens a sandbox.
#include "policy/policy.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <limits>
#include <nlohmann/json.hpp>
#include <set>
#include <utility>
#include <vector>

#include "base/json_keys.hpp"
#include "policy/syscalls.hpp"

namespace sandbox {
namespace {

using json = nlohmann::json;
using json_keys::child_path;
using json_keys::json_quote;

constexpr int kSupportedVersion = 1;
constexpr int kMaxAbiNumber = kMaxSyscallNr - 1;
constexpr std::size_t kMaxPolicyBytes = std::size_t{1} << 20;

// JSON string literal for `text`, shortened ("..." inside the quotes) past 40 characters.
std::string json_quote_short(std::string_view text) {
  constexpr std::size_t kMaxShown = 40;
  if (text.size() <= kMaxShown) return json_quote(text);
  std::string shown = json_quote(text.substr(0, kMaxShown));
  shown.insert(shown.size() - 1, "...");
  return shown;
}

// A short, one-line description of a JSON value for messages: `string "abc"`, `number -3`.
std::string describe(const json& v) {
  switch (v.type()) {
    case json::value_t::object: return "an object";
    case json::value_t::array: return "an array";
    case json::value_t::null: return "null";
    case json::value_t::boolean: return std::string("boolean ") + (v.get<bool>() ? "true" : "false");
    case json::value_t::string: return "string " + json_quote_short(v.get<std::string>());
    default: return "number " + v.dump();
  }
}

std::string join_keys(const std::vector<std::string_view>& keys) {
  std::string out;
  for (std::size_t i = 0; i < keys.size(); ++i) {
    if (i > 0) out += ", ";
    out += json_quote(keys[i]);
  }
  return out;
}

// Line and column (1-based line; column as nlohmann counts it) of a parse error at `byte`.
std::pair<std::size_t, std::size_t> line_column(std::string_view text, std::size_t byte) {
  const std::string_view prefix = text.substr(0, std::min(byte, text.size()));
  const std::size_t line = 1 + static_cast<std::size_t>(std::count(prefix.begin(), prefix.end(), '\n'));
  const std::size_t last_newline = prefix.rfind('\n');
  const std::size_t line_start = last_newline == std::string_view::npos ? 0 : last_newline + 1;
  return {line, byte - line_start};
}

// nlohmann's description without its "[json.exception...] parse error at line L, column C: "
// prefix (we print our own position), flattened to one line.
std::string parse_error_reason(const json::parse_error& e) {
  std::string what = e.what();
  const std::size_t column = what.find(", column ");
  if (column != std::string::npos) {
    const std::size_t colon = what.find(": ", column);
    if (colon != std::string::npos) what = what.substr(colon + 2);
  } else if (const std::size_t bracket = what.find("] "); bracket != std::string::npos) {
    what = what.substr(bracket + 2);
  }
  std::replace(what.begin(), what.end(), '\n', ' ');
  return what;
}

class PolicyReader {
 public:
  explicit PolicyReader(std::string_view origin) : origin_(origin) {}

  Policy read(const json& root) {
    Policy policy;
    if (!root.is_object()) fail("$", "expected an object, got " + describe(root));
    read_version(root);
    if (root.contains("quotas"))
      fail("$.quotas",
           "renamed: write \"heap_quota\" and \"file_quota\" at the top level (the names --heap-quota, "
           "--file-quota and the control protocol use)");
    check_keys(root, "$",
               {"version", "description", "heap_quota", "heap_rule", "file_quota", "track", "delegate", "abi",
                "notify", "io_uring"});
    if (const json* v = find(root, "description"); v && !v->is_string()) {
      fail("$.description", "expected a string, got " + describe(*v));
    }
    if (const json* heap = find(root, "heap_quota")) policy.heap_quota_bytes = heap_quota(*heap);
    if (const json* rule = find(root, "heap_rule")) {
      const auto r = rule->is_string() ? parse_heap_rule(rule->get_ref<const std::string&>()) : std::nullopt;
      if (!r) fail("$.heap_rule", "expected \"kernel\" or \"commit\", got " + describe(*rule));
      policy.heap_rule = *r;
    }
    if (const json* files = find(root, "file_quota")) policy.file_quota = file_quota(*files);
    if (const json* v = find(root, "track")) policy.track = boolean(*v, "$.track");
    if (const json* v = find(root, "delegate")) policy.delegate = boolean(*v, "$.delegate");
    if (const json* abi = find(root, "abi")) read_abi(*abi, policy);
    if (const json* notify = find(root, "notify")) read_notify(*notify, policy);
    if (const json* v = find(root, "io_uring")) policy.allow_io_uring = io_uring(*v);
    check_consistency(policy);
    return policy;
  }

  [[noreturn]] void fail(const std::string& path, const std::string& what) const {
    throw PolicyError(std::string(origin_) + ": " + path + ": " + what);
  }

 private:
  static const json* find(const json& object, const char* key) {
    const auto it = object.find(key);
    return it == object.end() ? nullptr : &*it;
  }

  void check_keys(const json& object, const std::string& path,
                  const std::vector<std::string_view>& allowed) const {
    for (const auto& [key, value] : object.items()) {
      if (std::find(allowed.begin(), allowed.end(), key) == allowed.end()) {
        fail(child_path(path, key), "unknown key; expected one of " + join_keys(allowed));
      }
    }
  }

  void require_object(const json& v, const std::string& path) const {
    if (!v.is_object()) fail(path, "expected an object, got " + describe(v));
  }

  bool boolean(const json& v, const std::string& path) const {
    if (!v.is_boolean()) fail(path, "expected true or false, got " + describe(v));
    return v.get<bool>();
  }

  // A JSON integer >= 0; `expected` names what the value is for.
  std::uint64_t unsigned_integer(const json& v, const std::string& path, const std::string& expected) const {
    if (v.is_number_unsigned()) return v.get<std::uint64_t>();
    fail(path, "expected " + expected + ", got " + describe(v));
  }

  void read_version(const json& root) const {
    const json* v = find(root, "version");
    if (v == nullptr) {
      fail("$.version", "required key missing; expected " + std::to_string(kSupportedVersion));
    }
    if (!v->is_number_integer()) {
      fail("$.version",
           "expected the integer " + std::to_string(kSupportedVersion) + ", got " + describe(*v));
    }
    if (!v->is_number_unsigned() || v->get<std::uint64_t>() != kSupportedVersion) {
      fail("$.version", "unsupported version " + v->dump() + "; this sandbox reads version " +
                            std::to_string(kSupportedVersion));
    }
  }

  // null, "unlimited" or -1: no quota (wherever a quota is taken, docs/cli.md).
  static bool unlimited(const json& v) {
    return v.is_null() || (v.is_string() && v.get<std::string>() == "unlimited") ||
           (v.is_number_integer() && !v.is_number_unsigned() && v.get<std::int64_t>() == -1);
  }

  std::optional<std::uint64_t> file_quota(const json& files) const {
    if (unlimited(files)) return std::nullopt;
    return unsigned_integer(files, "$.file_quota",
                            "a whole number of files >= 0, or \"unlimited\" (or -1, null)");
  }

  std::optional<std::uint64_t> heap_quota(const json& heap) const {
    const std::string path = "$.heap_quota";
    if (unlimited(heap)) return std::nullopt;
    if (heap.is_string()) {
      const std::string text = heap.get<std::string>();
      if (auto q = parse_heap_quota(text)) return q->limit;  // SIZE, "unlimited" or "-1"
      fail(path, "invalid size " + json_quote_short(text) +
                     "; expected a whole number with an optional K, M or G suffix (e.g. \"100M\", \"512K\", "
                     "\"2G\"; a bare number is MiB), or \"unlimited\"");
    }
    const std::uint64_t mib = unsigned_integer(
        heap, path,
        "a size string like \"100M\", a whole number of MiB >= 0, or \"unlimited\" (or -1, null)");
    if (mib > (std::numeric_limits<std::uint64_t>::max() >> 20)) {
      fail(path, heap.dump() + " MiB does not fit in 64 bits of bytes");
    }
    return mib << 20;
  }

  void read_abi(const json& abi, Policy& policy) const {
    require_object(abi, "$.abi");
    check_keys(abi, "$.abi", {"enabled", "numbers"});
    if (const json* v = find(abi, "enabled")) policy.abi_enabled = boolean(*v, "$.abi.enabled");
    const json* numbers = find(abi, "numbers");
    if (numbers == nullptr) return;
    require_object(*numbers, "$.abi.numbers");
    check_keys(*numbers, "$.abi.numbers",
               std::vector<std::string_view>(kAbiOpNames.begin(), kAbiOpNames.end()));

    std::array<bool, kAbiOpNames.size()> given{};
    for (std::size_t i = 0; i < kAbiOpNames.size(); ++i) {
      const auto it = numbers->find(std::string(kAbiOpNames[i]));
      if (it == numbers->end()) continue;
      const std::string path = child_path("$.abi.numbers", kAbiOpNames[i]);
      const std::string expected = "an integer in 0.." + std::to_string(kMaxAbiNumber);
      const std::uint64_t nr = unsigned_integer(*it, path, expected);
      if (nr > kMaxAbiNumber) fail(path, "expected " + expected + ", got " + describe(*it));
      policy.abi_numbers[i] = static_cast<int>(nr);
      given[i] = true;
    }
    for (std::size_t i = 0; i < kAbiOpNames.size(); ++i) {
      if (!given[i]) continue;
      const std::string path = child_path("$.abi.numbers", kAbiOpNames[i]);
      // The single table of handled syscalls (supervisor/policy/syscalls.cpp): a number in it would
      // make the two meanings indistinguishable in the filter and the dispatch.
      for (const SyscallDef& handled : syscall_table()) {
        if (handled.nr >= 0 && handled.nr == policy.abi_numbers[i]) {
          fail(path, std::to_string(handled.nr) + " is " + std::string(handled.name) +
                         ", which the supervisor handles itself; choose another number (e.g. 1000..1004)");
        }
      }
    }
    // Duplicates: blame a number the policy gave (a default never collides with a default).
    for (std::size_t i = 0; i < kAbiOpNames.size(); ++i) {
      for (std::size_t j = i + 1; j < kAbiOpNames.size(); ++j) {
        if (policy.abi_numbers[i] != policy.abi_numbers[j]) continue;
        const std::size_t blamed = given[j] ? j : i;
        const std::size_t other = blamed == j ? i : j;
        fail(child_path("$.abi.numbers", kAbiOpNames[blamed]),
             std::to_string(policy.abi_numbers[blamed]) + " is also the number of " +
                 std::string(kAbiOpNames[other]) + (given[other] ? "" : " (by default)") +
                 "; the five numbers must be distinct");
      }
    }
  }

  void read_notify(const json& notify, Policy& policy) const {
    require_object(notify, "$.notify");
    check_keys(notify, "$.notify", {"brk", "mmap", "open", "close"});
    const std::array<std::pair<const char*, bool*>, 4> fields = {{
        {"brk", &policy.notify_brk},
        {"mmap", &policy.notify_mmap},
        {"open", &policy.notify_open},
        {"close", &policy.notify_close},
    }};
    for (const auto& [key, field] : fields) {
      if (const json* v = find(notify, key)) *field = boolean(*v, child_path("$.notify", key));
    }
  }

  bool io_uring(const json& v) const {
    if (v.is_string() && v.get<std::string>() == "deny") return false;
    if (v.is_string() && v.get<std::string>() == "allow") return true;
    fail("$.io_uring", "expected \"deny\" or \"allow\", got " + describe(v));
  }

  // A quota the policy itself sets must be enforceable by what the policy notifies.
  void check_consistency(const Policy& policy) const {
    if (policy.heap_quota_bytes && !policy.notify_brk && !policy.notify_mmap) {
      fail("$.notify",
           "neither brk nor mmap is notified, so the heap quota in $.heap_quota cannot be enforced");
    }
    if (policy.file_quota && !policy.notify_open) {
      fail("$.notify.open", "open is not notified, so the file quota in $.file_quota cannot be enforced");
    }
  }

  std::string_view origin_;
};

}  // namespace

Policy parse_policy(std::string_view json_text, std::string_view origin) {
  PolicyReader reader(origin);
  std::optional<std::string> duplicate;
  json root;
  try {
    root = json_keys::parse(json_text, duplicate);
  } catch (const json::parse_error& e) {
    const auto [line, column] = line_column(json_text, e.byte);
    throw PolicyError(std::string(origin) + ": line " + std::to_string(line) + ", column " +
                      std::to_string(column) + ": " + parse_error_reason(e));
  } catch (const json::exception& e) {
    // Not a parse_error: a number too large for a double ("1e400") is out_of_range.406,
    // which carries no position. Found by test/fuzz/fuzz_policy.
    std::string what = e.what();
    if (const std::size_t bracket = what.find("] "); bracket != std::string::npos) what.erase(0, bracket + 2);
    std::replace(what.begin(), what.end(), '\n', ' ');
    throw PolicyError(std::string(origin) + ": " + what);
  }
  if (duplicate) reader.fail(*duplicate, "duplicate key; each key may appear only once");
  return reader.read(root);
}

Policy load_policy_file(const std::string& path) {
  const auto cannot_read = [&path](const std::string& why) {
    return PolicyError(path + ": cannot read: " + why);
  };
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw cannot_read(std::strerror(errno));
  std::string text;
  char buffer[8192];
  for (;;) {
    const ssize_t n = ::read(fd, buffer, sizeof buffer);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      const int err = errno;
      ::close(fd);
      throw cannot_read(std::strerror(err));
    }
    if (n == 0) break;
    text.append(buffer, static_cast<std::size_t>(n));
    if (text.size() > kMaxPolicyBytes) {
      ::close(fd);
      throw cannot_read("larger than 1 MiB, not a policy file");
    }
  }
  ::close(fd);
  return parse_policy(text, path);
}

}  // namespace sandbox
