// SPDX-License-Identifier: Apache-2.0
// Unit tests for the policy parser (supervisor/policy/policy.*): every field, every error path
// (with the exact JSON path in the message), the SIZE grammar, and the shipped policies.
#include "policy/policy.hpp"

#include <doctest/doctest.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "policy/syscalls.hpp"

#ifndef SANDBOX_SOURCE_DIR
#error "compile with -DSANDBOX_SOURCE_DIR=\"/path/to/source\""
#endif

using sandbox::load_policy_file;
using sandbox::parse_policy;
using sandbox::parse_size;
using sandbox::Policy;
using sandbox::PolicyError;

namespace {

constexpr std::uint64_t kKiB = 1024;
constexpr std::uint64_t kMiB = 1024 * kKiB;
constexpr std::uint64_t kGiB = 1024 * kMiB;

// The message of the PolicyError that parsing `text` throws ("" if it parses).
std::string error_of(const std::string& text) {
  try {
    parse_policy(text, "p.json");
  } catch (const PolicyError& e) {
    return e.what();
  }
  return "";
}

// Parses `{"version": 1, <body>}`.
Policy with(const std::string& body) {
  return parse_policy("{\"version\": 1, " + body + "}", "p.json");
}
std::string error_with(const std::string& body) {
  return error_of("{\"version\": 1, " + body + "}");
}

// Checks that the message starts with `p.json: <path>: ` and is one line.
void check_path(const std::string& message, const std::string& path) {
  INFO("message: " << message);
  CHECK(message.rfind("p.json: " + path + ": ", 0) == 0);
  CHECK(message.find('\n') == std::string::npos);
}

}  // namespace

TEST_CASE("policy: the minimal policy gives every default") {
  const Policy p = parse_policy(R"({"version": 1})", "p.json");
  CHECK_FALSE(p.heap_quota_bytes.has_value());
  CHECK_FALSE(p.file_quota.has_value());
  CHECK_FALSE(p.track);
  CHECK(p.abi_enabled);
  CHECK(p.abi_numbers == sandbox::kDefaultAbiNumbers);
  CHECK(p.notify_brk);
  CHECK(p.notify_mmap);
  CHECK(p.notify_open);
  CHECK(p.notify_close);
  CHECK_FALSE(p.allow_io_uring);
}

TEST_CASE("policy: quotas") {
  CHECK(*with(R"("heap_quota": "100M")").heap_quota_bytes == 100 * kMiB);
  CHECK(*with(R"("heap_quota": "512k")").heap_quota_bytes == 512 * kKiB);
  CHECK(*with(R"("heap_quota": "2GiB")").heap_quota_bytes == 2 * kGiB);
  CHECK(*with(R"("heap_quota": "7")").heap_quota_bytes == 7 * kMiB);
  CHECK(*with(R"("heap_quota": 100)").heap_quota_bytes == 100 * kMiB);
  CHECK(*with(R"("heap_quota": 0)").heap_quota_bytes == 0);
  CHECK(*with(R"("heap_quota": "0")").heap_quota_bytes == 0);
  CHECK_FALSE(with(R"("heap_quota": null)").heap_quota_bytes.has_value());
  CHECK_FALSE(with(R"("track": false)").heap_quota_bytes.has_value());
  // "unlimited" and -1 wherever a quota is taken (docs/cli.md), as null.
  CHECK_FALSE(with(R"("heap_quota": "unlimited")").heap_quota_bytes.has_value());
  CHECK_FALSE(with(R"("heap_quota": -1)").heap_quota_bytes.has_value());
  CHECK_FALSE(with(R"("file_quota": "unlimited")").file_quota.has_value());
  CHECK_FALSE(with(R"("file_quota": -1)").file_quota.has_value());
  CHECK(*with(R"("file_quota": 10)").file_quota == 10);
  CHECK(*with(R"("file_quota": 0)").file_quota == 0);
  CHECK_FALSE(with(R"("file_quota": null)").file_quota.has_value());
  const Policy both = with(R"("heap_quota": "1G", "file_quota": 64)");
  CHECK(*both.heap_quota_bytes == kGiB);
  CHECK(*both.file_quota == 64);
  // The largest heap number of MiB that fits in 64 bits of bytes.
  CHECK(*with(R"("heap_quota": 17592186044415)").heap_quota_bytes == 17592186044415ULL << 20);
}

