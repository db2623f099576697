// SPDX-License-Identifier: Apache-2.0
// fuzz_protocol: libFuzzer harness for the control socket's request parser (issue 6).
// Any bytes go to sandbox::protocol::parse_request(); the contract checked (protocol.hpp,
// docs/protocol.md): it never throws, never crashes, and
//   - an error carries one of the documented errno values and a bounded one-line message;
//   - its error response is one JSON line that echoes the request's id;
//   - a parsed request, written back as JSON, parses again to the same request;
//   - decode_filter() on the same bytes either refuses them or round-trips through
//     encode_filter();
//   - decode_event() on the same bytes (a watch line from the outer supervisor, read by a
//     nested run) either refuses them with a one-line error or gives an event whose line
//     reads back to the same line.
// A failed check aborts, which libFuzzer reports as a crash with the input saved.
#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <variant>

#include "control/protocol.hpp"

namespace {

using sandbox::Event;
using sandbox::protocol::ParseResult;
using sandbox::protocol::ProtocolError;
using sandbox::protocol::Request;
using json = nlohmann::json;

[[noreturn]] void violated(const char* what, std::string_view detail) {
  std::fprintf(stderr, "fuzz_protocol: contract violated: %s: %.*s\n", what, static_cast<int>(detail.size()),
               detail.data());
  std::abort();
}

void check(bool ok, const char* what, std::string_view detail = {}) {
  if (!ok) violated(what, detail);
}

// A response or event line: exactly one '\n', at the end, and a JSON object before it.
json check_line(const std::string& line) {
  check(!line.empty() && line.back() == '\n', "response does not end in a newline", line);
  check(line.find('\n') == line.size() - 1, "response spans more than one line", line);
  json j = json::parse(line, nullptr, false);
  check(j.is_object(), "response is not a JSON object", line);
  return j;
}

void check_id_echoed(const json& response, const std::string& id, const std::string& line) {
  if (id.empty()) {
    check(!response.contains("id"), "response has an id the request did not", line);
    return;
  }
  const json expected = json::parse(id, nullptr, false);
  check(!expected.is_discarded(), "request id is not JSON text", id);
  check(response.contains("id") && response["id"] == expected, "response does not echo the id", line);
}

void check_error(const ProtocolError& e) {
  check(e.err == EINVAL || e.err == ENOSYS || e.err == E2BIG || e.err == ENOMEM, "undocumented errno",
        e.message);
  check(!e.message.empty() && e.message.size() <= 200, "message empty or unbounded", e.message);
  for (const char c : e.message) {
    check(static_cast<unsigned char>(c) >= 0x20 && c != 0x7f, "control character in message", e.message);
  }
  const std::string line = sandbox::protocol::error_response(e);
  const json j = check_line(line);
  check(j.value("ok", true) == false && j.value("errno", 0) == e.err, "error response fields", line);
  check_id_echoed(j, e.id, line);
}

// The request written back as a line, as a client would send it.
std::string to_line(const Request& r) {
  json j;
  j["op"] = std::string(sandbox::protocol::to_string(r.op));
  if (!r.id.empty()) j["id"] = json::parse(r.id);
  switch (r.op) {
    case sandbox::protocol::Op::register_node:
    case sandbox::protocol::Op::fetch:
    case sandbox::protocol::Op::deregister:
    case sandbox::protocol::Op::resource_cap:
    case sandbox::protocol::Op::resource_reset:
    case sandbox::protocol::Op::join:
    case sandbox::protocol::Op::delegate:
      if (!r.job) j["pid"] = r.pid;  // a job instead of a pid: one or the other
      break;
    case sandbox::protocol::Op::watch:  // the filter: a pid (0: none), a job, the kinds
      if (r.pid != 0) j["pid"] = r.pid;
      if (r.kinds != 0) {
        json kinds = json::array();
        for (int i = 0; i < Event::kKinds; ++i)
          if (r.kinds & (1u << i)) kinds.push_back(sandbox::to_string(static_cast<Event::Kind>(i)));
        j["kinds"] = kinds;
      }
      break;
    case sandbox::protocol::Op::metrics: j["format"] = r.openmetrics ? "openmetrics" : "prometheus"; break;
    default: break;
  }
  if (r.job) j["job"] = *r.job;
  if (r.heap_quota) j["heap_quota"] = *r.heap_quota;
  if (r.heap_quota_bytes) j["heap_quota_bytes"] = *r.heap_quota_bytes;
  if (r.file_quota) j["file_quota"] = *r.file_quota;
  if (r.op == sandbox::protocol::Op::join || r.op == sandbox::protocol::Op::delegate) {
    j["track"] = r.track;
    j["scope"] = std::string(sandbox::to_string(r.scope));
  }
  if (r.op == sandbox::protocol::Op::resource_cap) j["replace"] = r.replace;
  if (r.records) j["records"] = true;
  return j.dump(-1, ' ', false, json::error_handler_t::replace);
}

void check_request(const Request& r) {
  check(r.heap_quota.has_value() + r.heap_quota_bytes.has_value() < 2, "both heap quotas accepted");
  const std::string ok = sandbox::protocol::ok_response(r.id);
  check_id_echoed(check_line(ok), r.id, ok);

  const std::string again_line = to_line(r);
  const ParseResult again = sandbox::protocol::parse_request(again_line);
  const auto* r2 = std::get_if<Request>(&again);
  check(r2 != nullptr, "a parsed request written back does not parse", again_line);
  check(r2->op == r.op && r2->pid == r.pid && r2->heap_quota == r.heap_quota &&
            r2->heap_quota_bytes == r.heap_quota_bytes && r2->file_quota == r.file_quota &&
            r2->track == r.track && r2->kinds == r.kinds && r2->openmetrics == r.openmetrics &&
            r2->job == r.job && r2->scope == r.scope && r2->replace == r.replace && r2->records == r.records,
        "a parsed request written back parses differently", again_line);
  check(json::parse(r2->id, nullptr, false) == json::parse(r.id, nullptr, false) || r.id.empty(),
        "id changed in the round trip", again_line);

  (void)sandbox::protocol::join_heap_bytes(r);
  (void)sandbox::protocol::join_file_quota(r);
}

void check_filter_text(std::string_view text) {
  const auto program = sandbox::protocol::decode_filter(text);
  if (!program) return;
  check(program->size() * 16 == text.size(), "decoded filter has the wrong length", text);
  const std::string encoded = sandbox::protocol::encode_filter(*program);
  check(encoded.size() == text.size(), "filter round trip changed the length", text);
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char lower = (text[i] >= 'A' && text[i] <= 'F') ? static_cast<char>(text[i] - 'A' + 'a') : text[i];
    check(encoded[i] == lower, "filter round trip changed a digit", text);
  }
}

