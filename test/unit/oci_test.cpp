// SPDX-License-Identifier: Apache-2.0
// Unit tests for the OCI formats (supervisor/oci/oci.*): the linux.seccomp profile generated from
// the syscall table, compiled the way an OCI runtime compiles it and compared verdict by
// verdict with our own BPF filter; the listener metadata; config.json editing; and the
// containerProcessState a runtime sends, with every malformed variant refused.
#include "oci/oci.hpp"

#include <doctest/doctest.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <seccomp.h>

#include <cstddef>
#include <cstring>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "policy/syscalls.hpp"

using nlohmann::json;
using sandbox::Policy;
namespace oci = sandbox::oci;

namespace {

// A classic-BPF interpreter for what libseccomp emits: enough to run a seccomp filter on a
// seccomp_data. An instruction it does not know fails the test (never a silent verdict).
std::uint32_t run_bpf(const std::vector<sock_filter>& prog, const seccomp_data& d) {
  std::uint32_t a = 0, x = 0;
  std::uint32_t mem[BPF_MEMWORDS] = {};
  const auto* bytes = reinterpret_cast<const unsigned char*>(&d);
  for (std::size_t pc = 0; pc < prog.size(); ++pc) {
    const sock_filter& f = prog[pc];
    switch (f.code) {
      case BPF_LD | BPF_W | BPF_ABS:
        REQUIRE(f.k + 4 <= sizeof d);
        std::memcpy(&a, bytes + f.k, 4);
        break;
      case BPF_LD | BPF_MEM: a = mem[f.k % BPF_MEMWORDS]; break;
      case BPF_LDX | BPF_MEM: x = mem[f.k % BPF_MEMWORDS]; break;
      case BPF_ST: mem[f.k % BPF_MEMWORDS] = a; break;
      case BPF_STX: mem[f.k % BPF_MEMWORDS] = x; break;
      case BPF_ALU | BPF_AND | BPF_K: a &= f.k; break;
      case BPF_MISC | BPF_TAX: x = a; break;
      case BPF_MISC | BPF_TXA: a = x; break;
      case BPF_JMP | BPF_JA: pc += f.k; break;
      case BPF_JMP | BPF_JEQ | BPF_K: pc += (a == f.k) ? f.jt : f.jf; break;
      case BPF_JMP | BPF_JGT | BPF_K: pc += (a > f.k) ? f.jt : f.jf; break;
      case BPF_JMP | BPF_JGE | BPF_K: pc += (a >= f.k) ? f.jt : f.jf; break;
      case BPF_JMP | BPF_JSET | BPF_K: pc += (a & f.k) ? f.jt : f.jf; break;
      case BPF_RET | BPF_K: return f.k;
      default: FAIL("BPF instruction not interpreted: code " << f.code); return 0;
    }
  }
  FAIL("BPF program fell off its end");
  return 0;
}

std::vector<sock_filter> export_bpf(void* ctx) {
  char path[] = "/tmp/oci-test-bpf-XXXXXX";
  const int fd = ::mkstemp(path);
  REQUIRE(fd >= 0);
  ::unlink(path);
  REQUIRE(seccomp_export_bpf(ctx, fd) == 0);
  const off_t size = ::lseek(fd, 0, SEEK_END);
  std::vector<sock_filter> prog(static_cast<std::size_t>(size) / sizeof(sock_filter));
  REQUIRE(::pread(fd, prog.data(), static_cast<std::size_t>(size), 0) == size);
  ::close(fd);
  return prog;
}

scmp_compare op_of(const std::string& op) {
  if (op == "SCMP_CMP_NE") return SCMP_CMP_NE;
  if (op == "SCMP_CMP_EQ") return SCMP_CMP_EQ;
  if (op == "SCMP_CMP_MASKED_EQ") return SCMP_CMP_MASKED_EQ;
  FAIL("profile uses an operator this test does not compile: " << op);
  return SCMP_CMP_EQ;
}

// Compiles a linux.seccomp object as runc and crun do with libseccomp: the default action,
// the listed architectures, each name resolved for the native arch, each rule with its
// argument conditions (value, valueTwo) as 64-bit comparisons.
std::vector<sock_filter> compile_like_a_runtime(const json& profile) {
  REQUIRE(profile.at("defaultAction") == "SCMP_ACT_ALLOW");
  std::unique_ptr<void, void (*)(void*)> ctx(seccomp_init(SCMP_ACT_ALLOW),
                                             [](void* c) { seccomp_release(c); });
  REQUIRE(ctx);
  REQUIRE(profile.at("architectures") == json::array({"SCMP_ARCH_X86_64"}));
  for (const auto& rule : profile.at("syscalls")) {
    const std::string action = rule.at("action");
    std::uint32_t act = SCMP_ACT_NOTIFY;
    if (action == "SCMP_ACT_ERRNO")
      act = SCMP_ACT_ERRNO(rule.at("errnoRet").get<std::uint32_t>());
    else
      REQUIRE(action == "SCMP_ACT_NOTIFY");
    std::vector<scmp_arg_cmp> args;
    if (rule.contains("args"))
      for (const auto& a : rule.at("args"))
        args.push_back(SCMP_CMP64(a.at("index").get<unsigned>(), op_of(a.at("op")),
                                  a.at("value").get<std::uint64_t>(), a.value("valueTwo", std::uint64_t{0})));
    for (const auto& name : rule.at("names")) {
      const int nr = seccomp_syscall_resolve_name(name.get<std::string>().c_str());
      REQUIRE_MESSAGE(nr >= 0, "libseccomp cannot resolve " << name);
      REQUIRE(seccomp_rule_add_exact_array(ctx.get(), act, nr, static_cast<unsigned>(args.size()),
                                           args.data()) == 0);
    }
  }
  return export_bpf(ctx.get());
}

seccomp_data call(int nr, std::uint64_t a0 = 0, std::uint64_t a2 = 0, std::uint64_t a3 = 0) {
  seccomp_data d{};
  d.nr = nr;
  d.arch = AUDIT_ARCH_X86_64;
  d.args[0] = a0;
  d.args[2] = a2;
  d.args[3] = a3;
  return d;
}

// Argument values that sit on every edge of the table's conditions.
std::vector<std::uint64_t> edge_values() {
  std::set<std::uint64_t> v = {0, 1, ~0ULL, 0xffffffffULL, 0x100000000ULL};
  for (const auto& def : sandbox::syscall_table())
    if (def.only_if)
      for (const std::uint64_t base : std::vector<std::uint64_t>{def.only_if->value, def.only_if->mask,
                                                                 def.only_if->value | 0x100000000ULL,
                                                                 def.only_if->mask ^ def.only_if->value})
        for (const std::uint64_t d : {std::uint64_t{0}, std::uint64_t{1}, std::uint64_t{0x1000}})
          v.insert(base ^ d);
  return {v.begin(), v.end()};
}

void same_verdicts(const Policy& p) {
  const json profile = oci::seccomp_profile(p, "/run/sandbox-oci.sock", {});
  const auto ours = sandbox::build_filter(p);
  const auto theirs = compile_like_a_runtime(profile);
  std::set<int> abi(p.abi_numbers.begin(), p.abi_numbers.end());
  const auto values = edge_values();
  int compared = 0;
  for (int nr = 0; nr < 460; ++nr) {
    for (std::uint64_t v : values) {
      for (const auto& d : {call(nr, v), call(nr, 0, v), call(nr, 0, 0, v), call(nr, v, v, v)}) {
        const std::uint32_t a = run_bpf(ours, d), b = run_bpf(theirs, d);
        if (p.abi_enabled && abi.contains(nr)) {
          // The one documented difference: ABI rows have no name an OCI runtime resolves.
          CHECK(a == SECCOMP_RET_USER_NOTIF);
          CHECK(b == SECCOMP_RET_ALLOW);
          continue;
        }
        if (a != b)
          FAIL_CHECK("nr " << nr << " args " << d.args[0] << "," << d.args[2] << "," << d.args[3] << ": BPF "
                           << a << " vs OCI " << b);
        ++compared;
      }
    }
  }
  CHECK(compared > 10000);
}

}  // namespace