TEST_CASE("policy: track, abi, notify, io_uring") {
  CHECK(with(R"("track": true)").track);
  CHECK_FALSE(with(R"("track": false)").track);
  CHECK_FALSE(with(R"("abi": {"enabled": false})").abi_enabled);
  CHECK(with(R"("abi": {"enabled": true})").abi_enabled);
  CHECK(with(R"("abi": {})").abi_numbers == sandbox::kDefaultAbiNumbers);

  const Policy moved = with(
      R"("abi": {"numbers": {"register": 1000, "fetch": 1001, "deregister": 1002,
                             "resource_cap": 1003, "resource_reset": 1004}})");
  CHECK(moved.abi_numbers == std::array<int, 5>{1000, 1001, 1002, 1003, 1004});
  CHECK(moved.abi_enabled);
  // A partial table keeps the defaults for the others.
  CHECK(with(R"("abi": {"numbers": {"fetch": 0}})").abi_numbers == std::array<int, 5>{451, 0, 453, 454, 455});
  CHECK(with(R"("abi": {"numbers": {"resource_reset": 1023}})").abi_numbers ==
        std::array<int, 5>{451, 452, 453, 454, 1023});

  const Policy quiet = with(R"("notify": {"brk": false, "mmap": false, "open": false, "close": false})");
  CHECK_FALSE(quiet.notify_brk);
  CHECK_FALSE(quiet.notify_mmap);
  CHECK_FALSE(quiet.notify_open);
  CHECK_FALSE(quiet.notify_close);
  const Policy only_mmap = with(R"("notify": {"brk": false})");
  CHECK_FALSE(only_mmap.notify_brk);
  CHECK(only_mmap.notify_mmap);
  CHECK(only_mmap.notify_open);

  CHECK(with(R"("io_uring": "allow")").allow_io_uring);
  CHECK_FALSE(with(R"("io_uring": "deny")").allow_io_uring);
  CHECK(with(R"("description": "anything")").abi_enabled);
}

TEST_CASE("policy: a quota needs its syscalls notified") {
  CHECK(*with(R"("heap_quota": 1, "notify": {"brk": false})").heap_quota_bytes == kMiB);
  CHECK(*with(R"("file_quota": 1, "notify": {"close": false})").file_quota == 1);
  check_path(error_with(R"("heap_quota": 1, "notify": {"brk": false, "mmap": false})"), "$.notify");
  check_path(error_with(R"("file_quota": 1, "notify": {"open": false})"), "$.notify.open");
}

TEST_CASE("policy: version errors") {
  check_path(error_of("{}"), "$.version");
  check_path(error_of(R"({"track": true})"), "$.version");
  check_path(error_of(R"({"version": 2})"), "$.version");
  check_path(error_of(R"({"version": 0})"), "$.version");
  check_path(error_of(R"({"version": -1})"), "$.version");
  check_path(error_of(R"({"version": 1.0})"), "$.version");
  check_path(error_of(R"({"version": "1"})"), "$.version");
  check_path(error_of(R"({"version": null})"), "$.version");
  CHECK(error_of(R"({"version": 2})") ==
        "p.json: $.version: unsupported version 2; this sandbox reads version 1");
  // The version is checked before the keys (a newer format has keys this one does not know).
  check_path(error_of(R"({"version": 2, "future": 1})"), "$.version");
}

TEST_CASE("policy: the document must be an object") {
  for (const char* text : {"[]", "1", "\"x\"", "null", "true"}) {
    CAPTURE(text);
    check_path(error_of(text), "$");
  }
  CHECK(error_of("[]") == "p.json: $: expected an object, got an array");
}

TEST_CASE("policy: unknown keys are errors at every level") {
  check_path(error_with(R"("quota": {})"), "$.quota");
  check_path(error_with(R"("heap_qouta": "1M")"), "$.heap_qouta");
  check_path(error_with(R"("abi": {"enable": true})"), "$.abi.enable");
  check_path(error_with(R"("abi": {"numbers": {"regster": 1000}})"), "$.abi.numbers.regster");
  check_path(error_with(R"("notify": {"openat": true})"), "$.notify.openat");
  check_path(error_with(R"("odd key": 1)"), "$[\"odd key\"]");
  check_path(error_with(R"("1st": 1)"), "$[\"1st\"]");
  CHECK(
      error_with(R"("hep": "1M")") ==
      R"(p.json: $.hep: unknown key; expected one of "version", "description", "heap_quota", "heap_rule", "file_quota", )"
      R"("track", "delegate", "abi", "notify", "io_uring")");
  // A key with a newline is still reported on one line.
  check_path(error_with(R"("a\nb": 1)"), R"($["a\nb"])");
}

