// SPDX-License-Identifier: Apache-2.0
// protocol: parsing requests and building response/event lines (see protocol.hpp).
#include "control/protocol.hpp"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <limits>
#include <nlohmann/json.hpp>
#include <string>

#include "base/json_keys.hpp"

namespace sandbox::protocol {

namespace {

using json = nlohmann::json;
using ojson = nlohmann::ordered_json;

constexpr std::uint64_t kMiB = std::uint64_t{1} << 20;
// A heap quota of this many MiB or more can never be exceeded (docs/semantics.md).
constexpr std::int64_t kHugeMiB = std::int64_t{1} << 44;

struct OpInfo {
  std::string_view name;
  Op op;
  bool takes_pid;     // pid is required
  bool takes_quotas;  // heap_quota / heap_quota_bytes / file_quota allowed
  bool takes_track;   // track, scope (join)
  bool takes_job;     // job instead of pid
};

constexpr OpInfo kOps[] = {
    {"register", Op::register_node, true, false, false, false},
    {"fetch", Op::fetch, true, false, false, true},
    {"deregister", Op::deregister, true, false, false, false},
    {"resource_cap", Op::resource_cap, true, true, false, true},
    {"resource_reset", Op::resource_reset, true, false, false, true},
    {"list", Op::list, false, false, false, false},
    {"version", Op::version, false, false, false, false},
    {"watch", Op::watch, false, false, false, false},
    {"filter", Op::filter, false, false, false, false},
    {"join", Op::join, true, true, true, false},
    {"metrics", Op::metrics, false, false, false, false},
    {"delegate", Op::delegate, true, true, true, false},
};

// A value quoted for a message: its JSON text, cut short if long. Never throws on odd
// bytes (invalid UTF-8 is replaced).
std::string quote(const json& v) {
  std::string s = v.dump(-1, ' ', false, json::error_handler_t::replace);
  if (s.size() > 40) s = s.substr(0, 37) + "...";
  return s;
}

std::string quote_key(const std::string& key) {
  return quote(json(key));
}

// Cuts a message to one bounded line: control characters become spaces.
std::string one_line(std::string s, std::size_t max = 200) {
  if (s.size() > max) s = s.substr(0, max - 3) + "...";
  for (char& c : s) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) c = ' ';
  }
  return s;
}

// Nesting depth of arrays/objects outside strings; stops counting past `limit`.
bool too_deep(std::string_view line, int limit) {
  int depth = 0;
  bool in_string = false;
  bool escaped = false;
  for (char c : line) {
    if (in_string) {
      if (escaped) {
        escaped = false;
      } else if (c == '\\') {
        escaped = true;
      } else if (c == '"') {
        in_string = false;
      }
      continue;
    }
    if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      if (++depth > limit) return true;
    } else if (c == ']' || c == '}') {
      if (depth > 0) --depth;
    }
  }
  return false;
}

ProtocolError fail(int err, std::string message, const std::string& id) {
  return ProtocolError{err, one_line(std::move(message)), id};
}

// Reads integer field `name` into `out` within [lo, hi]; an error message otherwise.
std::optional<std::string> read_int(const json& v, std::string_view name, std::int64_t lo, std::int64_t hi,
                                    std::int64_t& out) {
  if (v.is_number_unsigned()) {
    const auto u = v.get<std::uint64_t>();
    if (u > static_cast<std::uint64_t>(hi)) return std::string(name) + ": out of range, got " + quote(v);
    out = static_cast<std::int64_t>(u);
    return std::nullopt;
  }
  if (v.is_number_integer()) {
    const auto i = v.get<std::int64_t>();
    if (i < lo || i > hi) return std::string(name) + ": out of range, got " + quote(v);
    out = i;
    return std::nullopt;
  }
  return std::string(name) + ": expected an integer, got " + quote(v);
}

// The request line as a JSON object: its length, depth, syntax and keys checked first.
std::optional<ProtocolError> read_object(std::string_view line, std::size_t max_line, json& doc) {
  if (line.size() > max_line) {
    return fail(E2BIG, "request line longer than " + std::to_string(max_line) + " bytes", "");
  }
  if (too_deep(line, kMaxDepth)) {
    return fail(EINVAL, "malformed request: nested deeper than " + std::to_string(kMaxDepth) + " levels", "");
  }
  std::optional<std::string> duplicate;
  try {
    doc = json_keys::parse(line, duplicate);
  } catch (const json::exception& e) {
    std::string what = e.what();
    if (const auto p = what.find("] "); what.rfind("[json.exception.", 0) == 0 && p != std::string::npos) {
      what.erase(0, p + 2);
    }
    return fail(EINVAL, "malformed JSON: " + what, "");
  }
  if (!doc.is_object()) return fail(EINVAL, "request: expected a JSON object, got " + quote(doc), "");
  // nlohmann would keep the last of two equal keys: `{"op":"fetch","pid":1,"pid":2}` is refused,
  // as a policy is, rather than acted on with one of the two.
  if (duplicate) return fail(EINVAL, *duplicate + ": duplicate key; each key may appear only once", "");
  return std::nullopt;
}

