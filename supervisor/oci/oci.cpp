// SPDX-License-Identifier: Apache-2.0
#include "oci/oci.hpp"

#include <charconv>
#include <climits>
#include <vector>

#include "policy/syscalls.hpp"

namespace sandbox::oci {
namespace {

using nlohmann::json;

std::string format_size(std::uint64_t bytes) {
  // parse_size reads a bare number as MiB: always write a suffix. A quota that is not a
  // whole number of KiB (the CLI never makes one) is rounded up: count rather than not.
  static constexpr struct {
    unsigned shift;
    char suffix;
  } kUnits[] = {{30, 'G'}, {20, 'M'}, {10, 'K'}};
  for (const auto& u : kUnits)
    if (bytes != 0 && bytes % (std::uint64_t{1} << u.shift) == 0)
      return std::to_string(bytes >> u.shift) + u.suffix;
  return std::to_string((bytes + 1023) / 1024) + "K";
}

std::optional<std::uint64_t> parse_count(std::string_view v) {
  std::uint64_t n = 0;
  auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
  if (v.empty() || ec != std::errc() || p != v.data() + v.size() || n > INT64_MAX) return std::nullopt;
  return n;
}

std::string quoted(std::string_view s) {
  std::string out = "'";
  for (const char c : s.substr(0, 64)) out += (c >= 0x20 && c < 0x7f) ? c : '?';
  if (s.size() > 64) out += "...";
  return out + "'";
}

[[noreturn]] void bad(const std::string& where, const std::string& what) {
  throw OciError("containerProcessState: " + where + ": " + what);
}

const json& member(const json& obj, const char* key, const std::string& where) {
  const auto it = obj.find(key);
  if (it == obj.end()) bad(where + "." + key, "missing");
  return *it;
}

std::string string_member(const json& obj, const char* key, const std::string& where, std::size_t max,
                          bool required) {
  const auto it = obj.find(key);
  if (it == obj.end()) {
    if (required) bad(where + "." + key, "missing");
    return {};
  }
  if (!it->is_string()) bad(where + "." + key, "expected a string");
  const auto& s = it->get_ref<const std::string&>();
  if (s.size() > max) bad(where + "." + key, "longer than " + std::to_string(max) + " bytes");
  return s;
}

pid_t pid_member(const json& v, const std::string& where) {
  // pid_max is at most 2^22; anything else is not a process.
  if (!v.is_number_integer()) bad(where, "expected a process id (a positive integer)");
  const auto n = v.get<std::int64_t>();
  if (n < 1 || n > (1 << 22)) bad(where, std::to_string(n) + " is not a process id");
  return static_cast<pid_t>(n);
}

}  // namespace

std::string format_metadata(const Quotas& q) {
  std::string out;
  auto add = [&](const std::string& field) { out += (out.empty() ? "" : ",") + field; };
  if (q.heap_quota_bytes) add("heap-quota=" + format_size(*q.heap_quota_bytes));
  if (q.file_quota) add("file-quota=" + std::to_string(*q.file_quota));
  if (q.policy) add("policy=" + *q.policy);
  if (q.track) add("track");
  return out;
}

bool valid_policy_name(std::string_view name) {
  if (name.empty() || name.size() > 64 || name.front() == '.') return false;
  for (const char c : name) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
                    c == '-' || c == '.';
    if (!ok) return false;
  }
  return true;
}

Quotas parse_metadata(std::string_view text) {
  Quotas q;
  if (text.size() > kMaxMetadata)
    throw OciError("listenerMetadata: longer than " + std::to_string(kMaxMetadata) + " bytes");
  if (text.empty()) return q;
  // A bare name is a policy.
  if (text.find('=') == std::string_view::npos && text.find(',') == std::string_view::npos &&
      text != "track") {
    if (!valid_policy_name(text))
      throw OciError("listenerMetadata: " + quoted(text) +
                     " is not a policy name (letters, digits, '_', '-', '.') nor key=value fields");
    q.policy = std::string(text);
    return q;
  }
  bool seen_track = false;
  std::size_t start = 0;
  while (start <= text.size()) {
    const std::size_t comma = std::min(text.find(',', start), text.size());
    const std::string_view field = text.substr(start, comma - start);
    start = comma + 1;
    const std::size_t eq = field.find('=');
    const std::string_view key = field.substr(0, eq);
    const std::string_view value = eq == std::string_view::npos ? std::string_view{} : field.substr(eq + 1);
    auto once = [&](bool seen) {
      if (seen) throw OciError("listenerMetadata: " + quoted(key) + " given twice");
    };
    if (key == "heap-quota" && eq != std::string_view::npos) {
      once(q.heap_quota_bytes.has_value());
      q.heap_quota_bytes = parse_size(value);
      if (!q.heap_quota_bytes)
        throw OciError("listenerMetadata: heap-quota: " + quoted(value) +
                       " is not a size (e.g. 256M, 512K, 2G)");
    } else if (key == "file-quota" && eq != std::string_view::npos) {
      once(q.file_quota.has_value());
      q.file_quota = parse_count(value);
      if (!q.file_quota) throw OciError("listenerMetadata: file-quota: " + quoted(value) + " is not a count");
    } else if (key == "policy" && eq != std::string_view::npos) {
      once(q.policy.has_value());
      if (!valid_policy_name(value))
        throw OciError("listenerMetadata: policy: " + quoted(value) +
                       " is not a policy name (letters, digits, '_', '-', '.')");
      q.policy = std::string(value);
    } else if (key == "track" && eq == std::string_view::npos) {
      once(seen_track);
      seen_track = q.track = true;
    } else {
      throw OciError("listenerMetadata: unknown field " + quoted(field) +
                     " (expected heap-quota=SIZE, file-quota=N, policy=NAME or track)");
    }
    if (comma == text.size()) break;
  }
  return q;
}