TEST_CASE("policy: duplicate keys are errors") {
  check_path(error_of(R"({"version": 1, "version": 1})"), "$.version");
  check_path(error_with(R"("heap_quota": "1G", "heap_quota": "1M")"), "$.heap_quota");
  check_path(error_with(R"("abi": {"numbers": {"fetch": 1000, "fetch": 1001}})"), "$.abi.numbers.fetch");
  check_path(error_with(R"("track": true, "notify": {}, "track": false)"), "$.track");
  // Keys of sibling objects do not clash; positions inside arrays are named.
  CHECK(error_with(R"("heap_quota": 1, "notify": {"brk": true}, "abi": {"enabled": true})") == "");
  check_path(error_with(R"("x": [1, {"a": 1}, {"a": 1, "a": 2}])"), "$.x[2].a");
  check_path(error_with(R"("x": [[1, 2], [], {"b": {"c": 1, "c": 1}}])"), "$.x[2].b.c");
  CHECK(error_with(R"("heap_quota": "1G", "heap_quota": "1M")") ==
        "p.json: $.heap_quota: duplicate key; each key may appear only once");
}

TEST_CASE("policy: type errors") {
  check_path(error_with(R"("heap_quota": {})"), "$.heap_quota");
  check_path(error_with(R"("file_quota": [])"), "$.file_quota");
  check_path(error_with(R"("track": 1)"), "$.track");
  check_path(error_with(R"("track": "true")"), "$.track");
  check_path(error_with(R"("track": null)"), "$.track");
  check_path(error_with(R"("abi": true)"), "$.abi");
  check_path(error_with(R"("abi": {"enabled": "yes"})"), "$.abi.enabled");
  check_path(error_with(R"("abi": {"numbers": [451, 452, 453, 454, 455]})"), "$.abi.numbers");
  check_path(error_with(R"("notify": [])"), "$.notify");
  check_path(error_with(R"("description": 3)"), "$.description");
  for (const char* key : {"brk", "mmap", "open", "close"}) {
    CAPTURE(key);
    check_path(error_with(std::string(R"("notify": {")") + key + R"(": 0})"), std::string("$.notify.") + key);
  }
  CHECK(error_with(R"("track": "true")") == R"(p.json: $.track: expected true or false, got string "true")");
}

TEST_CASE("policy: heap quota errors") {
  for (const char* heap :
       {R"("")", R"("-2")", R"("1.5M")", R"("10X")", R"("M")", R"(" 1M")", R"("1 M")",
        R"("99999999999999999999")", R"("17592186044416")", R"("18014398509481984K")", "-2", "1.5", "1e3",
        "17592186044416", "18446744073709551615", "true", "[]", "{}"}) {
    CAPTURE(heap);
    check_path(error_with(std::string(R"("heap_quota": )") + heap + ""), "$.heap_quota");
  }
  CHECK(
      error_with(R"("heap_quota": "10X")") ==
      R"(p.json: $.heap_quota: invalid size "10X"; expected a whole number with an optional K, M or G suffix )"
      R"((e.g. "100M", "512K", "2G"; a bare number is MiB), or "unlimited")");
  CHECK(
      error_with(R"("heap_quota": -2)") ==
      R"(p.json: $.heap_quota: expected a size string like "100M", a whole number of MiB >= 0, or "unlimited" )"
      R"((or -1, null), got number -2)");
  // A long value is shortened in the message.
  const std::string message = error_with(R"("heap_quota": ")" + std::string(200, 'x') + R"(")");
  check_path(message, "$.heap_quota");
  CHECK(message.find("xxx...\"; expected") != std::string::npos);
  CHECK(message.size() < 240);
}

TEST_CASE("policy: file quota errors") {
  for (const char* files : {"-2", "1.5", "1e2", R"("10")", "true", "[]", "99999999999999999999"}) {
    CAPTURE(files);
    check_path(error_with(std::string(R"("file_quota": )") + files + ""), "$.file_quota");
  }
  CHECK(
      error_with(R"("file_quota": "10")") ==
      R"(p.json: $.file_quota: expected a whole number of files >= 0, or "unlimited" (or -1, null), got string )"
      R"("10")");
}

TEST_CASE("policy: the old quotas object is refused with one line naming the new keys") {
  const std::string e = error_with(R"("quotas": {"heap": "100M", "files": 10})");
  CHECK(e.rfind("p.json: $.quotas: renamed: write \"heap_quota\" and \"file_quota\" at the top level", 0) ==
        0);
  CHECK(e.find('\n') == std::string::npos);
}

TEST_CASE("policy: io_uring errors") {
  for (const char* value : {R"("Deny")", R"("")", "true", "null", "0"}) {
    CAPTURE(value);
    check_path(error_with(std::string(R"("io_uring": )") + value), "$.io_uring");
  }
}

TEST_CASE("policy: ABI number range") {
  for (const char* nr : {"-1", "1024", "100000", "451.0", "\"451\"", "null", "true"}) {
    CAPTURE(nr);
    check_path(error_with(std::string(R"("abi": {"numbers": {"deregister": )") + nr + "}}"),
               "$.abi.numbers.deregister");
  }
  CHECK(error_with(R"("abi": {"numbers": {"fetch": 1024}})") ==
        "p.json: $.abi.numbers.fetch: expected an integer in 0..1023, got number 1024");
  CHECK(with(R"("abi": {"numbers": {"register": 0, "fetch": 1, "deregister": 1023, "resource_cap": 1000,
                                    "resource_reset": 999}})")
            .abi_numbers == std::array<int, 5>{0, 1, 1023, 1000, 999});
}