// The request's id and op (into `r` and `info`).
std::optional<ProtocolError> read_id_and_op(const json& doc, Request& r, const OpInfo*& info) {
  if (const auto it = doc.find("id"); it != doc.end()) {
    if (!it->is_string() && !it->is_number()) {
      return fail(EINVAL, "id: expected a string or a number, got " + quote(*it), "");
    }
    r.id = it->dump(-1, ' ', false, json::error_handler_t::replace);
  }
  const auto op_it = doc.find("op");
  if (op_it == doc.end()) return fail(EINVAL, "op: required field missing", r.id);
  if (!op_it->is_string()) return fail(EINVAL, "op: expected a string, got " + quote(*op_it), r.id);
  const auto& op_name = op_it->get_ref<const std::string&>();
  info = nullptr;
  for (const auto& o : kOps) {
    if (o.name == op_name) info = &o;
  }
  if (info == nullptr) return fail(ENOSYS, "op: unknown operation " + quote(*op_it), r.id);
  r.op = info->op;
  return std::nullopt;
}

// ---- request fields: one table, keyed by the field's name --------------------------------
// Each field a request may carry: which operations take it, and how its value is read into
// the Request (nullopt, or what was wrong with it).

using FieldError = std::optional<std::string>;

FieldError read_bool(const json& v, std::string_view key, bool& out) {
  out = v.is_boolean() && v.get<bool>();
  if (!v.is_boolean()) return std::string(key) + ": expected true or false, got " + quote(v);
  return std::nullopt;
}

FieldError read_quota(const json& v, std::string_view key, std::optional<std::int64_t>& out) {
  std::int64_t n = 0;
  FieldError err =
      read_int(v, key, std::numeric_limits<std::int64_t>::min(), std::numeric_limits<std::int64_t>::max(), n);
  out = n;
  return err;
}

// watch's kinds: an array of event names (each at most twice, so the array stays small).
FieldError read_kinds(const json& v, Request& r) {
  if (!v.is_array() || v.empty() || v.size() > 2 * Event::kKinds)
    return "kinds: expected a non-empty array of event names, got " + quote(v);
  for (const auto& k : v) {
    const auto kind = k.is_string() ? parse_event_kind(k.get_ref<const std::string&>()) : std::nullopt;
    if (!kind) return "kinds: unknown event " + quote(k) + " (" + event_kind_names(", ") + ")";
    r.kinds |= WatchFilter::bit(*kind);
  }
  return std::nullopt;
}

struct RequestField {
  std::string_view key;
  bool (*takes)(const OpInfo&);
  FieldError (*read)(const json& value, const OpInfo& op, Request& r);
};

