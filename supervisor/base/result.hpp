// SPDX-License-Identifier: Apache-2.0
// result: the one error convention inside the program (docs/design.md, "Errors"). A function
// that can fail returns a Result<T>: a T, or an Error -- a positive errno value (the model's
// and the wire's numbers, EPERM not -EPERM) and an optional one-line message for a human.
// Status is Result<void>. GCC 12 in C++20 mode has no std::expected; this is the small part
// of it the program uses.
//
//   Result<UniqueFd> open_it();          return UniqueFd(fd);  /  return Error::from_errno();
//   if (auto r = open_it(); !r.ok()) log::printf(..., r.text().c_str());
#pragma once

#include <cerrno>
#include <cstring>
#include <string>
#include <utility>
#include <variant>

namespace sandbox {

struct Error {
  int err = 0;          // a positive errno value; never 0
  std::string message;  // one line for humans; may be empty (then strerror(err) says it)

  // errno as the failed system call left it.
  static Error from_errno(std::string message = {}) { return Error{errno, std::move(message)}; }
  // The message, or strerror(err) when there is none.
  std::string text() const { return message.empty() ? std::string(std::strerror(err)) : message; }
};

template <class T>
class Result {
 public:
  Result(T value)
      : v_(std::move(value)) {}  // NOLINT(google-explicit-constructor): success reads as `return value;`
  Result(Error e)
      : v_(std::move(e)) {}  // NOLINT(google-explicit-constructor): failure as `return Error{EINVAL};`

  bool ok() const { return v_.index() == 0; }
  // The errno value of a failure; 0 on success.
  int error() const { return ok() ? 0 : std::get<1>(v_).err; }
  // The failure's message ("" on success or when there is none); text(): or strerror.
  const std::string& message() const {
    static const std::string none;
    return ok() ? none : std::get<1>(v_).message;
  }
  std::string text() const { return ok() ? std::string() : std::get<1>(v_).text(); }
  const Error& failure() const { return std::get<1>(v_); }

  // The value; only when ok().
  T& value() & { return std::get<0>(v_); }
  const T& value() const& { return std::get<0>(v_); }
  T&& value() && { return std::get<0>(std::move(v_)); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T value_or(T fallback) const& { return ok() ? std::get<0>(v_) : std::move(fallback); }

 private:
  std::variant<T, Error> v_;
};

template <>
class Result<void> {
 public:
  Result() = default;
  Result(Error e) : e_(std::move(e)) {}  // NOLINT(google-explicit-constructor)

  bool ok() const { return e_.err == 0; }
  int error() const { return e_.err; }
  const std::string& message() const { return e_.message; }
  std::string text() const { return ok() ? std::string() : e_.text(); }
  const Error& failure() const { return e_; }

 private:
  Error e_;
};

using Status = Result<void>;

}  // namespace sandbox
