// SPDX-License-Identifier: Apache-2.0
// Integration tests for issue 6's escapes: each tries a way out of the accounting and
// asserts that it fails (docs/security.md lists them with the test names).
#include <sys/socket.h>
#include <sys/un.h>

#include "harness.hpp"
#include "host_caps.hpp"

namespace {

bool has(const std::string& hay, const std::string& needle) {
  return hay.find(needle) != std::string::npos;
}

std::string write_policy(const std::string& text) {
  char path[] = "/tmp/sandbox-policy-XXXXXX";
  const int fd = ::mkstemp(path);
  REQUIRE(fd >= 0);
  REQUIRE(::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size()));
  ::close(fd);
  return path;
}

}  // namespace

namespace {

// What the sandbox must guarantee for another ABI depends on whether the host runs it at
// all. Where `int 0x80` works natively, the filter must kill the sandboxed call (SIGSYS)
// before it runs. Where the host has no 32-bit emulation, the instruction faults before
// any system call (natively: SIGSEGV), so the filter never sees it; the sandboxed program
// must then end exactly as natively, with no call getting through. x32 calls share the
// x86-64 entry, so seccomp sees them everywhere: the filter kills them on every host.
void check_other_abi(const host::Ia32& native, const Result& sandboxed) {
  INFO("native int 0x80 ended with status " << native.native_status << "; sandboxed: " << sandboxed.status
                                            << " " << sandboxed.err);
  CHECK(sandboxed.kv.count("int80_returned") == 0);
  if (native.on) {
    MESSAGE("32-bit emulation available on this host: the sandboxed int 0x80 must be killed (SIGSYS)");
    CHECK(sandboxed.status == 128 + SIGSYS);
  } else {
    MESSAGE("32-bit emulation unavailable on this host: the sandboxed int 0x80 must end as natively ("
            << native.native_status << ")");
    CHECK(native.native_status == 128 + SIGSEGV);  // the only other way a host refuses it
    CHECK(sandboxed.status == native.native_status);
  }
}

}  // namespace

TEST_CASE("escape: system calls through another ABI (i386 int 0x80, x32) kill the target") {
  const host::Ia32 native = host::ia32();
  // The probe's own int 0x80 (an i386 open) natively, outside the sandbox: the same host
  // verdict as host::ia32(), from the very code that runs sandboxed.
  const Result bare = run({kProbe, "int80"});
  CHECK((bare.status == 0) == native.on);
  check_other_abi(native, probe("int80", {"--track"}));
  const Result x32 = probe("x32", {"--track"});
  CHECK(x32.status == 128 + SIGSYS);
  CHECK(x32.kv.count("x32_returned") == 0);
}

TEST_CASE("escape: io_uring is denied by default, and allowed only by a policy that says so") {
  CHECK(probe("io-uring")["io_uring_setup"] == "ENOSYS");
  const std::string allow = write_policy(R"({"version": 1, "io_uring": "allow"})");
  const Result r = probe("io-uring", {"--policy", allow});
  ::unlink(allow.c_str());
  CHECK(r["io_uring_setup"] != "ENOSYS");  // 0 where the kernel enables io_uring
}

TEST_CASE("escape: rewriting the path while the supervisor reads it (TOCTOU) changes nothing") {
  const Result r = probe("toctou");
  INFO(r.out << r.err);
  CHECK(r.status == 0);
  CHECK(r["successes_some"] == "1");
  CHECK(r["count_exact"] == "1");
  CHECK(r["wrong_files"] == "0");  // every fd the target got is the file that was counted
}

TEST_CASE("escape: SIGSTOP/SIGCONT while the supervisor holds the call loses nothing") {
  const Result r = probe("stopped");
  INFO(r.out << r.err);
  CHECK(r.status == 0);
  CHECK(r["stopper_done"] == "1");
  CHECK(r["files_exact"] == "1");
  CHECK(r["heap_exact"] == "1");
}

TEST_CASE("escape: a tracer (strace -f) on the target changes no count") {
  if (::access("/usr/bin/strace", X_OK) != 0) {
    MESSAGE("strace is not installed (scripts/install-deps.sh installs it)");
    CHECK(false);
    return;
  }
  const Result r = sandboxed({}, {"/usr/bin/strace", "-f", "-qq", "-o", "/dev/null", kProbe, "files"});
  INFO(r.out << r.err);
  CHECK(r.status == 0);
  CHECK(r["open_delta"] == "1");
  CHECK(r["open_missing_delta"] == "1");
  CHECK(r["after_opens_delta"] == "6");
  CHECK(r["close_bad_delta"] == "6");
  CHECK(r["after_closes_delta"] == "0");
}

TEST_CASE("escape: lifting an outside quota from inside is EPERM") {
  const Result r = probe("outside-quota", {"--file-quota", "100"});
  CHECK(r["reset"] == "EPERM");
  CHECK(r["deregister"] == "EPERM");
}

TEST_CASE("supervisor death (serve): a joined target can no longer open files or grow its heap") {
  const std::string path = "/tmp/sandbox-it-death-" + std::to_string(::getpid()) + ".sock";
  Process serve({kSandbox, "serve", "--socket", path, "--verbose"});
  serve.expect_err("serving " + path);
  Process t({SHIM_BIN, "--socket", path, "--track", "--", kProbe, "park"});
  t.expect_out("pid=");
  t.send("open");
  CHECK(has(t.expect_out("opened="), "opened=1"));
  serve.signal(SIGKILL);
  CHECK(serve.wait() == 128 + SIGKILL);
  // The shim sees its connection hang up and kills CMD itself (docs/cli.md): it cannot run on
  // unsupervised. (Until then every notified call fails with ENOSYS; whether a call comes
  // before the kill is a race, so the kill is what is checked.)
  CHECK(t.wait() == 137);
  CHECK(has(t.err_so_far() + t.expect_err("was killed"), "the server at " + path + " shut down"));
  ::unlink(path.c_str());
}

TEST_CASE("escape: a root changed after the supervisor cached it is honoured at once") {
  if (::geteuid() != 0) {
    MESSAGE("chroot needs root");
    CHECK(::geteuid() != 0);
    return;
  }
  const Result r = probe("chroot");
  INFO(r.out << r.err);
  CHECK(r.status == 0);
  CHECK(r["before_outside_file"] == "1");
  CHECK(r["after_marker"] == "0");
  CHECK(r["after_outside_file"] == "ENOENT");
}