const RequestField kRequestFields[] = {
    {"pid", [](const OpInfo& o) { return o.takes_pid || o.op == Op::watch; },
     [](const json& v, const OpInfo& o, Request& r) {
       std::int64_t n = 0;
       // The target of the operation, or (watch) a filter naming a process.
       const std::int64_t lo = o.takes_pid ? std::numeric_limits<Pid>::min() : 1;
       FieldError err = read_int(v, "pid", lo, std::numeric_limits<Pid>::max(), n);
       r.pid = static_cast<Pid>(n);
       return err;
     }},
    {"heap_quota", [](const OpInfo& o) { return o.takes_quotas; },
     [](const json& v, const OpInfo&, Request& r) { return read_quota(v, "heap_quota", r.heap_quota); }},
    {"heap_quota_bytes", [](const OpInfo& o) { return o.takes_quotas; },
     [](const json& v, const OpInfo&, Request& r) {
       return read_quota(v, "heap_quota_bytes", r.heap_quota_bytes);
     }},
    {"file_quota", [](const OpInfo& o) { return o.takes_quotas; },
     [](const json& v, const OpInfo&, Request& r) { return read_quota(v, "file_quota", r.file_quota); }},
    {"kinds", [](const OpInfo& o) { return o.op == Op::watch; },
     [](const json& v, const OpInfo&, Request& r) { return read_kinds(v, r); }},
    {"format", [](const OpInfo& o) { return o.op == Op::metrics; },
     [](const json& v, const OpInfo&, Request& r) -> FieldError {
       if (v == "openmetrics")
         r.openmetrics = true;
       else if (v != "prometheus")
         return "format: expected \"openmetrics\" or \"prometheus\", got " + quote(v);
       return std::nullopt;
     }},
    {"track", [](const OpInfo& o) { return o.takes_track; },
     [](const json& v, const OpInfo&, Request& r) { return read_bool(v, "track", r.track); }},
    {"scope", [](const OpInfo& o) { return o.takes_track; },
     [](const json& v, const OpInfo&, Request& r) -> FieldError {
       const auto s = v.is_string() ? parse_scope(v.get_ref<const std::string&>()) : std::nullopt;
       r.scope = s.value_or(Scope::job);
       if (!s) return "scope: expected \"job\" or \"process\", got " + quote(v);
       return std::nullopt;
     }},
    {"heap_rule", [](const OpInfo& o) { return o.op == Op::join || o.op == Op::filter; },
     [](const json& v, const OpInfo&, Request& r) -> FieldError {
       const auto h = v.is_string() ? parse_heap_rule(v.get_ref<const std::string&>()) : std::nullopt;
       r.heap_rule = h;
       if (!h) return "heap_rule: expected \"kernel\" or \"commit\", got " + quote(v);
       return std::nullopt;
     }},
    {"replace", [](const OpInfo& o) { return o.op == Op::resource_cap; },
     [](const json& v, const OpInfo&, Request& r) { return read_bool(v, "replace", r.replace); }},
    {"records", [](const OpInfo& o) { return o.op == Op::delegate || o.op == Op::fetch; },
     [](const json& v, const OpInfo&, Request& r) { return read_bool(v, "records", r.records); }},
    {"job", [](const OpInfo& o) { return o.takes_job || o.op == Op::watch; },
     [](const json& v, const OpInfo&, Request& r) {
       std::int64_t n = 0;
       FieldError err = read_int(v, "job", 1, std::numeric_limits<JobId>::max(), n);
       r.job = static_cast<JobId>(n);
       return err;
     }},
};

// Every field but id and op, by the table; the first bad or unknown one is the error.
std::optional<ProtocolError> read_fields(const json& doc, const OpInfo& info, Request& r) {
  for (const auto& [key, value] : doc.items()) {
    if (key == "op" || key == "id") continue;
    const RequestField* field = nullptr;
    for (const RequestField& f : kRequestFields)
      if (f.key == key && f.takes(info)) field = &f;
    const FieldError err = field ? field->read(value, info, r)
                                 : quote_key(key) + ": unknown field for " + std::string(info.name);
    if (err) return fail(EINVAL, *err, r.id);
  }
  return std::nullopt;
}

// What holds between the fields: a pid or a job, not both; one heap quota.
std::optional<ProtocolError> check_together(const json& doc, const OpInfo& info, const Request& r) {
  const bool have_pid = info.takes_pid && doc.contains("pid");
  if (have_pid && r.job) return fail(EINVAL, "pid, job: give one or the other, not both", r.id);
  if (r.records && r.op == Op::fetch && !r.job) return fail(EINVAL, "records: only with job", r.id);
  if (info.takes_pid && !have_pid && !r.job) {
    return fail(EINVAL, "pid: required field missing for " + std::string(info.name), r.id);
  }
  if (r.heap_quota && r.heap_quota_bytes) {
    return fail(EINVAL, "heap_quota, heap_quota_bytes: give one or the other, not both", r.id);
  }
  return std::nullopt;
}

ParseResult parse_impl(std::string_view line, std::size_t max_line) {
  json doc;
  if (auto err = read_object(line, max_line, doc)) return *std::move(err);
  Request r;
  const OpInfo* info = nullptr;
  if (auto err = read_id_and_op(doc, r, info)) return *std::move(err);
  if (auto err = read_fields(doc, *info, r)) return *std::move(err);
  if (auto err = check_together(doc, *info, r)) return *std::move(err);
  return r;
}

void put_id(ojson& j, std::string_view id) {
  if (id.empty()) return;
  ojson v = ojson::parse(id.begin(), id.end(), nullptr, false);
  if (!v.is_discarded()) j["id"] = std::move(v);
}

std::string line_of(const ojson& j) {
  return j.dump(-1, ' ', false, ojson::error_handler_t::replace) + "\n";
}

