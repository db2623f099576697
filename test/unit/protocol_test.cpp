// SPDX-License-Identifier: Apache-2.0
// Unit tests for the control socket's schema (supervisor/control/protocol.*): every op, every field
// error with its message, hostile input (huge numbers, deep nesting, invalid UTF-8, NUL
// bytes, random bytes), and the response, event and filter encodings.
#include "control/protocol.hpp"

#include <doctest/doctest.h>

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <optional>
#include <random>
#include <string>
#include <variant>
#include <vector>

using namespace sandbox;
using namespace sandbox::protocol;
using nlohmann::json;

namespace {

Request ok(std::string_view line) {
  auto r = parse_request(line);
  if (auto* e = std::get_if<ProtocolError>(&r)) FAIL_CHECK("unexpected error: ", e->message, " for ", line);
  REQUIRE(std::holds_alternative<Request>(r));
  return std::get<Request>(r);
}

ProtocolError err(std::string_view line) {
  auto r = parse_request(line);
  REQUIRE_MESSAGE(std::holds_alternative<ProtocolError>(r), "parsed: ", line);
  return std::get<ProtocolError>(r);
}

json as_json(const std::string& line) {
  REQUIRE(!line.empty());
  CHECK(line.back() == '\n');
  CHECK(line.find('\n') == line.size() - 1);
  return json::parse(line);
}

}  // namespace

TEST_CASE("protocol: every op parses") {
  CHECK(ok(R"({"op":"register","pid":12})").op == Op::register_node);
  CHECK(ok(R"({"op":"register","pid":12})").pid == 12);
  CHECK(ok(R"({"op":"fetch","pid":1})").op == Op::fetch);
  CHECK(ok(R"({"op":"deregister","pid":3})").op == Op::deregister);
  CHECK(ok(R"({"op":"resource_reset","pid":4})").op == Op::resource_reset);
  CHECK(ok(R"({"op":"list"})").op == Op::list);
  CHECK(ok(R"({"op":"version"})").op == Op::version);
  CHECK(ok(R"({"op":"watch"})").op == Op::watch);
  CHECK(ok(R"({"op":"filter"})").op == Op::filter);

  const Request cap = ok(R"({"op":"resource_cap","pid":5,"heap_quota":100,"file_quota":10})");
  CHECK(cap.op == Op::resource_cap);
  CHECK(cap.pid == 5);
  CHECK(cap.heap_quota == 100);
  CHECK(!cap.heap_quota_bytes);
  CHECK(cap.file_quota == 10);
  const Request capb = ok(R"({"op":"resource_cap","pid":5,"heap_quota_bytes":4096})");
  CHECK(capb.heap_quota_bytes == 4096);
  CHECK(!capb.heap_quota);
  CHECK(!capb.file_quota);

  const Request join = ok(R"({"op":"join","pid":77,"heap_quota_bytes":1536,"file_quota":3,"track":true})");
  CHECK(join.op == Op::join);
  CHECK(join.pid == 77);
  CHECK(join.track);
  const auto heap = join_heap_bytes(join);
  REQUIRE(heap.ok());
  CHECK(*heap == 1536u);
  const auto files = join_file_quota(join);
  REQUIRE(files.ok());
  CHECK(*files == 3u);
  CHECK(!ok(R"({"op":"join","pid":77})").track);
  // The heap rule of a join and of the filter it installs (docs/memory.md).
  CHECK(!ok(R"({"op":"join","pid":77})").heap_rule);
  CHECK(ok(R"({"op":"join","pid":77,"heap_rule":"commit"})").heap_rule == sandbox::HeapRule::commit);
  CHECK(ok(R"({"op":"filter","heap_rule":"kernel"})").heap_rule == sandbox::HeapRule::kernel);
  CHECK(err(R"({"op":"filter","heap_rule":"rss"})").message ==
        R"(heap_rule: expected "kernel" or "commit", got "rss")");
  CHECK(err(R"({"op":"fetch","pid":1,"heap_rule":"commit"})").message.find("unknown field") !=
        std::string::npos);

  for (auto op : {Op::register_node, Op::fetch, Op::deregister, Op::resource_cap, Op::resource_reset,
                  Op::list, Op::version, Op::watch, Op::filter, Op::join}) {
    const std::string line = R"({"op":")" + std::string(to_string(op)) + R"(","pid":1})";
    auto r = parse_request(line);
    if (auto* req = std::get_if<Request>(&r)) CHECK(req->op == op);
  }
}