TEST_CASE("oci-profile: every row of the table, as a runtime compiles it, gives our filter's verdicts") {
  SUBCASE("default policy") {
    same_verdicts(Policy{});
  }
  SUBCASE("files only, io_uring allowed") {
    Policy p;
    p.notify_brk = p.notify_mmap = false;
    p.allow_io_uring = true;
    same_verdicts(p);
  }
  SUBCASE("ABI off") {
    Policy p;
    p.abi_enabled = false;
    same_verdicts(p);
  }
}

TEST_CASE("oci-profile: the object's fields") {
  Policy p;
  oci::Quotas q;
  q.heap_quota_bytes = 256ULL << 20;
  q.file_quota = 1024;
  const json j = oci::seccomp_profile(p, "/run/s.sock", q);
  CHECK(j.at("listenerPath") == "/run/s.sock");
  CHECK(j.at("listenerMetadata") == "heap-quota=256M,file-quota=1024");
  CHECK(j.at("defaultAction") == "SCMP_ACT_ALLOW");
  // io_uring fails closed with ENOSYS, as in the default policy; PR_SET_MM with EPERM.
  bool io_uring = false, prctl = false, write_notified = false;
  std::set<std::string> names;
  for (const auto& r : j.at("syscalls")) {
    for (const auto& n : r.at("names")) {
      CHECK_MESSAGE(names.insert(n.get<std::string>()).second, "named twice: " << n);
      if (n == "io_uring_setup") io_uring = r.at("action") == "SCMP_ACT_ERRNO" && r.at("errnoRet") == ENOSYS;
      if (n == "prctl") prctl = r.at("action") == "SCMP_ACT_ERRNO" && r.at("errnoRet") == EPERM;
      if (n == "write") write_notified = true;  // runc refuses SCMP_ACT_NOTIFY on write
    }
  }
  CHECK(io_uring);
  CHECK(prctl);
  CHECK_FALSE(write_notified);
  for (const char* abi : {"register", "fetch", "deregister", "resource_cap", "resource_reset"})
    CHECK_FALSE(names.contains(abi));
  CHECK_FALSE(oci::seccomp_profile(p, "/x", {}).contains("listenerMetadata"));
}