ojson ok_object(std::string_view id) {
  ojson j;
  j["ok"] = true;
  put_id(j, id);
  return j;
}

// heap_quota in MiB (-1 unlimited), plus heap_quota_bytes when the quota is not a whole MiB.
void put_quotas(ojson& j, const std::optional<std::uint64_t>& heap_bytes,
                const std::optional<std::uint64_t>& files) {
  if (heap_bytes) {
    j["heap_quota"] = *heap_bytes / kMiB;
    if (*heap_bytes % kMiB != 0) j["heap_quota_bytes"] = *heap_bytes;
  } else {
    j["heap_quota"] = -1;
  }
  if (files) {
    j["file_quota"] = *files;
  } else {
    j["file_quota"] = -1;
  }
}

ojson node_object(const Node& n) {
  ojson j;
  j["pid"] = n.pid;
  j["tgid"] = n.tgid;
  j["heapsize"] = n.heapsize;
  j["openfile_count"] = n.openfile_count;
  put_quotas(j, n.heap_quota_bytes, n.file_quota);
  j["heap_rule"] = std::string(to_string(n.heap_rule));
  if (!n.container.empty()) j["container"] = n.container;
  return j;
}

ojson job_violation_object(const JobViolation& v) {
  ojson k;
  k["pid"] = v.pid;
  k["resource"] = std::string(to_string(v.resource));
  k["usage"] = v.usage;
  k["limit"] = v.limit;
  k["heap_rule"] = std::string(to_string(v.rule));
  k["reserved_bytes"] = v.totals.reserved;
  k["unmapped_bytes"] = v.unmapped;
  return k;
}

ojson job_object(const JobView& v) {
  ojson j;
  j["job"] = v.id;
  j["root"] = v.root;
  j["scope"] = std::string(to_string(v.scope));
  j["heap_rule"] = std::string(to_string(v.heap_rule));
  j["tracked"] = v.counting;
  j["heapsize"] = v.usage.heap;
  j["openfile_count"] = v.usage.files;
  put_quotas(j, v.heap_quota_bytes, v.file_quota);
  j["peak_heap_bytes"] = v.peak_heap;
  j["peak_files"] = v.peak_files;
  j["processes"] = v.processes;
  j["live"] = v.live;
  j["killed"] = v.killed ? job_violation_object(*v.killed) : ojson(nullptr);
  if (!v.container.empty()) j["container"] = v.container;
  if (v.parent != 0) j["parent"] = v.parent;
  return j;
}

int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// ---- events: one table for the watch line and its reader --------------------------------
// Each field of an event line: its key, whether an event has it, its value, and how a line's
// value is put back (nullptr when it was, else what was expected). event_line() writes the
// fields in this order and decode_event() reads them in this order: "event" first (the kind
// decides what the rest means), "live" before the violation's fields (a job quota's kill
// has it, a node's has not).

using FieldOk = const char*;  // nullptr: the value was taken; else what was expected

// A killed event's violation, a node's or a job's, seen as the fields they share.
struct ViolationRef {
  Resource* resource;
  std::uint64_t *usage, *limit, *reserved, *unmapped;
  HeapRule* rule;
};
ViolationRef violation_ref(Event& e) {
  if (e.job_violation) {
    JobViolation& v = *e.job_violation;
    return {&v.resource, &v.usage, &v.limit, &v.totals.reserved, &v.unmapped, &v.rule};
  }
  Violation& v = e.violation ? *e.violation : e.violation.emplace();
  return {&v.resource, &v.usage, &v.limit, &v.reserved, &v.unmapped, &v.rule};
}
ViolationRef violation_ref(const Event& e) {
  return violation_ref(const_cast<Event&>(e));  // is_kill(e): one of the two exists, nothing is made
}

bool is_kill(const Event& e) {
  return e.kind == Event::Kind::killed && (e.violation || e.job_violation);
}
bool is_job_kill(const Event& e) {
  return e.kind == Event::Kind::killed && e.job_violation;
}
bool is_heap_kill(const Event& e) {
  return is_kill(e) && *violation_ref(e).resource == Resource::heap;
}
// exec: the program that ran, or every path tried (at most kMaxExecPaths, each a path).
bool is_exec(const Event& e) {
  return e.kind == Event::Kind::exec && !e.exec_paths.empty();
}
constexpr std::size_t kMaxExecPaths = 64;
constexpr std::size_t kMaxPathText = 4096;

