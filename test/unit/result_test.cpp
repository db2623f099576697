// SPDX-License-Identifier: Apache-2.0
// base/result.hpp: the one error convention inside the program (docs/design.md, "Errors").
#include "base/result.hpp"

#include <doctest/doctest.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <memory>
#include <string>

#include "base/files.hpp"
#include "base/unique_fd.hpp"
#include "child.hpp"
#include "observe/output_file.hpp"

using sandbox::Error;
using sandbox::Result;
using sandbox::Status;

namespace {

Result<int> half(int n) {
  if (n % 2 != 0) return Error{EINVAL, "odd: " + std::to_string(n)};
  return n / 2;
}

}  // namespace

TEST_CASE("result: a value, or a positive errno with an optional line") {
  const auto ok = half(8);
  REQUIRE(ok.ok());
  CHECK(ok.error() == 0);
  CHECK(*ok == 4);
  CHECK(ok.message().empty());
  CHECK(ok.text().empty());
  const auto bad = half(7);
  CHECK_FALSE(bad.ok());
  CHECK(bad.error() == EINVAL);  // positive, as the model and the wire say it
  CHECK(bad.message() == "odd: 7");
  CHECK(bad.text() == "odd: 7");
  CHECK(bad.value_or(-1) == -1);
  // Without a message, text() is strerror.
  const Result<int> plain = Error{ENOENT};
  CHECK(plain.message().empty());
  CHECK(plain.text() == std::strerror(ENOENT));
}

TEST_CASE("result: Status, move-only values, errno captured at the failure") {
  Status s;
  CHECK(s.ok());
  CHECK(s.error() == 0);
  errno = EACCES;
  s = Error::from_errno("opening x");
  CHECK(s.error() == EACCES);
  CHECK(s.message() == "opening x");
  // A descriptor in a Result is owned: it cannot leak on either path.
  Result<sandbox::UniqueFd> fd = sandbox::UniqueFd(::dup(0));
  REQUIRE(fd.ok());
  CHECK(fd->get() >= 0);
  const sandbox::UniqueFd taken = std::move(fd).value();
  CHECK(taken.get() >= 0);
  Result<std::unique_ptr<int>> p = std::make_unique<int>(3);
  CHECK(**p == 3);
}

TEST_CASE("result: files::read_small says what was read, or why not") {
  char buf[64];
  const auto text = sandbox::files::read_small("/proc/self/stat", buf, sizeof buf);
  REQUIRE(text.ok());
  CHECK(text->size() == sizeof buf);  // cut at the cap
  CHECK(text->data() == buf);
  const auto missing = sandbox::files::read_small("/proc/self/no-such-file", buf, sizeof buf);
  CHECK_FALSE(missing.ok());
  CHECK(missing.error() == ENOENT);
}

TEST_CASE("result: a file that cannot be written says so in one line, with its errno") {
  char dir[] = "/tmp/sandbox-result-XXXXXX";
  REQUIRE(::mkdtemp(dir) != nullptr);
  const std::string path = std::string(dir) + "/trace.json";
  // RLIMIT_FSIZE (SIGXFSZ ignored): the write past it fails with EFBIG, as a full disk would
  // fail with ENOSPC. In a child: the limit is the whole process's.
  const pid_t pid = host::fork_child([&]() -> int {
    ::signal(SIGXFSZ, SIG_IGN);
    const rlimit small{16, 16};
    if (::setrlimit(RLIMIT_FSIZE, &small) != 0) return 2;
    sandbox::observe::OutputFile out("--trace", path);
    const Status written = out.write(std::string(100, 'x'));
    if (written.ok() || written.error() != EFBIG) return 3;
    if (written.message() != "--trace " + path + ": writing: " + std::strerror(EFBIG)) return 4;
    if (!out.close().ok()) return 5;
    return 0;
  });
  REQUIRE(pid > 0);
  int status = 0;
  REQUIRE(::waitpid(pid, &status, 0) == pid);
  CHECK(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 0);
  ::unlink(path.c_str());
  ::rmdir(dir);
}