TEST_CASE("protocol: id is echoed as JSON text, whitespace and key order do not matter") {
  CHECK(ok(R"({"op":"version","id":7})").id == "7");
  CHECK(ok(R"({"op":"version","id":"abc"})").id == "\"abc\"");
  CHECK(ok(R"({"op":"version"})").id.empty());
  CHECK(ok(" \t{ \"pid\" : 9 , \"op\" : \"fetch\" }\r").pid == 9);
  // An error still carries the id when it could be read.
  CHECK(err(R"({"op":"fetch","id":"x1"})").id == "\"x1\"");
  CHECK(err(R"({"op":"nope","id":3})").id == "3");
  CHECK(err(R"({"op":"fetch","id":[1]})").message == "id: expected a string or a number, got [1]");
  CHECK(err(R"({"op":"fetch","id":null})").err == EINVAL);
}

TEST_CASE("protocol: field errors name the field") {
  CHECK(err(R"({"op":"fetch","pid":"abc"})").message == R"(pid: expected an integer, got "abc")");
  CHECK(err(R"({"op":"fetch","pid":"abc"})").err == EINVAL);
  CHECK(err(R"({"op":"fetch","pid":1.5})").message == "pid: expected an integer, got 1.5");
  CHECK(err(R"({"op":"fetch","pid":true})").message == "pid: expected an integer, got true");
  CHECK(err(R"({"op":"fetch","pid":null})").message == "pid: expected an integer, got null");
  CHECK(err(R"({"op":"fetch","pid":{"a":1}})").message == R"(pid: expected an integer, got {"a":1})");
  CHECK(err(R"({"op":"fetch"})").message == "pid: required field missing for fetch");
  CHECK(err(R"({"op":"register"})").message == "pid: required field missing for register");
  CHECK(err(R"({"op":"join"})").message == "pid: required field missing for join");
  CHECK(err(R"({"pid":1})").message == "op: required field missing");
  CHECK(err(R"({"op":5})").message == "op: expected a string, got 5");
  CHECK(err(R"({"op":"frob"})").err == ENOSYS);
  CHECK(err(R"({"op":"frob"})").message == R"(op: unknown operation "frob")");
  CHECK(err(R"({"op":"FETCH","pid":1})").err == ENOSYS);
  CHECK(err(R"({"op":"fetch","pid":1,"heap_quota":3})").message ==
        R"("heap_quota": unknown field for fetch)");
  CHECK(err(R"({"op":"list","pid":1})").message == R"("pid": unknown field for list)");
  CHECK(err(R"({"op":"resource_cap","pid":1,"heap_qouta":3})").message ==
        R"("heap_qouta": unknown field for resource_cap)");
  CHECK(err(R"({"op":"resource_cap","pid":1,"track":true})").message ==
        R"("track": unknown field for resource_cap)");
  CHECK(err(R"({"op":"resource_cap","pid":1,"heap_quota":"100M"})").message ==
        R"(heap_quota: expected an integer, got "100M")");
  CHECK(err(R"({"op":"resource_cap","pid":1,"file_quota":[]})").message ==
        "file_quota: expected an integer, got []");
  CHECK(err(R"({"op":"resource_cap","pid":1,"heap_quota":1,"heap_quota_bytes":2})").message ==
        "heap_quota, heap_quota_bytes: give one or the other, not both");
  CHECK(err(R"({"op":"join","pid":1,"track":1})").message == "track: expected true or false, got 1");
  // A long value is cut short in the message.
  const ProtocolError longv = err(R"({"op":"fetch","pid":")" + std::string(1000, 'x') + "\"}");
  CHECK(longv.message.size() < 100);
}

TEST_CASE("protocol: duplicate keys are refused, as in a policy, not resolved to the last one") {
  const ProtocolError e = err(R"({"op":"fetch","pid":1,"pid":2})");
  CHECK(e.err == EINVAL);
  CHECK(e.message == "$.pid: duplicate key; each key may appear only once");
  CHECK(err(R"({"op":"fetch","op":"register","pid":1})").message ==
        "$.op: duplicate key; each key may appear only once");
  CHECK(err(R"({"op":"resource_cap","pid":1,"file_quota":1,"file_quota":-1})").err == EINVAL);
  CHECK(err(R"({"op":"watch","kinds":["killed"],"kinds":["usage"]})").err == EINVAL);
  // Equal keys in different objects are no duplicates.
  CHECK(ok(R"({"op":"fetch","pid":1,"id":7})").pid == 1);
}

