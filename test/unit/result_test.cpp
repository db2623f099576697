// SPDX-License-Identifier: Apache-2.0
// base/result.hpp: the one error convention inside the program (docs/design.md, "Errors").
#include "base/result.hpp"

#include <doctest/doctest.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <memory>
#include <string>

#include "base/files.hpp"
#include "base/unique_fd.hpp"

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