bool is_usage(const Event& e) {
  return e.kind == Event::Kind::usage;
}
bool has_quotas(const Event& e) {
  return e.kind == Event::Kind::usage || e.kind == Event::Kind::quota_set;
}

template <class T>
FieldOk take_unsigned(const ojson& v, T& out) {
  if (!v.is_number_unsigned()) return "a non-negative integer";
  const auto u = v.get<std::uint64_t>();
  if (u > std::numeric_limits<T>::max()) return "a smaller integer";
  out = static_cast<T>(u);
  return nullptr;
}
FieldOk take_pid(const ojson& v, Pid& out) {
  return take_unsigned(v, out);
}
FieldOk take_string(const ojson& v, std::string& out, std::size_t max) {
  if (!v.is_string()) return "a string";
  out = v.get_ref<const std::string&>().substr(0, max);
  return nullptr;
}
// A quota: -1 for none, else a count (heap_quota: MiB, refined by heap_quota_bytes).
FieldOk take_quota(const ojson& v, std::optional<std::uint64_t>& out, std::uint64_t scale) {
  if (v.is_number_integer() && !v.is_number_unsigned() && v.get<std::int64_t>() == -1) {
    out.reset();
    return nullptr;
  }
  std::uint64_t u = 0;
  if (take_unsigned(v, u)) return "-1 or a non-negative integer";
  out = u > std::numeric_limits<std::uint64_t>::max() / scale ? std::numeric_limits<std::uint64_t>::max()
                                                              : u * scale;
  return nullptr;
}
// A field of a killed event's violation: read only on a killed event.
template <class T>
FieldOk take_violation(Event& e, const ojson& v, T* ViolationRef::*field) {
  return e.kind == Event::Kind::killed ? take_unsigned(v, *(violation_ref(e).*field)) : nullptr;
}

struct EventField {
  std::string_view key;
  bool (*has)(const Event&);
  ojson (*get)(const Event&);
  FieldOk (*set)(Event&, const ojson&);
};

// The longest container id read back (an OCI id is far shorter).
constexpr std::size_t kMaxContainerText = 1024;

