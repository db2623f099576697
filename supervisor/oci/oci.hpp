// SPDX-License-Identifier: Apache-2.0
// oci: the formats an OCI runtime (runc, crun) and `sandbox` share -- pure, no system calls.
//
//  - the `linux.seccomp` object of a bundle's config.json that makes the runtime notify
//    exactly the rows of the syscall table (syscalls.hpp) and hand the listener to
//    `sandbox serve --oci-listener` (listenerPath), with the container's quotas in
//    listenerMetadata;
//  - that metadata ("heap-quota=256M,file-quota=1024", "policy=NAME");
//  - the message the runtime sends with the listener fd: the OCI "containerProcessState".
// The sockets are in oci_listener.*, the `sandbox oci-profile` command in oci_profile.*.
// See docs/containers.md for what an OCI profile can and cannot express of our BPF filter.
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>

#include "policy/policy.hpp"

namespace sandbox::oci {

// Bad input (a runtime's message, metadata, a config.json): what() is one line naming the
// field that was wrong.
struct OciError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// What a container's listenerMetadata asks for. `policy` names a policy file that the
// supervisor looks up in its --oci-policy-dir; explicit quotas override the policy's.
struct Quotas {
  std::optional<std::uint64_t> heap_quota_bytes;
  std::optional<std::uint64_t> file_quota;
  std::optional<std::string> policy;
  bool track = false;
  bool empty() const { return !heap_quota_bytes && !file_quota && !policy && !track; }
};

inline constexpr std::size_t kMaxMetadata = 4096;
// "heap-quota=256M,file-quota=1024,policy=web,track" (fields in that order; empty for none).
std::string format_metadata(const Quotas& q);
// Accepts comma-separated key=value fields: heap-quota=SIZE, file-quota=N, policy=NAME,
// track; or a bare policy NAME. Unknown keys, repeats, bad values: OciError.
Quotas parse_metadata(std::string_view text);
// A policy name: [A-Za-z0-9_.-], 1..64 characters, not starting with '.' (it becomes a
// file name under the policy directory and must never leave it).
bool valid_policy_name(std::string_view name);

// The linux.seccomp object for `policy`'s notified rows: defaultAction SCMP_ACT_ALLOW,
// x86-64 only, SCMP_ACT_NOTIFY with the table's argument conditions, SCMP_ACT_ERRNO for
// the denied rows, listenerPath and listenerMetadata.
nlohmann::json seccomp_profile(const Policy& policy, const std::string& listener_path, const Quotas& quotas);
// Puts `seccomp` at linux.seccomp of a parsed config.json, keeping everything else. A
// config that already has linux.seccomp is refused unless `replace` (the old profile may
// deny syscalls this one allows). OciError when the document is not a config object.
void set_seccomp(nlohmann::json& config, const nlohmann::json& seccomp, bool replace);

// The OCI containerProcessState a runtime sends to the listener, validated.
struct ProcessState {
  std::string oci_version;
  std::size_t seccomp_fd = 0;  // index of "seccompFd" in fds, and so among the received fds
  std::size_t fds = 0;         // how many fds the state names
  pid_t pid = 0;               // the container process, in the runtime's pid namespace
  std::string metadata;
  std::string id;  // state.id: the container id
  std::string status;
  std::string bundle;
  std::map<std::string, std::string> annotations;
};
inline constexpr std::size_t kMaxStateBytes = 256 * 1024;  // annotations can be large, not this large
inline constexpr std::size_t kMaxContainerId = 1024;
// Parses one message received with `fds_received` descriptors. Throws OciError naming the
// first problem (not JSON, missing or mistyped field, no or several "seccompFd", a number
// of fds that does not match the state, a pid out of range).
ProcessState parse_state(std::string_view text, std::size_t fds_received);

// A container id made safe for one-line logs and the control socket: at most 128 bytes of
// printable ASCII (others become '?').
std::string printable_id(std::string_view id);

}  // namespace sandbox::oci