TEST_CASE("protocol: resource_cap takes replace, a boolean, and nothing else does") {
  const Request r = ok(R"({"op":"resource_cap","pid":4,"heap_quota":10,"replace":true})");
  CHECK(r.op == Op::resource_cap);
  CHECK(r.replace);
  CHECK(*r.heap_quota == 10);
  CHECK_FALSE(ok(R"({"op":"resource_cap","pid":4,"replace":false})").replace);
  CHECK(ok(R"({"op":"resource_cap","job":2,"file_quota":3,"replace":true})").replace);
  CHECK(err(R"({"op":"resource_cap","pid":4,"replace":1})").message ==
        "replace: expected true or false, got 1");
  CHECK(err(R"({"op":"resource_reset","pid":4,"replace":true})").message ==
        R"("replace": unknown field for resource_reset)");
}

TEST_CASE("protocol: join is answered with the new job") {
  CHECK(as_json(join_response("", 7)) == json::parse(R"({"ok":true,"job":7})"));
}

TEST_CASE("protocol: numbers at and beyond the edges") {
  CHECK(ok(R"({"op":"fetch","pid":2147483647})").pid == 2147483647);
  CHECK(ok(R"({"op":"fetch","pid":-2147483648})").pid == -2147483648);
  CHECK(ok(R"({"op":"fetch","pid":0})").pid == 0);  // the Control answers EINVAL/ESRCH as the ABI
  CHECK(ok(R"({"op":"fetch","pid":-1})").pid == -1);
  CHECK(err(R"({"op":"fetch","pid":2147483648})").message == "pid: out of range, got 2147483648");
  CHECK(err(R"({"op":"fetch","pid":-2147483649})").message == "pid: out of range, got -2147483649");
  CHECK(err(R"({"op":"fetch","pid":18446744073709551615})").err == EINVAL);
  CHECK(err(R"({"op":"fetch","pid":1e400})").err == EINVAL);
  CHECK(err(R"({"op":"fetch","pid":123456789012345678901234567890})").err == EINVAL);
  CHECK(err(R"({"op":"fetch","pid":1e3})").message == "pid: expected an integer, got 1000.0");
  CHECK(ok(R"({"op":"resource_cap","pid":1,"heap_quota":9223372036854775807})").heap_quota == INT64_MAX);
  CHECK(ok(R"({"op":"resource_cap","pid":1,"heap_quota":-9223372036854775808})").heap_quota == INT64_MIN);
  CHECK(err(R"({"op":"resource_cap","pid":1,"heap_quota":9223372036854775808})").message ==
        "heap_quota: out of range, got 9223372036854775808");
  // The Control judges values below -1 (EINVAL, as the ABI); join checks them here.
  CHECK(ok(R"({"op":"resource_cap","pid":1,"file_quota":-5})").file_quota == -5);
  const auto below = join_heap_bytes(ok(R"({"op":"join","pid":1,"heap_quota":-2})"));
  CHECK(below.error() == EINVAL);
  CHECK(below.message() == "heap_quota: below -1");
  CHECK(join_file_quota(ok(R"({"op":"join","pid":1,"file_quota":-2})")).message() == "file_quota: below -1");
  const auto unlimited = join_heap_bytes(ok(R"({"op":"join","pid":1,"heap_quota":-1})"));
  REQUIRE(unlimited.ok());
  CHECK(!*unlimited);
  CHECK(join_heap_bytes(ok(R"({"op":"join","pid":1,"heap_quota":100})")).value() == 100u << 20);
  CHECK(join_heap_bytes(ok(R"({"op":"join","pid":1,"heap_quota":17592186044416})")).value() ==
        UINT64_MAX);  // 2^44 MiB
}

