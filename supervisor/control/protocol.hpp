// SPDX-License-Identifier: Apache-2.0
// protocol: the control socket's schema (docs/protocol.md) -- newline-delimited JSON, one
// request object per line, one response per request, events on `watch`.
//
// Pure: no I/O, no sockets, no Control. parse_request() turns any bytes into a typed
// Request or a ProtocolError (an errno plus a one-line message naming the field); it never
// throws and never crashes, whatever the input (it is the fuzzing target of issue 6). The
// serialisers build the response and event lines, each ending in '\n'.
#pragma once

#include <linux/filter.h>

#include <cstddef>
#include <cstdint>
#include <nlohmann/json_fwd.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "base/result.hpp"
#include "control/control.hpp"
#include "model/tracker.hpp"

namespace sandbox::protocol {

// Version of the schema, answered by `version`.
inline constexpr int kProtocolVersion = 1;
// The longest request line accepted, without its '\n' (the server's default limit).
inline constexpr std::size_t kMaxLine = 64 * 1024;
// Deepest nesting of arrays/objects accepted in a request (a request needs 1; the bound
// keeps hostile input from driving the JSON parser deep).
inline constexpr int kMaxDepth = 16;

enum class Op {
  register_node,
  fetch,
  deregister,
  resource_cap,
  resource_reset,
  list,
  version,
  watch,
  filter,    // internal (sandbox-shim): the BPF program a joining target installs
  join,      // internal (sandbox-shim): take a new target; its listener fd rides on the line
  metrics,   // the metrics text (observe/metrics.hpp)
  delegate,  // a nested job for the caller's child (docs/jobs.md, delegation)
};
// The wire name of an op ("register", "fetch", ..., "join").
std::string_view to_string(Op op);

struct Request {
  Op op = Op::version;
  std::string id;  // the request's "id" as JSON text (a string or a number), "" when absent
  Pid pid = 0;     // register .. resource_reset, join
  // resource_cap, join: at most one of the two heap quotas; absent means unlimited (-1).
  std::optional<std::int64_t> heap_quota;        // MiB, as in the ABI
  std::optional<std::int64_t> heap_quota_bytes;  // bytes
  std::optional<std::int64_t> file_quota;        // a count
  bool track = false;                            // join: register the target without quotas
  std::uint32_t kinds = 0;                       // watch: WatchFilter::kinds (with pid: WatchFilter::pid)
  bool openmetrics = false;                      // metrics: "format": "openmetrics" (else "prometheus")
  // fetch, resource_cap, resource_reset: a job instead of a pid (exactly one of the two).
  std::optional<JobId> job;
  Scope scope = Scope::job;           // join: what the quotas cover
  std::optional<HeapRule> heap_rule;  // filter, join: what the heap counts (nullopt: the server's)
  bool replace = false;               // resource_cap: replace quotas already set, atomically
  // delegate: keep a record of every process of the new job; fetch (with job): answer them.
  bool records = false;
};

struct ProtocolError {
  int err = 0;          // EINVAL (bad field or JSON), ENOSYS (unknown op), E2BIG (line too long)
  std::string message;  // names the field: `pid: expected an integer, got "abc"`
  std::string id;       // the request's id as JSON text when it could be read, else ""
};

using ParseResult = std::variant<Request, ProtocolError>;

// Parses one request line (without its '\n'; a trailing '\r' or other JSON whitespace is
// fine). Never throws. Lines longer than `max_line` are E2BIG.
ParseResult parse_request(std::string_view line, std::size_t max_line = kMaxLine) noexcept;

// A join request's heap quota in bytes (nullopt: unlimited). heap_quota (MiB) is scaled by
// 2^20, saturating: a quota that large can never be exceeded. EINVAL for a
// quota below -1, with the line that says which.
Result<std::optional<std::uint64_t>> join_heap_bytes(const Request& r);
// Same for the file quota.
Result<std::optional<std::uint64_t>> join_file_quota(const Request& r);

// "EINVAL" for EINVAL, "errno 4242" for a number with no name.
std::string errno_name(int err);

// Response lines. `id` is Request::id (or ProtocolError::id): echoed when not empty.
std::string ok_response(std::string_view id);
// `message` may be empty: strerror(err) is used then.
std::string error_response(std::string_view id, int err, std::string_view message);
std::string error_response(const ProtocolError& e);
std::string fetch_response(std::string_view id, const Node& n);
std::string list_response(std::string_view id, const std::vector<Node>& nodes,
                          const std::vector<JobView>& jobs = {});
// fetch of a job: {"ok":true,"job":1,"root":..,"scope":"job","heapsize":..,...}.
// With `records`: "records": [{"pid":..,"argv0":..,"peak_heap_bytes":..,"peak_files":..,
// "end":..,"code":..}, ...] too (fetch with "records": true). delegate answers this too.
std::string job_response(std::string_view id, const JobView& j,
                         const std::vector<ProcessRecord>* records = nullptr);
std::string version_response(std::string_view id, std::string_view version);
// One process record as the wire carries it: {"pid","argv0","peak_heap_bytes","peak_files",
// "end","code"} (a run's -o report writes the same, its "code" named by the ending).
nlohmann::ordered_json record_object(const ProcessRecord& r);
// join: {"ok":true,"job":J} -- the new job, which the shim watches for its kill.
std::string join_response(std::string_view id, JobId job);
std::string filter_response(std::string_view id, const std::vector<sock_filter>& program);
// A `watch` event line: {"event": "killed", "pid": .., "tgid": .., "time_ns": .., "comm": .., ...}.
// One table of fields writes it and reads it back (protocol.cpp, kEventFields).
std::string event_line(const Event& e);
// An event line read back (a nested run's trace and kill line, from the outer supervisor's
// watch stream): the Event that event_line() wrote, but the fields no line carries
// (member, member_ended). Keys it does not know are ignored; a field of the wrong type, a
// line that is no JSON object, an unknown event name (`end` included), too long or too deep,
// is EINVAL with a one-line message naming the field. Never throws, whatever the bytes.
Result<Event> decode_event(std::string_view line) noexcept;
// The last line of a watch stream when the supervisor ends it (a run is over, serve stops):
// {"event": "end", "reason": ...}.
std::string end_line(std::string_view reason);
// {"ok": true, "format": "openmetrics"|"prometheus", "text": ...}
std::string metrics_response(std::string_view id, bool openmetrics, const std::string& text);
// The wire name of an event kind ("registered", ..., "joined").
std::string_view event_name(Event::Kind k);

// The BPF program as text: 16 lowercase hex digits per instruction, code (4), jt (2),
// jf (2), k (8), concatenated without separators. decode_filter() is its inverse (upper
// case accepted); nullopt for a length not a multiple of 16 or a non-hex digit.
std::string encode_filter(const std::vector<sock_filter>& program);
std::optional<std::vector<sock_filter>> decode_filter(std::string_view hex);

}  // namespace sandbox::protocol