const EventField kEventFields[] = {
    {"event", [](const Event&) { return true; },
     [](const Event& e) { return ojson(std::string(to_string(e.kind))); },
     [](Event& e, const ojson& v) -> FieldOk {
       const auto kind = v.is_string() ? parse_event_kind(v.get_ref<const std::string&>()) : std::nullopt;
       if (!kind) return "an event name";
       e.kind = *kind;
       return nullptr;
     }},
    {"pid", [](const Event&) { return true; }, [](const Event& e) { return ojson(e.pid); },
     [](Event& e, const ojson& v) { return take_pid(v, e.pid); }},
    {"tgid", [](const Event&) { return true; }, [](const Event& e) { return ojson(e.tgid); },
     [](Event& e, const ojson& v) { return take_pid(v, e.tgid); }},
    {"job", [](const Event& e) { return e.job != 0; }, [](const Event& e) { return ojson(e.job); },
     [](Event& e, const ojson& v) { return take_unsigned(v, e.job); }},
    {"time_ns", [](const Event& e) { return e.time_ns != 0; },
     [](const Event& e) { return ojson(e.time_ns); },
     [](Event& e, const ojson& v) { return take_unsigned(v, e.time_ns); }},
    // A target names itself: the name is escaped by the JSON writer (bad UTF-8 replaced).
    {"comm", [](const Event& e) { return e.comm[0] != 0; },
     [](const Event& e) { return ojson(std::string(e.comm, strnlen(e.comm, sizeof e.comm))); },
     [](Event& e, const ojson& v) -> FieldOk {
       std::string s;
       if (FieldOk bad = take_string(v, s, sizeof e.comm - 1)) return bad;
       s.resize(strnlen(s.c_str(), s.size()));  // up to a NUL, as the kernel's comm
       std::memset(e.comm, 0, sizeof e.comm);
       std::memcpy(e.comm, s.data(), s.size());
       if (e.kind == Event::Kind::killed) e.name = s;  // what the kill line calls the process
       return nullptr;
     }},
    // A job quota's kill: how many processes of the job were alive (the job's totals below).
    {"live", is_job_kill, [](const Event& e) { return ojson(e.job_violation->live); },
     [](Event& e, const ojson& v) -> FieldOk {
       if (e.kind != Event::Kind::killed) return nullptr;
       return take_unsigned(v, e.job_violation.emplace().live);
     }},
    {"reason", is_kill,
     [](const Event& e) { return ojson(std::string(to_string(*violation_ref(e).resource))); },
     [](Event& e, const ojson& v) -> FieldOk {
       if (e.kind != Event::Kind::killed) return nullptr;
       if (v != "heap" && v != "files") return "\"heap\" or \"files\"";
       *violation_ref(e).resource = v == "heap" ? Resource::heap : Resource::files;
       return nullptr;
     }},
    {"usage", is_kill, [](const Event& e) { return ojson(*violation_ref(e).usage); },
     [](Event& e, const ojson& v) { return take_violation(e, v, &ViolationRef::usage); }},
    {"limit", is_kill, [](const Event& e) { return ojson(*violation_ref(e).limit); },
     [](Event& e, const ojson& v) { return take_violation(e, v, &ViolationRef::limit); }},
    {"heap_rule", is_heap_kill,
     [](const Event& e) { return ojson(std::string(to_string(*violation_ref(e).rule))); },
     [](Event& e, const ojson& v) -> FieldOk {
       if (e.kind != Event::Kind::killed) return nullptr;
       const auto rule = v.is_string() ? parse_heap_rule(v.get_ref<const std::string&>()) : std::nullopt;
       if (!rule) return "\"kernel\" or \"commit\"";
       *violation_ref(e).rule = *rule;
       return nullptr;
     }},
    {"reserved_bytes", is_heap_kill, [](const Event& e) { return ojson(*violation_ref(e).reserved); },
     [](Event& e, const ojson& v) { return take_violation(e, v, &ViolationRef::reserved); }},
    {"unmapped_bytes", is_heap_kill, [](const Event& e) { return ojson(*violation_ref(e).unmapped); },
     [](Event& e, const ojson& v) { return take_violation(e, v, &ViolationRef::unmapped); }},
    // A usage event's values now; a job quota's kill: the job's totals then.
    {"heapsize", [](const Event& e) { return is_usage(e) || is_job_kill(e); },
     [](const Event& e) {
       return ojson(is_usage(e) ? e.heap_bytes.value_or(0) : e.job_violation->totals.heap);
     },
     [](Event& e, const ojson& v) -> FieldOk {
       if (is_job_kill(e)) return take_unsigned(v, e.job_violation->totals.heap);
       return is_usage(e) ? take_unsigned(v, e.heap_bytes.emplace()) : nullptr;
     }},
    {"openfile_count", [](const Event& e) { return is_usage(e) || is_job_kill(e); },
     [](const Event& e) {
       return ojson(is_usage(e) ? e.open_files.value_or(0) : e.job_violation->totals.files);
     },
     [](Event& e, const ojson& v) -> FieldOk {
       if (is_job_kill(e)) return take_unsigned(v, e.job_violation->totals.files);
       return is_usage(e) ? take_unsigned(v, e.open_files.emplace()) : nullptr;
     }},
    {"heap_quota", has_quotas,
     [](const Event& e) { return e.heap_quota_bytes ? ojson(*e.heap_quota_bytes / kMiB) : ojson(-1); },
     [](Event& e, const ojson& v) {
       return has_quotas(e) ? take_quota(v, e.heap_quota_bytes, kMiB) : nullptr;
     }},
    {"heap_quota_bytes",
     [](const Event& e) { return has_quotas(e) && e.heap_quota_bytes && *e.heap_quota_bytes % kMiB != 0; },
     [](const Event& e) { return ojson(*e.heap_quota_bytes); },
     [](Event& e, const ojson& v) { return has_quotas(e) ? take_quota(v, e.heap_quota_bytes, 1) : nullptr; }},
    {"file_quota", has_quotas, [](const Event& e) { return e.file_quota ? ojson(*e.file_quota) : ojson(-1); },
     [](Event& e, const ojson& v) { return has_quotas(e) ? take_quota(v, e.file_quota, 1) : nullptr; }},
    // exec (issue 24): one event per exec, once its result is known.
    {"path", [](const Event& e) { return is_exec(e) && !e.exec_failed; },
     [](const Event& e) { return ojson(e.exec_paths.back()); },
     [](Event& e, const ojson& v) -> FieldOk {
       if (e.kind != Event::Kind::exec) return nullptr;
       std::string path;
       if (FieldOk bad = take_string(v, path, kMaxPathText)) return bad;
       e.exec_paths.assign(1, std::move(path));
       return nullptr;
     }},
    {"failed", [](const Event& e) { return is_exec(e) && e.exec_failed; },
     [](const Event&) { return ojson(true); },
     [](Event& e, const ojson& v) -> FieldOk {
       if (e.kind != Event::Kind::exec) return nullptr;
       if (!v.is_boolean()) return "true or false";
       e.exec_failed = v.get<bool>();
       return nullptr;
     }},
    {"tried", [](const Event& e) { return is_exec(e) && e.exec_failed; },
     [](const Event& e) { return ojson(e.exec_paths); },
     [](Event& e, const ojson& v) -> FieldOk {
       if (e.kind != Event::Kind::exec) return nullptr;
       if (!v.is_array() || v.size() > kMaxExecPaths) return "an array of at most 64 paths";
       e.exec_paths.clear();
       for (const ojson& p : v) {
         std::string path;
         if (FieldOk bad = take_string(p, path, kMaxPathText)) return bad;
         e.exec_paths.push_back(std::move(path));
       }
       return nullptr;
     }},
    {"container", [](const Event& e) { return !e.container.empty(); },
     [](const Event& e) { return ojson(e.container); },
     [](Event& e, const ojson& v) { return take_string(v, e.container, kMaxContainerText); }},
};

}  // namespace