TEST_CASE("policy: ABI numbers must not be handled syscalls") {
  // The ones the supervisor must always handle, then every numbered row of the table.
  std::vector<std::pair<int, std::string>> handled = {
      {12, "brk"},   {9, "mmap"},  {2, "open"},  {257, "openat"},     {437, "openat2"},
      {85, "creat"}, {3, "close"}, {60, "exit"}, {231, "exit_group"}, {425, "io_uring_setup"}};
  for (const sandbox::SyscallDef& row : sandbox::syscall_table()) {
    if (row.nr >= 0) handled.emplace_back(row.nr, std::string(row.name));
  }
  for (const auto& [nr, name] : handled) {
    CAPTURE(nr);
    const std::string message =
        error_with(R"("abi": {"numbers": {"resource_cap": )" + std::to_string(nr) + "}}");
    check_path(message, "$.abi.numbers.resource_cap");
    CHECK(message.find(" is " + name + ",") != std::string::npos);
  }
  CHECK(
      error_with(R"("abi": {"numbers": {"register": 12}})") ==
      "p.json: $.abi.numbers.register: 12 is brk, which the supervisor handles itself; choose another number "
      "(e.g. 1000..1004)");
  // Also checked when the ABI is off: the table must stay valid for when it is turned back on.
  check_path(error_with(R"("abi": {"enabled": false, "numbers": {"fetch": 60}})"), "$.abi.numbers.fetch");
}

TEST_CASE("policy: ABI numbers must be distinct") {
  // Two given numbers: the later operation is blamed.
  CHECK(
      error_with(R"("abi": {"numbers": {"register": 1000, "fetch": 1000}})") ==
      "p.json: $.abi.numbers.fetch: 1000 is also the number of register; the five numbers must be distinct");
  // A given number equal to another operation's default: the given one is blamed, either way round.
  CHECK(error_with(R"("abi": {"numbers": {"register": 455}})") ==
        "p.json: $.abi.numbers.register: 455 is also the number of resource_reset (by default); the five "
        "numbers "
        "must be distinct");
  CHECK(error_with(R"("abi": {"numbers": {"resource_reset": 451}})") ==
        "p.json: $.abi.numbers.resource_reset: 451 is also the number of register (by default); the five "
        "numbers "
        "must be distinct");
  check_path(error_with(R"("abi": {"numbers": {"deregister": 1, "resource_cap": 1}})"),
             "$.abi.numbers.resource_cap");
  // Swapping two numbers is fine.
  CHECK(with(R"("abi": {"numbers": {"register": 452, "fetch": 451}})").abi_numbers ==
        std::array<int, 5>{452, 451, 453, 454, 455});
}