TEST_CASE("oci metadata: formats and parses") {
  oci::Quotas q;
  q.heap_quota_bytes = 3ULL << 30;
  q.file_quota = 7;
  q.policy = "web";
  q.track = true;
  CHECK(oci::format_metadata(q) == "heap-quota=3G,file-quota=7,policy=web,track");
  const auto back = oci::parse_metadata(oci::format_metadata(q));
  CHECK(back.heap_quota_bytes == q.heap_quota_bytes);
  CHECK(back.file_quota == 7);
  CHECK(back.policy == "web");
  CHECK(back.track);
  q = {};
  q.heap_quota_bytes = 1536 * 1024;
  CHECK(oci::format_metadata(q) == "heap-quota=1536K");
  CHECK(oci::parse_metadata("strict").policy == "strict");
  CHECK(oci::parse_metadata("").empty());
  CHECK(oci::parse_metadata("heap-quota=256M").heap_quota_bytes == (256ULL << 20));

  auto error_of = [](const std::string& text) -> std::string {
    try {
      oci::parse_metadata(text);
    } catch (const oci::OciError& e) {
      return e.what();
    }
    return "";
  };
  CHECK(error_of("heap-quota=lots").find("heap-quota: 'lots' is not a size") != std::string::npos);
  CHECK(error_of("file-quota=-1").find("file-quota: '-1' is not a count") != std::string::npos);
  CHECK(error_of("file-quota=1,file-quota=2").find("given twice") != std::string::npos);
  CHECK(error_of("policy=../etc/passwd").find("not a policy name") != std::string::npos);
  CHECK(error_of("../x").find("not a policy name") != std::string::npos);
  CHECK(error_of(".hidden").find("not a policy name") != std::string::npos);
  CHECK(error_of("cpu=3").find("unknown field 'cpu=3'") != std::string::npos);
  CHECK(error_of("heap-quota=1M,").find("unknown field ''") != std::string::npos);
  CHECK(error_of(std::string(5000, 'a')).find("longer than 4096") != std::string::npos);
}

TEST_CASE(
    "oci config.json: linux.seccomp set in place, the rest kept, an existing profile not replaced silently") {
  json config = {
      {"ociVersion", "1.0.2"}, {"process", {{"args", {"sh"}}}}, {"linux", {{"namespaces", json::array()}}}};
  const json profile = oci::seccomp_profile(Policy{}, "/run/s.sock", {});
  oci::set_seccomp(config, profile, false);
  CHECK(config.at("linux").at("seccomp") == profile);
  CHECK(config.at("process").at("args") == json::array({"sh"}));
  CHECK(config.at("linux").contains("namespaces"));
  CHECK_THROWS_WITH_AS(oci::set_seccomp(config, profile, false),
                       doctest::Contains("$.linux.seccomp: already set"), oci::OciError);
  oci::set_seccomp(config, profile, true);
  json not_object = json::array();
  CHECK_THROWS_AS(oci::set_seccomp(not_object, profile, false), oci::OciError);
  json bad_linux = {{"linux", 3}};
  CHECK_THROWS_WITH_AS(oci::set_seccomp(bad_linux, profile, false), doctest::Contains("$.linux"),
                       oci::OciError);
}