void check_event_text(std::string_view text) {
  const auto e = sandbox::protocol::decode_event(text);
  if (!e.ok()) {
    const std::string& err = e.message();
    check(!err.empty() && err.find('\n') == std::string::npos, "event error empty or not one line", err);
    return;
  }
  const std::string line = sandbox::protocol::event_line(*e);
  check_line(line);
  const auto again = sandbox::protocol::decode_event(std::string_view(line).substr(0, line.size() - 1));
  check(again.ok(), "an event written back does not read back", line);
  check(sandbox::protocol::event_line(*again) == line, "an event written back reads back differently", line);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view line(reinterpret_cast<const char*>(data), size);

  const ParseResult result = sandbox::protocol::parse_request(line);
  if (const auto* e = std::get_if<ProtocolError>(&result)) {
    check_error(*e);
  } else {
    check_request(std::get<Request>(result));
  }

  // The same bytes against a small line limit: E2BIG past it, the same answer below it.
  const ParseResult small = sandbox::protocol::parse_request(line, 64);
  if (size > 64) {
    const auto* e = std::get_if<ProtocolError>(&small);
    check(e != nullptr && e->err == E2BIG, "a line over the limit was not E2BIG", line);
  } else {
    check(small.index() == result.index(), "the line limit changed the answer for a short line", line);
  }

  check_filter_text(line);
  check_event_text(line);
  return 0;
}