json seccomp_profile(const Policy& policy, const std::string& listener_path, const Quotas& quotas) {
  json notify_names = json::array();
  json rules = json::array();
  json denied = json::array();
  for (const FilterRule& r : filter_rules(policy)) {
    // ABI rows have no syscall name an OCI runtime could resolve (451-455 are other
    // syscalls' numbers on recent kernels): containers use the control socket instead.
    if (r.def->nr < 0) continue;
    const std::string name(r.def->name);
    json rule = {{"names", {name}}};
    if (r.action == FilterRule::Action::notify) {
      rule["action"] = "SCMP_ACT_NOTIFY";
    } else {
      rule["action"] = "SCMP_ACT_ERRNO";
      rule["errnoRet"] = r.errno_value();
    }
    if (r.def->only_if) {
      const ArgCondition& c = *r.def->only_if;
      // As in the BPF filter: 64-bit comparisons. For SCMP_CMP_MASKED_EQ, the runtime
      // passes value as the mask and valueTwo as the datum ((arg & value) == valueTwo).
      rule["args"] = json::array({c.test == ArgCondition::Test::ne
                                      ? json{{"index", c.arg}, {"value", c.value}, {"op", "SCMP_CMP_NE"}}
                                      : json{{"index", c.arg},
                                             {"value", c.mask},
                                             {"valueTwo", c.value},
                                             {"op", "SCMP_CMP_MASKED_EQ"}}});
    } else if (r.action == FilterRule::Action::notify) {
      notify_names.push_back(name);  // unconditional notify rows share one entry
      continue;
    }
    (r.action == FilterRule::Action::notify ? rules : denied).push_back(std::move(rule));
  }
  json syscalls = json::array();
  if (!notify_names.empty()) syscalls.push_back({{"names", notify_names}, {"action", "SCMP_ACT_NOTIFY"}});
  for (auto& r : rules) syscalls.push_back(std::move(r));
  for (auto& r : denied) syscalls.push_back(std::move(r));
  json out = {{"defaultAction", "SCMP_ACT_ALLOW"},
              {"architectures", {"SCMP_ARCH_X86_64"}},
              {"listenerPath", listener_path},
              {"syscalls", std::move(syscalls)}};
  if (const std::string m = format_metadata(quotas); !m.empty()) out["listenerMetadata"] = m;
  return out;
}

void set_seccomp(json& config, const json& seccomp, bool replace) {
  if (!config.is_object()) throw OciError("config.json: expected a JSON object");
  if (config.contains("linux") && !config["linux"].is_object())
    throw OciError("config.json: $.linux: expected an object");
  json& linux_ = config["linux"];
  if (linux_.contains("seccomp") && !replace)
    throw OciError(
        "config.json: $.linux.seccomp: already set (its rules may deny what this profile allows); pass "
        "--replace "
        "to replace it");
  linux_["seccomp"] = seccomp;
}

ProcessState parse_state(std::string_view text, std::size_t fds_received) {
  if (text.size() > kMaxStateBytes)
    throw OciError("containerProcessState: longer than " + std::to_string(kMaxStateBytes) + " bytes");
  json doc = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded()) throw OciError("containerProcessState: not valid JSON");
  if (!doc.is_object()) bad("$", "expected a JSON object");
  ProcessState st;
  st.oci_version = string_member(doc, "ociVersion", "$", 64, true);
  const json& fds = member(doc, "fds", "$");
  if (!fds.is_array()) bad("$.fds", "expected an array of fd names");
  if (fds.size() > 64) bad("$.fds", "more than 64 names");
  bool found = false;
  for (std::size_t i = 0; i < fds.size(); ++i) {
    if (!fds[i].is_string()) bad("$.fds[" + std::to_string(i) + "]", "expected a string");
    if (fds[i] != "seccompFd") continue;
    if (found) bad("$.fds", "\"seccompFd\" named twice");
    found = true;
    st.seccomp_fd = i;
  }
  if (!found) bad("$.fds", "no \"seccompFd\"");
  st.fds = fds.size();
  if (fds_received == 0)
    bad("$.fds", "names " + std::to_string(st.fds) + " fd(s) but none came with the message");
  if (fds_received != st.fds)
    bad("$.fds", "names " + std::to_string(st.fds) + " fd(s) but " + std::to_string(fds_received) +
                     " came with the message");
  st.pid = pid_member(member(doc, "pid", "$"), "$.pid");
  st.metadata = string_member(doc, "metadata", "$", kMaxMetadata, false);
  const json& state = member(doc, "state", "$");
  if (!state.is_object()) bad("$.state", "expected an object");
  st.id = string_member(state, "id", "$.state", kMaxContainerId, true);
  if (st.id.empty()) bad("$.state.id", "empty");
  st.status = string_member(state, "status", "$.state", 64, false);
  st.bundle = string_member(state, "bundle", "$.state", 4096, false);
  if (const auto it = state.find("pid"); it != state.end()) {
    if (pid_member(*it, "$.state.pid") != st.pid)
      bad("$.state.pid", "differs from $.pid (" + std::to_string(st.pid) + ")");
  }
  if (const auto it = state.find("annotations"); it != state.end()) {
    if (!it->is_object()) bad("$.state.annotations", "expected an object of strings");
    for (const auto& [k, v] : it->items()) {
      if (!v.is_string()) bad("$.state.annotations." + printable_id(k), "expected a string");
      st.annotations.emplace(k, v.get<std::string>());
    }
  }
  return st;
}

std::string printable_id(std::string_view id) {
  std::string out;
  for (const char c : id.substr(0, 128)) out += (c > 0x20 && c < 0x7f) ? c : '?';
  return out;
}

}  // namespace sandbox::oci