TEST_CASE("oci state: what runc sends is accepted") {
  const std::string runc =
      R"({"ociVersion":"1.0.2-dev","fds":["seccompFd"],"pid":19247,"metadata":"heap-quota=1M",)"
      R"("state":{"ociVersion":"1.0.2-dev","id":"t1","status":"creating","pid":19247,"bundle":"/tmp/ocib",)"
      R"("annotations":{"io.kubernetes.pod.name":"web"}}})";
  const auto st = oci::parse_state(runc, 1);
  CHECK(st.pid == 19247);
  CHECK(st.id == "t1");
  CHECK(st.metadata == "heap-quota=1M");
  CHECK(st.seccomp_fd == 0);
  CHECK(st.bundle == "/tmp/ocib");
  CHECK(st.annotations.at("io.kubernetes.pod.name") == "web");
  // Several fds, the seccomp one second.
  const auto two = oci::parse_state(
      R"({"ociVersion":"1","fds":["pidFd","seccompFd"],"pid":5,"state":{"id":"c","pid":5}})", 2);
  CHECK(two.seccomp_fd == 1);
  CHECK(two.fds == 2);
}

TEST_CASE("oci state: hostile messages get one-line errors naming the field") {
  auto error_of = [](const std::string& text, std::size_t fds) -> std::string {
    try {
      oci::parse_state(text, fds);
    } catch (const oci::OciError& e) {
      return e.what();
    }
    return "";
  };
  const std::string ok_tail = R"(,"pid":5,"state":{"id":"c"}})";
  CHECK(error_of("{not json", 1).find("not valid JSON") != std::string::npos);
  CHECK(error_of("[1,2]", 1).find("$: expected a JSON object") != std::string::npos);
  CHECK(error_of(R"({"ociVersion":"1"})", 1).find("$.fds: missing") != std::string::npos);
  CHECK(error_of(R"({"ociVersion":"1","fds":"seccompFd")" + ok_tail, 1).find("$.fds: expected an array") !=
        std::string::npos);
  CHECK(error_of(R"({"ociVersion":"1","fds":[])" + ok_tail, 1).find("no \"seccompFd\"") != std::string::npos);
  CHECK(error_of(R"({"ociVersion":"1","fds":["seccompFd","seccompFd"])" + ok_tail, 2).find("named twice") !=
        std::string::npos);
  CHECK(
      error_of(R"({"ociVersion":"1","fds":["seccompFd"])" + ok_tail, 0).find("none came with the message") !=
      std::string::npos);
  CHECK(error_of(R"({"ociVersion":"1","fds":["seccompFd"])" + ok_tail, 3).find("but 3 came") !=
        std::string::npos);
  CHECK(error_of(R"({"ociVersion":"1","fds":["seccompFd"],"pid":-4,"state":{"id":"c"}})", 1)
            .find("$.pid: -4 is not a process id") != std::string::npos);
  CHECK(error_of(R"({"ociVersion":"1","fds":["seccompFd"],"pid":"5","state":{"id":"c"}})", 1).find("$.pid") !=
        std::string::npos);
  CHECK(error_of(R"({"ociVersion":"1","fds":["seccompFd"],"pid":5,"state":{"id":""}})", 1)
            .find("$.state.id: empty") != std::string::npos);
  CHECK(error_of(R"({"ociVersion":"1","fds":["seccompFd"],"pid":5,"state":{"id":"c","pid":6}})", 1)
            .find("$.state.pid: differs") != std::string::npos);
  CHECK(error_of(R"({"ociVersion":"1","fds":["seccompFd"],"pid":5,"state":{"id":"c","annotations":{"a":1}}})",
                 1)
            .find("$.state.annotations.a") != std::string::npos);
  CHECK(error_of(R"({"ociVersion":"1","fds":["seccompFd"],"pid":5,"metadata":7,"state":{"id":"c"}})", 1)
            .find("$.metadata: expected a string") != std::string::npos);
  CHECK(error_of(std::string(oci::kMaxStateBytes + 1, ' '), 1).find("longer than") != std::string::npos);
  for (const std::string& m :
       {std::string("{not json"), std::string(R"({"ociVersion":"1","fds":[])" + ok_tail)})
    CHECK(error_of(m, 1).find('\n') == std::string::npos);
  CHECK(oci::printable_id("a\nb\x01 c") == "a?b??c");
}
