// SPDX-License-Identifier: Apache-2.0
// waits: opens that wait (a FIFO without a partner, a lease being broken, a device, FUSE or
// NFS) run on a serving thread of their own, never holding the supervisor's lock. This
// watches them, so that what ends the target's own wait ends ours:
//  - a signal the target thread would take (pending for the thread and not blocked): the
//    serving thread is interrupted (its open fails with EINTR) and the target is answered
//    ERESTARTSYS, so the kernel runs its handler and then restarts the call (SA_RESTART) or
//    fails it with EINTR, or stops it and restarts at SIGCONT -- as for its own open;
//  - the target's death (its notification is no longer pending): the open is abandoned;
//  - and the listener is not left without a receiver: the pool is asked for another one.
// Calls shorter than kPatience are never looked at; the longer ones are checked every
// kPatience (the delays are documented in docs/design.md).
#pragma once

#include <pthread.h>
#include <sys/types.h>

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <optional>
#include <thread>

#include "target/notify.hpp"

namespace sandbox::opening {

// The threads serving one listener (supervisor.cpp): asked for another receiver when a
// call has been waiting for kPatience, so that the listener is served meanwhile.
class ReceiverPool {
 public:
  virtual ~ReceiverPool() = default;
  virtual void ensure_receiver() = 0;
};

class Waits {
 public:
  enum class End { none, signal, gone };
  static constexpr std::chrono::milliseconds kPatience{10};
  // The most threads whose signal masks are read to attribute a process-wide signal.
  static constexpr std::uint64_t kScanThreads = 64;
  // abandon_gone(): how often the interrupt is sent again, and for how long at most.
  static constexpr std::chrono::milliseconds kResend{1};
  static constexpr std::chrono::milliseconds kAbandonWait{200};

  // `interrupt`: a signal with a no-op handler installed without SA_RESTART, unblocked in
  // every thread that opens.
  explicit Waits(int interrupt) : signal_(interrupt) {}
  Waits(const Waits&) = delete;
  Waits& operator=(const Waits&) = delete;
  ~Waits();

  // Registered from construction until end() (or destruction): the work (reading the
  // target's memory, the open) this thread does for notification `id` of thread `tid`.
  // Ends now the work done for targets that are gone (their notification is no longer
  // pending), and returns once it has stopped -- or after kAbandonWait, if an open cannot be
  // interrupted. Called before any open is served: a target that died blocked in an open
  // (a FIFO's reader or writer) held the FIFO open only until its death in the kernel, and
  // its death is seen before any other open -- a notification is no longer pending once
  // the task has left its wait, before its exit is visible to anyone -- so no open that
  // follows can still find the supervisor's open for the dead target in place.
  void abandon_gone();

  class Wait {
   public:
    Wait(Waits& w, NotifyChannel& ch, ReceiverPool* pool, std::uint64_t id, pid_t tid, pid_t tgid);
    Wait(const Wait&) = delete;
    Wait& operator=(const Wait&) = delete;
    ~Wait() { end(); }
    // Leaves the watch; says what interrupted the open, if anything.
    End end();

   private:
    friend class Waits;
    Waits& w_;
    NotifyChannel& ch_;
    ReceiverPool* pool_;
    bool relieved_ = false;  // another receiver was asked for
    std::uint64_t id_;
    pid_t tid_, tgid_;
    pthread_t thread_;
    std::chrono::steady_clock::time_point start_;
    End why_ = End::none;
    bool done_ = false;
    Wait* prev_ = nullptr;  // the watch list, intrusive: registering allocates nothing
    Wait* next_ = nullptr;
  };

 private:
  void watch();
  End check(const Wait& w) const;

  const int signal_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::condition_variable ended_;  // a Wait left the list
  Wait* waits_ = nullptr;          // guarded by mu_
  bool idle_ = false;              // the watcher sleeps without a deadline
  bool quit_ = false;
  std::thread watcher_;
};

// What of /proc/<tid>/status says that a signal would interrupt the thread's own
// interruptible wait, as the kernel decides it: a signal pending for the thread and not
// blocked; or one pending for the process (ShdPnd), not blocked by the thread, and blocked
// by every other live thread of the process -- `others_blocked` is the AND of their SigBlk,
// all ones when the process has one thread. For those, the waiting thread is the only one
// complete_signal() can choose (retarget_shared_pending() passes the signal to it when
// another thread blocks it or exits), so it holds TIF_SIGPENDING and an ERESTARTSYS answer
// delivers the signal. A process signal that another thread could take is not acted on:
// the kernel may have chosen that thread, and answering ERESTARTSYS to a thread without a
// signal shows it errno 512 (docs/design.md). Pure, for unit tests.
bool signal_would_interrupt(const char* status_text, std::size_t len, std::uint64_t others_blocked = 0);

// The process-wide pending signals (ShdPnd) that the thread whose status this is does not
// block, when the process has more than one thread: the case where the other threads'
// masks decide. 0 otherwise or when unreadable. Pure.
std::uint64_t shared_for_others(const char* status_text, std::size_t len, std::uint64_t* threads = nullptr);

// A thread's SigBlk and whether it is alive (not a zombie, not dead); nullopt when the
// status text does not say. Pure.
struct ThreadMask {
  std::uint64_t blocked = 0;
  bool alive = false;
};
std::optional<ThreadMask> thread_mask(const char* status_text, std::size_t len);

}  // namespace sandbox::opening
