// SPDX-License-Identifier: Apache-2.0
// reply: what a handler decides for one notification, as a value. The loop sends it
// (send()) and, only when the kernel took it, runs its commit: the accounting of a call
// that was not delivered (ENOENT: the target died or was interrupted) never happens.
//
// A handler is then a function from a call to a Reply: a unit test can call it and look at
// the answer and at what committing it does, without a listener (test/unit/reply_test.cpp).
#pragma once

#include <linux/seccomp.h>

#include <cstdint>
#include <functional>

#include "base/unique_fd.hpp"
#include "target/notify.hpp"

namespace sandbox {

class Reply {
 public:
  enum class Kind {
    none,        // no answer: the target is gone (or no longer in this call)
    proceed,     // SECCOMP_USER_NOTIF_FLAG_CONTINUE: the kernel runs the call itself
    value,       // the call returns `value` without running
    error,       // the call fails with `error` without running
    install_fd,  // ADDFD|SEND: `file` becomes the call's result, a new fd in the target
  };
  // CONTINUE lets the kernel run the call with the arguments it reads itself. Safe for
  // every call we continue: either nothing is decided from target memory (brk, mmap,
  // close, exit, execve: register arguments only), or the decision concerns a task with
  // no node and no counting job (an untracked open), where there is nothing to account.
  static Reply proceed() { return Reply(Kind::proceed); }
  static Reply value(std::int64_t v) {
    Reply r(Kind::value);
    r.value_ = v;
    return r;
  }
  static Reply error(int err) {
    Reply r(Kind::error);
    r.error_ = err;
    return r;
  }
  static Reply none() { return Reply(Kind::none); }
  // The file is the target's once sent; ours (closed) if the install fails.
  static Reply install(UniqueFd file, bool cloexec) {
    Reply r(Kind::install_fd);
    r.file_ = std::move(file);
    r.cloexec_ = cloexec;
    return r;
  }

  // Run when the kernel took the answer (with the target's new fd for install_fd, else 0).
  Reply&& then(std::function<void(int fd)> commit) && {
    commit_ = std::move(commit);
    return std::move(*this);
  }
  // Run when it did not (the target died or was interrupted): undo what was prepared.
  Reply&& otherwise(std::function<void()> undo) && {
    undo_ = std::move(undo);
    return std::move(*this);
  }

  Kind kind() const { return kind_; }
  std::int64_t value() const { return value_; }
  int error() const { return error_; }
  int file() const { return file_.get(); }
  bool cloexec() const { return cloexec_; }
  bool commits() const { return static_cast<bool>(commit_); }

  // Sends the answer to notification `id` on `ch`, then commits (taken) or undoes (not
  // taken). Returns whether the kernel took it. A failed install is answered with its
  // errno (EMFILE: the target's own RLIMIT_NOFILE), and commits nothing.
  bool send(NotifyChannel& ch, std::uint64_t id);
  // What send() does after the kernel's answer, for a caller that answers otherwise (a
  // test): the commit, as if taken (`fd`: the installed fd), or the undo, as if not.
  void commit(int fd = 0);
  void drop();
  // The response bytes for kinds proceed, value and error (for tests and send()).
  seccomp_notif_resp response(std::uint64_t id) const;

 private:
  explicit Reply(Kind k) : kind_(k) {}
  Kind kind_;
  std::int64_t value_ = 0;
  int error_ = 0;
  UniqueFd file_;
  bool cloexec_ = false;
  std::function<void(int)> commit_;
  std::function<void()> undo_;
};

}  // namespace sandbox