ojson record_object(const ProcessRecord& r) {
  ojson j;
  j["pid"] = r.pid;
  j["argv0"] = r.argv0;
  j["peak_heap_bytes"] = r.peak_heap;
  j["peak_files"] = r.peak_files;
  j["end"] = std::string(to_string(r.end));
  j["code"] = r.code;
  return j;
}

std::string_view to_string(Op op) {
  for (const auto& o : kOps) {
    if (o.op == op) return o.name;
  }
  return "?";
}

ParseResult parse_request(std::string_view line, std::size_t max_line) noexcept {
  try {
    return parse_impl(line, max_line);
  } catch (const std::bad_alloc&) {
    return ProtocolError{ENOMEM, "out of memory parsing the request", ""};
  } catch (...) {
    return ProtocolError{EINVAL, "malformed request", ""};
  }
}

Result<std::optional<std::uint64_t>> join_heap_bytes(const Request& r) {
  std::optional<std::uint64_t> out;
  if (r.heap_quota_bytes) {
    if (*r.heap_quota_bytes < -1) return Error{EINVAL, "heap_quota: below -1"};
    if (*r.heap_quota_bytes >= 0) out = static_cast<std::uint64_t>(*r.heap_quota_bytes);
  } else if (r.heap_quota) {
    if (*r.heap_quota < -1) return Error{EINVAL, "heap_quota: below -1"};
    if (*r.heap_quota >= kHugeMiB) {
      out = std::numeric_limits<std::uint64_t>::max();
    } else if (*r.heap_quota >= 0) {
      out = static_cast<std::uint64_t>(*r.heap_quota) * kMiB;
    }
  }
  return out;
}

Result<std::optional<std::uint64_t>> join_file_quota(const Request& r) {
  std::optional<std::uint64_t> out;
  if (!r.file_quota) return out;
  if (*r.file_quota < -1) return Error{EINVAL, "file_quota: below -1"};
  if (*r.file_quota >= 0) out = static_cast<std::uint64_t>(*r.file_quota);
  return out;
}

std::string errno_name(int err) {
  if (const char* name = ::strerrorname_np(err)) return name;
  return "errno " + std::to_string(err);
}

std::string ok_response(std::string_view id) {
  return line_of(ok_object(id));
}

std::string error_response(std::string_view id, int err, std::string_view message) {
  ojson j;
  j["ok"] = false;
  put_id(j, id);
  j["errno"] = err;
  j["error"] = errno_name(err);
  j["message"] = message.empty() ? std::string(::strerror(err)) : one_line(std::string(message), 400);
  return line_of(j);
}

std::string error_response(const ProtocolError& e) {
  return error_response(e.id, e.err, e.message);
}

std::string fetch_response(std::string_view id, const Node& n) {
  ojson j = ok_object(id);
  const ojson node = node_object(n);
  for (const auto& [k, v] : node.items()) j[k] = v;
  return line_of(j);
}

std::string list_response(std::string_view id, const std::vector<Node>& nodes,
                          const std::vector<JobView>& jobs) {
  ojson j = ok_object(id);
  ojson arr = ojson::array();
  for (const auto& n : nodes) arr.push_back(node_object(n));
  j["nodes"] = std::move(arr);
  ojson jarr = ojson::array();
  for (const auto& v : jobs) jarr.push_back(job_object(v));
  j["jobs"] = std::move(jarr);
  return line_of(j);
}