TEST_CASE("policy: parse errors give line and column") {
  // Ours must agree with nlohmann's own count, which is in its what() as "at line L, column C".
  CHECK(error_of("") ==
        "p.json: line 1, column 1: syntax error while parsing value - unexpected end of input; "
        "expected '[', '{', or a literal");
  CHECK(error_of("{\"version\": 1,}")
            .rfind("p.json: line 1, column 15: syntax error while parsing object key", 0) == 0);
  const std::string two_lines = "{\n  \"version\": 1\n  \"track\": true\n}";
  CHECK(error_of(two_lines).rfind("p.json: line 3, column 9: syntax error while parsing object - unexpected "
                                  "string literal; expected '}'",
                                  0) == 0);
  CHECK(error_of("{\"version\": 1}\n\nx").rfind("p.json: line 3, column 1: syntax error", 0) == 0);
  CHECK(error_of("{\"version\": tru}").rfind("p.json: line 1, column 16: syntax error", 0) == 0);
  // Comments are not JSON.
  CHECK(error_of("// policy\n{\"version\": 1}").rfind("p.json: line 1, column 1:", 0) == 0);
  // Agreement with nlohmann's own position for a range of broken inputs.
  for (const std::string text : {"{", "{\n", "\n\n  }", "{\"version\": 1,\n\n\"x\": }", "{\"a\":\n[1,\n2,,]}",
                                 "{\"version\": 1} {}", "\xff", "{\"k\": \"\\uD800\"}"}) {
    CAPTURE(text);
    std::string theirs;
    try {
      const nlohmann::json parsed = nlohmann::json::parse(text);
      theirs = "parsed: " + parsed.dump();
    } catch (const nlohmann::json::parse_error& e) {
      theirs = e.what();
    }
    REQUIRE(theirs.find(" at line ") != std::string::npos);
    const std::string position = theirs.substr(theirs.find(" at line ") + 4);
    const std::string ours = error_of(text);
    CHECK(ours.rfind("p.json: " + position.substr(0, position.find(": ") + 2), 0) == 0);
  }
  // Control characters in the input stay out of the one-line message.
  const std::string message = error_of("{\"version\": \"a\nb\"}");
  CHECK(message.rfind("p.json: line 2, column 0: syntax error", 0) == 0);
  CHECK(message.find('\n') == std::string::npos);
}

TEST_CASE("parse_size") {
  struct Row {
    const char* text;
    std::optional<std::uint64_t> bytes;
  };
  const std::vector<Row> rows = {
      {"0", 0},
      {"1", kMiB},
      {"100", 100 * kMiB},
      {"007", 7 * kMiB},
      {"1K", kKiB},
      {"1k", kKiB},
      {"1KiB", kKiB},
      {"1kib", kKiB},
      {"1KB", kKiB},
      {"1kB", kKiB},
      {"1M", kMiB},
      {"100M", 100 * kMiB},
      {"100MiB", 100 * kMiB},
      {"100mb", 100 * kMiB},
      {"100mIB", 100 * kMiB},
      {"0M", 0},
      {"1G", kGiB},
      {"2GiB", 2 * kGiB},
      {"3gb", 3 * kGiB},
      {"17592186044415", 17592186044415ULL * kMiB},  // the most MiB that fit in 64 bits
      {"17179869183G", 17179869183ULL * kGiB},
      {"18014398509481983K", 18014398509481983ULL * kKiB},
      {"", std::nullopt},
      {"-1", std::nullopt},
      {"-1M", std::nullopt},
      {"+1", std::nullopt},
      {"1.5", std::nullopt},
      {"1.5M", std::nullopt},
      {"0.5G", std::nullopt},
      {"M", std::nullopt},
      {"K", std::nullopt},
      {"1B", std::nullopt},
      {"1T", std::nullopt},
      {"1MM", std::nullopt},
      {"1Mi", std::nullopt},
      {"1MiBs", std::nullopt},
      {"1 M", std::nullopt},
      {" 1M", std::nullopt},
      {"1M ", std::nullopt},
      {"0x10", std::nullopt},
      {"1e3", std::nullopt},
      {"17592186044416", std::nullopt},        // 2^44 MiB = 2^64 bytes
      {"17179869184G", std::nullopt},          // 2^34 GiB
      {"18014398509481984K", std::nullopt},    // 2^54 KiB
      {"18446744073709551616", std::nullopt},  // does not fit even as a number
      {"99999999999999999999999", std::nullopt},
  };
  for (const Row& row : rows) {
    CAPTURE(row.text);
    CHECK(parse_size(row.text) == row.bytes);
  }
  // Embedded NUL: the view's length counts, not C-string termination.
  CHECK(parse_size(std::string_view("1M\0", 3)) == std::nullopt);
}