TEST_CASE("protocol: malformed and hostile input is an error, never a crash") {
  CHECK(err("").err == EINVAL);
  CHECK(err("not json").message.rfind("malformed JSON: ", 0) == 0);
  CHECK(err(R"({"op":"fetch","pid":1)").err == EINVAL);
  CHECK(err(R"({"op":"fetch","pid":1}})").err == EINVAL);  // trailing junk
  CHECK(err(R"({"op":"fetch","pid":1} {"op":"list"})").err == EINVAL);
  CHECK(err("[1,2,3]").message == "request: expected a JSON object, got [1,2,3]");
  CHECK(err("42").err == EINVAL);
  CHECK(err("\"op\"").err == EINVAL);
  CHECK(err("null").err == EINVAL);
  // Duplicate keys: refused (nlohmann alone would keep the last one).
  CHECK(err(R"({"op":"fetch","pid":1,"pid":2})").err == EINVAL);

  // Nesting: bounded before the parser sees it.
  const std::string deep = std::string(30000, '[') + std::string(30000, ']');
  CHECK(err(deep).err == EINVAL);
  CHECK(err(std::string(60000, '{')).err == EINVAL);
  CHECK(err(R"({"op":"fetch","pid":1,"x":)" + std::string(20, '[') + std::string(20, ']') + "}").err ==
        EINVAL);
  // Brackets inside strings do not count as nesting.
  CHECK(
      err(R"({"op":"fetch","pid":"[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[["})").message.rfind("pid: expected", 0) ==
      0);

  // Invalid UTF-8 and NUL bytes.
  CHECK(err("{\"op\":\"fetch\",\"pid\":\"\xff\xfe\"}").err == EINVAL);
  CHECK(err("{\"op\":\"fe\xc3\x28tch\",\"pid\":1}").err == EINVAL);
  CHECK(err(std::string_view("{\"op\":\"fetch\",\0\"pid\":1}", 24)).err == EINVAL);
  CHECK(err(std::string_view("{\"op\":\"fetch\\u0000\",\"pid\":1}")).err == ENOSYS);
  CHECK(err(std::string_view("\0\0\0\0", 4)).err == EINVAL);
  CHECK(err("{\"op\":\"fetch\x01\",\"pid\":1}").err == EINVAL);  // raw control character in a string

  // Too long: E2BIG, without parsing.
  const std::string huge = R"({"op":"list","x":")" + std::string(kMaxLine, 'a') + "\"}";
  CHECK(err(huge).err == E2BIG);
  CHECK(std::get<ProtocolError>(parse_request(R"({"op":"list"})", 5)).err == E2BIG);

  // Every message is one line and every error serialises as a valid line, whatever the input.
  std::mt19937 rng(12345);
  const std::string alphabet = "{}[]\":,0123456789.eE+-truefalsn \\u\x00\xff\xc3\x80opidhea_qtk";
  for (int i = 0; i < 20000; ++i) {
    std::string line;
    const int len = static_cast<int>(rng() % 64);
    for (int k = 0; k < len; ++k) {
      line += (i % 3 == 0) ? static_cast<char>(rng() & 0xff) : alphabet[rng() % alphabet.size()];
    }
    if (i % 5 == 0) line = R"({"op":"resource_cap","pid":)" + line;
    auto r = parse_request(line);
    if (auto* e = std::get_if<ProtocolError>(&r)) {
      CHECK(e->message.find('\n') == std::string::npos);
      const json j = as_json(error_response(*e));
      CHECK(j["ok"] == false);
    }
  }
}

TEST_CASE("protocol: responses") {
  json j = as_json(ok_response("7"));
  CHECK(j == json{{"ok", true}, {"id", 7}});
  CHECK(ok_response("").find("\"id\"") == std::string::npos);
  CHECK(ok_response("\"a\"") == "{\"ok\":true,\"id\":\"a\"}\n");

  j = as_json(error_response("", EINVAL, "not registered"));
  CHECK(j == json{{"ok", false}, {"errno", 22}, {"error", "EINVAL"}, {"message", "not registered"}});
  CHECK(error_response("1", ENFILE, "x") ==
        "{\"ok\":false,\"id\":1,\"errno\":23,\"error\":\"ENFILE\",\"message\":\"x\"}\n");
  CHECK(as_json(error_response("", EPERM, ""))["message"] == "Operation not permitted");
  CHECK(as_json(error_response("", ESRCH, "a\nb"))["message"] == "a b");
  CHECK(errno_name(E2BIG) == "E2BIG");
  CHECK(errno_name(ENOSYS) == "ENOSYS");
  CHECK(errno_name(4242) == "errno 4242");

  Node n;
  n.pid = 12;
  n.tgid = 10;
  n.heapsize = 8192;
  n.openfile_count = 3;
  j = as_json(fetch_response("", n));
  CHECK(j == json{{"ok", true},
                  {"pid", 12},
                  {"tgid", 10},
                  {"heapsize", 8192},
                  {"openfile_count", 3},
                  {"heap_quota", -1},
                  {"file_quota", -1},
                  {"heap_rule", "kernel"}});
  n.heap_quota_bytes = 100u << 20;
  n.file_quota = 10;
  j = as_json(fetch_response("\"q\"", n));
  CHECK(j["id"] == "q");
  CHECK(j["heap_quota"] == 100);
  CHECK(!j.contains("heap_quota_bytes"));
  CHECK(j["file_quota"] == 10);
  n.heap_quota_bytes = (1u << 20) + 512;
  j = as_json(fetch_response("", n));
  CHECK(j["heap_quota"] == 1);
  CHECK(j["heap_quota_bytes"] == (1u << 20) + 512);

  Node m;
  m.pid = 13;
  m.tgid = 10;
  m.heap_rule = HeapRule::commit;  // a node of a commit-rule job says so (issue 24)
  j = as_json(list_response("2", {n, m}));
  CHECK(j["ok"] == true);
  CHECK(j["id"] == 2);
  REQUIRE(j["nodes"].size() == 2);
  CHECK(j["nodes"][0]["pid"] == 12);
  CHECK(j["nodes"][0]["heap_quota_bytes"] == (1u << 20) + 512);
  CHECK(j["nodes"][1] == json{{"pid", 13},
                              {"tgid", 10},
                              {"heapsize", 0},
                              {"openfile_count", 0},
                              {"heap_quota", -1},
                              {"file_quota", -1},
                              {"heap_rule", "commit"}});
  CHECK(as_json(list_response("", {}))["nodes"] == json::array());

  j = as_json(version_response("", "1.2.3"));
  CHECK(j == json{{"ok", true}, {"version", "1.2.3"}, {"protocol", kProtocolVersion}});
}

TEST_CASE("protocol: events") {
  Event e;
  e.kind = Event::Kind::registered;
  e.pid = 5;
  e.tgid = 4;
  CHECK(as_json(event_line(e)) == json{{"event", "registered"}, {"pid", 5}, {"tgid", 4}});
  CHECK(event_line(e).rfind("{\"event\":\"registered\"", 0) == 0);

  // exec: one event per exec, the program that ran or every path tried (issue 24).
  Event x;
  x.kind = Event::Kind::exec;
  x.pid = x.tgid = 6;
  x.exec_paths = {"/usr/bin/true"};
  CHECK(as_json(event_line(x)) ==
        json{{"event", "exec"}, {"pid", 6}, {"tgid", 6}, {"path", "/usr/bin/true"}});
  x.exec_failed = true;
  x.exec_paths = {"/a/x", "/b/x"};
  CHECK(as_json(event_line(x)) ==
        json{{"event", "exec"}, {"pid", 6}, {"tgid", 6}, {"failed", true}, {"tried", {"/a/x", "/b/x"}}});

  e.kind = Event::Kind::killed;
  e.violation = Violation{5, 4, Resource::heap, 105107456, 104857600};
  CHECK(as_json(event_line(e)) == json{{"event", "killed"},
                                       {"pid", 5},
                                       {"tgid", 4},
                                       {"reason", "heap"},
                                       {"usage", 105107456},
                                       {"limit", 104857600},
                                       {"heap_rule", "kernel"},
                                       {"reserved_bytes", 0},
                                       {"unmapped_bytes", 0}});
  e.violation = Violation{5, 4, Resource::files, 11, 10};
  CHECK_FALSE(as_json(event_line(e)).contains("heap_rule"));  // a heap kill's only
  CHECK(as_json(event_line(e))["reason"] == "files");

  e = Event{};
  e.kind = Event::Kind::quota_set;
  e.pid = 9;
  e.tgid = 9;
  e.heap_quota_bytes = 2u << 20;
  CHECK(as_json(event_line(e)) ==
        json{{"event", "quota_set"}, {"pid", 9}, {"tgid", 9}, {"heap_quota", 2}, {"file_quota", -1}});
  e.file_quota = 4;
  e.heap_quota_bytes = 1000;
  CHECK(as_json(event_line(e)) == json{{"event", "quota_set"},
                                       {"pid", 9},
                                       {"tgid", 9},
                                       {"heap_quota", 0},
                                       {"heap_quota_bytes", 1000},
                                       {"file_quota", 4}});

  for (auto k :
       {Event::Kind::deregistered, Event::Kind::exited, Event::Kind::quota_reset, Event::Kind::joined}) {
    e = Event{};
    e.kind = k;
    CHECK(as_json(event_line(e))["event"] == std::string(event_name(k)));
  }
  CHECK(event_name(Event::Kind::joined) == "joined");
  CHECK(event_name(Event::Kind::quota_reset) == "quota_reset");
}

TEST_CASE("event kinds: every kind's name comes from one table and reads back as that kind") {
  std::string names;
  for (int i = 0; i < Event::kKinds; ++i) {
    const auto k = static_cast<Event::Kind>(i);
    const std::string name = to_string(k);
    CAPTURE(i);
    CHECK(name != "event");  // the fallback of a kind without a row
    CHECK(name == event_name(k));
    REQUIRE(parse_event_kind(name).has_value());
    CHECK(*parse_event_kind(name) == k);
    // On the wire both ways: the event line's name, and a watch asking for that kind.
    Event e;
    e.kind = k;
    const auto back = decode_event(event_line(e));
    REQUIRE_MESSAGE(back.ok(), back.text());
    CHECK(back->kind == k);
    const auto r = parse_request(R"({"op":"watch","kinds":[")" + name + R"("]})");
    REQUIRE(std::holds_alternative<Request>(r));
    CHECK(std::get<Request>(r).kinds == WatchFilter::bit(k));
    names += (names.empty() ? "" : ", ") + name;
  }
  CHECK(event_kind_names(", ") == names);
  CHECK_FALSE(parse_event_kind("end").has_value());
  CHECK_FALSE(parse_event_kind("").has_value());
  // An unknown kind's error lists them all, from the same table.
  const auto bad = parse_request(R"({"op":"watch","kinds":["bogus"]})");
  REQUIRE(std::holds_alternative<ProtocolError>(bad));
  CHECK(std::get<ProtocolError>(bad).message == "kinds: unknown event \"bogus\" (" + names + ")");
  CHECK(names == "registered, deregistered, exited, killed, quota_set, quota_reset, joined, exec, usage");
}

namespace {

// Every kind of event the supervisor emits, with every field it can carry.
std::vector<Event> sample_events() {
  std::vector<Event> out;
  const auto named = [](Event e, const char* comm) {
    std::snprintf(e.comm, sizeof e.comm, "%s", comm);
    e.time_ns = 1'700'000'000'123'456'789u;
    return e;
  };
  for (int k = 0; k < Event::kKinds; ++k)
    out.push_back(named(Event{static_cast<Event::Kind>(k), 7, 6}, "sh"));
  Event node_kill{Event::Kind::killed, 5, 4};
  node_kill.violation = Violation{5, 4, Resource::heap, 105107456, 104857600, HeapRule::commit, 4096, 8192};
  node_kill.job = 3;
  out.push_back(named(node_kill, "python3"));
  node_kill.violation = Violation{5, 4, Resource::files, 11, 10};
  out.push_back(named(node_kill, "python3"));
  Event job_kill{Event::Kind::killed, 9551, 9551};
  job_kill.job = 2;
  JobViolation v;
  v.job = 2, v.pid = 9551, v.resource = Resource::heap, v.usage = 107728896, v.limit = 104857600;
  v.totals = {107728896, 5, 12288}, v.live = 5, v.rule = HeapRule::kernel, v.unmapped = 4096;
  job_kill.job_violation = v;
  job_kill.name = "python3";
  out.push_back(named(job_kill, "python3"));
  v.resource = Resource::files;
  job_kill.job_violation = v;
  out.push_back(named(job_kill, "python3"));
  Event usage{Event::Kind::usage, 0, 0};
  usage.job = 2, usage.heap_bytes = 30u << 20, usage.open_files = 4;
  usage.heap_quota_bytes = (64u << 20) + 1, usage.file_quota = 100;
  usage.container = "ctr-1";
  out.push_back(named(usage, "make"));
  Event quota{Event::Kind::quota_set, 8, 8};
  quota.heap_quota_bytes = 2u << 20;
  out.push_back(quota);
  Event ran{Event::Kind::exec, 12, 12};
  ran.exec_paths = {"/usr/bin/cc"};
  out.push_back(named(ran, "cc"));
  Event failed{Event::Kind::exec, 13, 13};
  failed.exec_failed = true;
  failed.exec_paths = {"/a/cc1", "/b/cc1"};
  out.push_back(failed);
  return out;
}

}  // namespace

TEST_CASE("protocol: an event line reads back as the event it was written from") {
  for (const Event& e : sample_events()) {
    const std::string line = event_line(e);
    INFO(line);
    const auto back = decode_event(line.substr(0, line.size() - 1));
    REQUIRE_MESSAGE(back.ok(), back.message());
    CHECK(back.message().empty());
    CHECK(event_line(*back) == line);  // every field the line carries, in the table's order
    CHECK(back->kind == e.kind);
    CHECK(back->exec_paths == e.exec_paths);
    CHECK(back->exec_failed == e.exec_failed);
    CHECK(back->pid == e.pid);
    CHECK(back->tgid == e.tgid);
    CHECK(back->job == e.job);
    CHECK(back->time_ns == e.time_ns);
    CHECK(std::string(back->comm) == std::string(e.comm));
    CHECK(back->violation.has_value() == e.violation.has_value());
    CHECK(back->job_violation.has_value() == e.job_violation.has_value());
    if (e.job_violation) {
      const JobViolation &a = *back->job_violation, &b = *e.job_violation;
      CHECK(a.job == b.job);
      CHECK(a.pid == b.pid);
      CHECK(a.resource == b.resource);
      CHECK(a.usage == b.usage);
      CHECK(a.limit == b.limit);
      CHECK(a.totals.heap == b.totals.heap);
      CHECK(a.totals.files == b.totals.files);
      CHECK(a.live == b.live);
      CHECK(back->name == e.name);
      if (b.resource == Resource::heap) CHECK(a.unmapped == b.unmapped);
    }
    if (e.violation) {
      CHECK(back->violation->node == e.violation->node);
      CHECK(back->violation->resource == e.violation->resource);
      CHECK(back->violation->usage == e.violation->usage);
      CHECK(back->violation->limit == e.violation->limit);
      if (e.violation->resource == Resource::heap) {
        CHECK(back->violation->rule == e.violation->rule);
        CHECK(back->violation->reserved == e.violation->reserved);
      }
    }
    if (e.kind == Event::Kind::usage || e.kind == Event::Kind::quota_set) {
      CHECK(back->heap_quota_bytes == e.heap_quota_bytes);
      CHECK(back->file_quota == e.file_quota);
    }
    if (e.kind == Event::Kind::usage) {
      CHECK(back->heap_bytes.value_or(0) == e.heap_bytes.value_or(0));
      CHECK(back->open_files.value_or(0) == e.open_files.value_or(0));
    }
    CHECK(back->container == e.container);
  }
}

TEST_CASE("protocol: a bad event line is a one-line error, never an event") {
  const char* bad[] = {
      "",
      "not json",
      "[1,2]",
      "{}",
      R"({"event":"end","reason":"done"})",
      R"({"event":"killed","pid":-4,"tgid":4})",
      R"({"event":"killed","pid":"4"})",
      R"({"event":"usage","pid":0,"tgid":0,"heapsize":-1})",
      R"({"event":"usage","pid":0,"tgid":0,"heap_quota":-2})",
      R"({"event":"killed","pid":1,"tgid":1,"reason":"cpu"})",
      R"({"event":"killed","pid":1,"tgid":1,"live":1.5})",
      R"({"event":"exec","pid":99999999999,"tgid":1})",
      R"({"event":"exec","pid":1,"tgid":1,"comm":7})",
      R"({"event":"usage","pid":1,"tgid":1,"job":4294967296})",
  };
  for (const char* line : bad) {
    INFO(line);
    const auto e = decode_event(line);
    CHECK_FALSE(e.ok());
    CHECK(e.error() == EINVAL);
    CHECK_FALSE(e.message().empty());
    CHECK(e.message().find('\n') == std::string::npos);
  }
  const auto deep = decode_event(std::string(100, '[') + std::string(100, ']'));
  CHECK_FALSE(deep.ok());
  CHECK(deep.message().find("deeper") != std::string::npos);
  const auto bad_pid = decode_event(R"({"event":"exec","pid":"x"})");
  CHECK_FALSE(bad_pid.ok());
  CHECK(bad_pid.message() == "event line: pid: expected a non-negative integer, got \"x\"");
  // Keys it does not know are ignored (a newer supervisor may send more); a comm is cut at 15.
  const auto e =
      decode_event(R"({"event":"exec","pid":3,"tgid":3,"extra":[1],"comm":"a-very-long-name-here"})");
  REQUIRE(e.ok());
  CHECK(std::string(e->comm) == "a-very-long-nam");
  // a node's kill: no "live"
  const auto k = decode_event(R"({"event":"killed","pid":5,"tgid":4,"reason":"files","usage":3,"limit":2})");
  REQUIRE(k.ok());
  REQUIRE(k->violation.has_value());
  CHECK_FALSE(k->job_violation.has_value());
  CHECK(k->violation->node == 5);
  CHECK(k->violation->resource == Resource::files);
}

TEST_CASE("protocol: the BPF program as hex") {
  const std::vector<sock_filter> prog = {{0x20, 0, 0, 0x00000004},
                                         {0x15, 1, 0, 0xc000003e},
                                         {0x06, 0, 0, 0x7fff0000},
                                         {0xffff, 0xff, 0xff, 0xffffffff}};
  const std::string hex = encode_filter(prog);
  CHECK(hex.size() == 16 * prog.size());
  CHECK(hex.substr(0, 32) == "002000000000000400150100c000003e");
  const auto back = decode_filter(hex);
  REQUIRE(back);
  REQUIRE(back->size() == prog.size());
  for (std::size_t i = 0; i < prog.size(); ++i) {
    CHECK((*back)[i].code == prog[i].code);
    CHECK((*back)[i].jt == prog[i].jt);
    CHECK((*back)[i].jf == prog[i].jf);
    CHECK((*back)[i].k == prog[i].k);
  }
  CHECK(decode_filter("0020000000000004")->size() == 1);
  CHECK(decode_filter("00200000000000A4")->front().k == 0xa4);
  CHECK(!decode_filter("002000000000000"));
  CHECK(!decode_filter("002000000000000g"));
  CHECK(decode_filter("")->empty());
  const json j = as_json(filter_response("1", prog));
  CHECK(j["filter"] == hex);
  CHECK(j["id"] == 1);
}

TEST_CASE("protocol: delegate (issue 20) takes a pid, quotas, track, records; fetch of a job takes records") {
  const Request r = ok(
      R"({"op":"delegate","pid":42,"heap_quota_bytes":1048576,"file_quota":-1,"track":true,"records":true})");
  CHECK(r.op == Op::delegate);
  CHECK(to_string(r.op) == "delegate");
  CHECK(r.pid == 42);
  CHECK(*r.heap_quota_bytes == 1048576);
  CHECK(r.track);
  CHECK(r.records);
  CHECK(err(R"({"op":"delegate"})").message == "pid: required field missing for delegate");
  CHECK(err(R"({"op":"delegate","job":1})").err == EINVAL);
  CHECK(err(R"({"op":"delegate","pid":4,"records":1})").message == "records: expected true or false, got 1");
  CHECK(ok(R"({"op":"fetch","job":2,"records":true})").records);
  CHECK(err(R"({"op":"fetch","pid":2,"records":true})").message == "records: only with job");
  CHECK(err(R"({"op":"list","records":true})").message == R"("records": unknown field for list)");
  // the answer is the new job, with its parent; fetch with records lists the processes
  JobView v;
  v.id = 3, v.parent = 1, v.heap_quota_bytes = 5 << 20;
  const json j = as_json(job_response("", v));
  CHECK(j["job"] == 3);
  CHECK(j["parent"] == 1);
  CHECK(j["heap_quota"] == 5);
  CHECK_FALSE(j.contains("records"));
  const std::vector<ProcessRecord> recs{{7, "sh", 4096, 1, Ending::exit, 0}};
  const json k = as_json(job_response("", v, &recs));
  REQUIRE(k["records"].size() == 1);
  CHECK(k["records"][0]["argv0"] == "sh");
  CHECK(k["records"][0]["end"] == "exit");
}