std::string job_response(std::string_view id, const JobView& v, const std::vector<ProcessRecord>* records) {
  ojson j = ok_object(id);
  const ojson job = job_object(v);
  for (const auto& [k, val] : job.items()) j[k] = val;
  if (records) {
    j["records"] = ojson::array();
    for (const ProcessRecord& r : *records) j["records"].push_back(record_object(r));
  }
  return line_of(j);
}

std::string version_response(std::string_view id, std::string_view version) {
  ojson j = ok_object(id);
  j["version"] = std::string(version);
  j["protocol"] = kProtocolVersion;
  return line_of(j);
}

std::string filter_response(std::string_view id, const std::vector<sock_filter>& program) {
  ojson j = ok_object(id);
  j["filter"] = encode_filter(program);
  return line_of(j);
}

std::string_view event_name(Event::Kind k) {
  return to_string(k);
}

std::string event_line(const Event& e) {
  ojson j;
  for (const EventField& f : kEventFields)
    if (f.has(e)) j[std::string(f.key)] = f.get(e);
  return line_of(j);
}

Result<Event> decode_event(std::string_view line) noexcept {
  if (line.size() > kMaxLine) {
    return Error{EINVAL, "event line longer than " + std::to_string(kMaxLine) + " bytes"};
  }
  if (too_deep(line, kMaxDepth)) {
    return Error{EINVAL, "event line nested deeper than " + std::to_string(kMaxDepth) + " levels"};
  }
  try {
    const ojson j = ojson::parse(line, nullptr, false);
    if (j.is_discarded() || !j.is_object()) {
      return Error{EINVAL, "event line: not a JSON object"};
    }
    if (!j.contains("event")) {
      return Error{EINVAL, "event line: event: required field missing"};
    }
    Event e;
    for (const EventField& f : kEventFields) {
      const auto it = j.find(f.key);
      if (it == j.end()) continue;  // absent: the event's default (unknown keys are ignored)
      if (const FieldOk expected = f.set(e, *it)) {
        return Error{EINVAL, "event line: " + std::string(f.key) + ": expected " + expected + ", got " +
                                 one_line(it->dump(-1, ' ', false, ojson::error_handler_t::replace), 60)};
      }
    }
    // The violation's process and job are the event's own (as the supervisor emits them).
    if (e.job_violation) e.job_violation->job = e.job, e.job_violation->pid = e.pid;
    if (e.violation) e.violation->node = e.pid, e.violation->tgid = e.tgid;
    return e;
  } catch (const std::exception& ex) {  // bad_alloc, or a JSON type error the table missed
    return Error{EINVAL, std::string("event line: ") + ex.what()};
  }
}

std::string join_response(std::string_view id, JobId job) {
  ojson j = ok_object(id);
  j["job"] = job;
  return line_of(j);
}

std::string end_line(std::string_view reason) {
  ojson j;
  j["event"] = "end";
  j["reason"] = std::string(reason);
  return line_of(j);
}

std::string metrics_response(std::string_view id, bool openmetrics, const std::string& text) {
  ojson j = ok_object(id);
  j["format"] = openmetrics ? "openmetrics" : "prometheus";
  j["text"] = text;
  return line_of(j);
}

std::string encode_filter(const std::vector<sock_filter>& program) {
  std::string out;
  out.reserve(program.size() * 16);
  char buf[17];
  for (const auto& f : program) {
    std::snprintf(buf, sizeof buf, "%04x%02x%02x%08x", static_cast<unsigned>(f.code),
                  static_cast<unsigned>(f.jt), static_cast<unsigned>(f.jf), static_cast<unsigned>(f.k));
    out.append(buf, 16);
  }
  return out;
}

std::optional<std::vector<sock_filter>> decode_filter(std::string_view hex) {
  if (hex.size() % 16 != 0) return std::nullopt;
  std::vector<sock_filter> program;
  program.reserve(hex.size() / 16);
  for (std::size_t i = 0; i < hex.size(); i += 16) {
    std::uint64_t v = 0;
    for (std::size_t d = 0; d < 16; ++d) {
      const int x = hex_digit(hex[i + d]);
      if (x < 0) return std::nullopt;
      v = (v << 4) | static_cast<std::uint64_t>(x);
    }
    sock_filter f{};
    f.code = static_cast<std::uint16_t>(v >> 48);
    f.jt = static_cast<std::uint8_t>(v >> 40);
    f.jf = static_cast<std::uint8_t>(v >> 32);
    f.k = static_cast<std::uint32_t>(v);
    program.push_back(f);
  }
  return program;
}

}  // namespace sandbox::protocol