TEST_CASE("load_policy_file") {
  const std::filesystem::path dir =
      std::filesystem::temp_directory_path() / ("policy_test." + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  const std::string good = (dir / "good.json").string();
  std::ofstream(good) << R"({"version": 1, "file_quota": 3})";
  CHECK(*load_policy_file(good).file_quota == 3);

  // Parse errors name the file.
  const std::string bad = (dir / "bad.json").string();
  std::ofstream(bad) << R"({"version": 1, "file_quota": -3})";
  try {
    load_policy_file(bad);
    FAIL("no error");
  } catch (const PolicyError& e) {
    CHECK(std::string(e.what()).rfind(bad + ": $.file_quota: ", 0) == 0);
  }

  const std::string missing = (dir / "missing.json").string();
  CHECK_THROWS_WITH_AS(load_policy_file(missing),
                       (missing + ": cannot read: " + std::strerror(ENOENT)).c_str(), PolicyError);
  CHECK_THROWS_WITH_AS(load_policy_file(dir.string()),
                       (dir.string() + ": cannot read: " + std::strerror(EISDIR)).c_str(), PolicyError);
  std::filesystem::remove_all(dir);
}

TEST_CASE("every shipped policy parses") {
  const std::filesystem::path dir = std::filesystem::path(SANDBOX_SOURCE_DIR) / "policies";
  std::vector<std::filesystem::path> files;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    // policy.schema.json is the format's JSON Schema, not a policy (test policy_schema).
    if (entry.path().extension() == ".json" && !entry.path().filename().string().ends_with(".schema.json"))
      files.push_back(entry.path());
  }
  REQUIRE(files.size() >= 3);
  for (const auto& file : files) {
    CAPTURE(file.string());
    CHECK_NOTHROW(load_policy_file(file.string()));
  }

  const Policy def = load_policy_file((dir / "default.json").string());
  CHECK_FALSE(def.heap_quota_bytes.has_value());
  CHECK_FALSE(def.file_quota.has_value());
  CHECK_FALSE(def.track);
  CHECK(def.abi_enabled);
  CHECK(def.abi_numbers == sandbox::kDefaultAbiNumbers);
  CHECK((def.notify_brk && def.notify_mmap && def.notify_open && def.notify_close));
  CHECK_FALSE(def.allow_io_uring);

  const Policy strict = load_policy_file((dir / "strict.json").string());
  CHECK(*strict.heap_quota_bytes == 256 * kMiB);
  CHECK(*strict.file_quota == 64);
  CHECK(strict.track);
  CHECK_FALSE(strict.allow_io_uring);

  const Policy moved = load_policy_file((dir / "abi-moved.json").string());
  CHECK(moved.abi_enabled);
  CHECK(moved.abi_numbers == std::array<int, 5>{1000, 1001, 1002, 1003, 1004});
}

TEST_CASE("policy: heap_rule chooses what the heap quota counts") {
  CHECK(parse_policy(R"({"version": 1})", "p.json").heap_rule == sandbox::HeapRule::kernel);
  CHECK(with(R"("heap_rule": "commit")").heap_rule == sandbox::HeapRule::commit);
  CHECK(with(R"("heap_rule": "kernel")").heap_rule == sandbox::HeapRule::kernel);
  const std::string e = error_with(R"("heap_rule": "rss")");
  check_path(e, "$.heap_rule");
  CHECK(e.find("expected \"kernel\" or \"commit\", got string \"rss\"") != std::string::npos);
  check_path(error_with(R"("heap_rule": 1)"), "$.heap_rule");
}
