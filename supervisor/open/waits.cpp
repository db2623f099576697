// SPDX-License-Identifier: Apache-2.0
#include "open/waits.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstdio>
#include <cstdlib>
#include <string_view>

#include "base/unique_fd.hpp"
#include "target/proc_text.hpp"

namespace sandbox::opening {
using target::proc_value;

bool signal_would_interrupt(const char* status_text, std::size_t len, std::uint64_t others_blocked) {
  const std::string_view text(status_text, len);
  std::uint64_t own = 0, shared = 0, blocked = 0, threads = 0;
  if (!proc_value(text, "SigPnd", own, 16) || !proc_value(text, "ShdPnd", shared, 16) ||
      !proc_value(text, "SigBlk", blocked, 16) || !proc_value(text, "Threads", threads))
    return false;
  const std::uint64_t pending = own | (threads == 1 ? shared : shared & others_blocked);
  return (pending & ~blocked) != 0;
}

std::uint64_t shared_for_others(const char* status_text, std::size_t len, std::uint64_t* threads_out) {
  const std::string_view text(status_text, len);
  std::uint64_t shared = 0, blocked = 0, threads = 0;
  if (!proc_value(text, "ShdPnd", shared, 16) || !proc_value(text, "SigBlk", blocked, 16) ||
      !proc_value(text, "Threads", threads) || threads <= 1)
    return 0;
  if (threads_out) *threads_out = threads;
  return shared & ~blocked;
}

std::optional<ThreadMask> thread_mask(const char* status_text, std::size_t len) {
  const std::string_view text(status_text, len);
  ThreadMask m;
  const std::size_t at = text.find("\nState:");
  if (at == std::string_view::npos || !proc_value(text, "SigBlk", m.blocked, 16)) return std::nullopt;
  std::size_t p = at + 7;
  while (p < text.size() && (text[p] == ' ' || text[p] == '\t')) ++p;
  if (p >= text.size()) return std::nullopt;
  m.alive = text[p] != 'Z' && text[p] != 'X' && text[p] != 'x';
  return m;
}

Waits::~Waits() {
  {
    std::lock_guard lk(mu_);
    quit_ = true;
  }
  cv_.notify_all();
  if (watcher_.joinable()) watcher_.join();
}

Waits::Wait::Wait(Waits& w, NotifyChannel& ch, ReceiverPool* pool, std::uint64_t id, pid_t tid, pid_t tgid)
    : w_(w),
      ch_(ch),
      pool_(pool),
      id_(id),
      tid_(tid),
      tgid_(tgid),
      thread_(::pthread_self()),
      start_(std::chrono::steady_clock::now()) {
  bool wake = false;
  {
    std::lock_guard lk(w_.mu_);
    next_ = w_.waits_;
    if (next_) next_->prev_ = this;
    w_.waits_ = this;
    if (!w_.watcher_.joinable()) {
      // Started on first use, with every signal blocked (it must never take one).
      sigset_t all, old;
      sigfillset(&all);
      ::pthread_sigmask(SIG_BLOCK, &all, &old);
      w_.watcher_ = std::thread([&ws = w_] { ws.watch(); });
      ::pthread_sigmask(SIG_SETMASK, &old, nullptr);
    }
    wake = w_.idle_;
  }
  if (wake) w_.cv_.notify_one();
}

Waits::End Waits::Wait::end() {
  bool left = false;
  End why;
  {
    std::lock_guard lk(w_.mu_);
    if (!done_) {
      done_ = true;
      left = true;
      (prev_ ? prev_->next_ : w_.waits_) = next_;
      if (next_) next_->prev_ = prev_;
    }
    why = why_;
  }
  if (left) w_.ended_.notify_all();
  return why;
}

void Waits::abandon_gone() {
  std::unique_lock lk(mu_);
  if (!waits_) return;  // the usual case: nothing in flight, nothing asked
  const auto deadline = std::chrono::steady_clock::now() + kAbandonWait;
  for (;;) {
    bool stopping = false;
    for (Wait* w = waits_; w; w = w->next_) {
      if (w->why_ == End::none && !w->ch_.id_valid(w->id_)) w->why_ = End::gone;
      if (w->why_ != End::gone) continue;
      // Sent again until it has stopped: a signal between two system calls of the open
      // interrupts nothing. The thread cannot leave the list while we hold mu_.
      ::pthread_kill(w->thread_, signal_);
      stopping = true;
    }
    if (!stopping || std::chrono::steady_clock::now() >= deadline) return;
    ended_.wait_for(lk, kResend);
  }
}

Waits::End Waits::check(const Wait& w) const {
  // The notification is pending exactly as long as the target waits in this call.
  if (!w.ch_.id_valid(w.id_)) return End::gone;
  char path[64];
  std::snprintf(path, sizeof path, "/proc/%d/task/%d/status", w.tgid_, w.tid_);
  UniqueFd fd(::open(path, O_RDONLY | O_CLOEXEC));
  if (!fd) return End::none;
  char buf[4096];
  const ssize_t n = ::read(fd.get(), buf, sizeof buf);
  if (n <= 0) return End::none;
  const auto len = static_cast<std::size_t>(n);
  if (signal_would_interrupt(buf, len)) return End::signal;
  // A signal pending for the process that this thread does not block: it is this thread's
  // if every other live thread blocks it (then none of them can ever have been chosen).
  // Read only while such a signal is pending, so an open that waits costs no scan.
  // The scan is bounded (kScanThreads): one watcher serves every target, and a process of
  // many threads must not make it slow for the others; beyond that, not acted on.
  std::uint64_t threads = 0;
  const std::uint64_t candidates = shared_for_others(buf, len, &threads);
  if (candidates == 0 || threads > kScanThreads) return End::none;
  std::uint64_t others = ~0ULL;
  char dir[64];
  std::snprintf(dir, sizeof dir, "/proc/%d/task", w.tgid_);
  DIR* d = ::opendir(dir);
  if (!d) return End::none;
  while (const dirent* e = ::readdir(d)) {
    const int other = std::atoi(e->d_name);
    if (other <= 0 || other == w.tid_) continue;
    std::snprintf(path, sizeof path, "/proc/%d/task/%d/status", w.tgid_, other);
    UniqueFd tf(::open(path, O_RDONLY | O_CLOEXEC));
    char tb[4096];
    const ssize_t m = tf ? ::read(tf.get(), tb, sizeof tb) : -1;
    if (m <= 0) continue;  // gone since the listing: it takes nothing any more
    const std::optional<ThreadMask> mask = thread_mask(tb, static_cast<std::size_t>(m));
    if (!mask) {
      others = 0;  // cannot tell: fail towards not acting (never a signal-less ERESTARTSYS)
      break;
    }
    if (mask->alive) others &= mask->blocked;
    if ((others & candidates) == 0) break;
  }
  ::closedir(d);
  return signal_would_interrupt(buf, len, others) ? End::signal : End::none;
}

void Waits::watch() {
  std::unique_lock lk(mu_);
  while (!quit_) {
    if (!waits_) {
      idle_ = true;
      cv_.wait(lk);
      idle_ = false;
      continue;
    }
    cv_.wait_for(lk, kPatience);
    const auto now = std::chrono::steady_clock::now();
    for (Wait* w = waits_; w; w = w->next_) {
      if (now - w->start_ < kPatience) continue;
      if (!w->relieved_ && w->pool_) w->pool_->ensure_receiver();  // the listener goes on
      w->relieved_ = true;
      if (w->why_ == End::none) w->why_ = check(*w);
      // Sent again at every tick while the open goes on: a signal that arrived between two
      // system calls of the open interrupted nothing. The thread cannot leave the list
      // (end() takes mu_) while we signal it, so its handle is valid.
      if (w->why_ != End::none) ::pthread_kill(w->thread_, signal_);
    }
  }
}

}  // namespace sandbox::opening
