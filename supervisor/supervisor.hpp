// supervisor: the notify loop and the per-target state it owns.
//
// One thread runs serve() for a listener: receive a notification, dispatch it through the
// syscall table to a handler (supervisor/handlers/*.cpp, one file per family), answer.
// Other threads (the CLI, the socket server) reach the model through the locked methods at
// the bottom. Everything below `private:` is guarded by mu_.
//
// Per-target state is keyed by kernel ids but never trusted across an id's lifetime:
// every process we know has a pidfd in an epoll set, and sweep() (run before every
// notification and every query) retires the state of tasks that have exited, so a reused
// pid never inherits a dead task's nodes, credentials or counters.
#pragma once

#include <linux/seccomp.h>

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <unordered_map>
#include <vector>

#include "notify.hpp"
#include "open_emulation.hpp"
#include "policy.hpp"
#include "syscalls.hpp"
#include "target.hpp"
#include "tracker.hpp"
#include "unique_fd.hpp"

namespace sandbox {

// What happened to a target, for the CLI's messages and (later) the socket's watch stream.
struct Event {
  enum class Kind { registered, deregistered, exited, killed, quota_set, quota_reset } kind;
  Pid pid = 0;
  std::optional<Violation> violation;  // for killed
};

class Supervisor {
 public:
  struct Options {
    Policy policy;
    bool verbose = false;
    std::function<void(const Event&)> on_event;  // called with mu_ held; keep it short
  };
  explicit Supervisor(Options options);
  Supervisor(const Supervisor&) = delete;
  Supervisor& operator=(const Supervisor&) = delete;
  ~Supervisor();

  // A process launched under our filter: it and its descendants are in scope.
  void adopt_root(Pid pid);

  // Runs the notify loop for one listener until request_stop() (the thread is then woken
  // with a signal, see stop_signal()) or until the listener fails.
  void serve(NotifyChannel& channel);
  void request_stop() { stop_.store(true); }
  static int stop_signal();  // SIGUSR1 by default; a no-op handler is installed by serve()

  // The five operations from outside the targets (CLI, policy, socket). 0 or errno.
  int outside_register(Pid pid);
  int outside_cap_bytes(Pid pid, std::int64_t heap_bytes, std::int64_t files);
  int outside_fetch(Pid pid, Node& out);
  std::vector<Node> outside_list();

 private:
  struct ThreadState {
    Pid tgid = 0;
    int closing_fd = -1;  // a close() of this fd was let through and may still be in flight
  };
  struct ProcState {
    Pid tgid = 0;
    UniqueFd pidfd;
    std::optional<target::Layout> layout;  // data/brk layout; reset at exec
    std::optional<std::uint64_t> brk_end;  // page-aligned break, as far as we know
    std::unordered_map<int, Pid> closing;  // fd -> thread whose close of it is in flight
    std::vector<Pid> threads;
  };
  struct Call {
    const seccomp_notif& n;
    Pid tid;
    Pid tgid;
    ProcState& proc;
    ThreadState& thread;
    std::uint64_t arg(int i) const { return n.data.args[i]; }
  };
  class Directory;  // TaskDirectory over /proc, scoped to our targets

  // The loop.
  void handle(NotifyChannel& ch, const seccomp_notif& n);
  ThreadState* learn(Pid tid);
  ProcState* ensure_proc(Pid tgid);
  void watch_node(Pid pid, Pid tgid);
  void sweep();
  void forget_process(Pid tgid);
  void drop_threads(ProcState& p);
  bool in_scope(Pid tgid);

  // Answers. Each returns true when the kernel accepted the answer (the target was still
  // waiting); false (ENOENT) means it died or was interrupted: account nothing.
  bool reply_continue(Call& c);
  bool reply_value(Call& c, std::int64_t value);
  bool reply_error(Call& c, int err);
  // Quota gate: false if `d` would cross a quota; the process is then killed and the call
  // answered with `deny_errno` so it never takes effect.
  bool admit(Call& c, const Delta& d, int deny_errno);
  void kill_for(const Violation& v);
  void emit(Event e);

  // Handlers, one file per family under supervisor/handlers/.
  void on_brk(Call& c);               // memory.cpp
  void on_mmap(Call& c);              // memory.cpp
  void on_open(Call& c, Op op);       // files.cpp
  void on_close(Call& c);             // files.cpp
  void on_exit(Call& c, bool group);  // lifecycle.cpp
  void on_execve(Call& c);            // lifecycle.cpp
  void on_credentials(Call& c);       // lifecycle.cpp
  void on_abi(Call& c, Op op);        // abi.cpp

  Options opt_;
  Dispatch dispatch_;
  target::Overcommit overcommit_;
  std::atomic<bool> stop_{false};
  NotifyChannel* ch_ = nullptr;  // the channel being served (set by serve())

  std::mutex mu_;
  std::unique_ptr<Directory> directory_;
  Tracker tracker_;
  OpenEmulator open_;
  UniqueFd epoll_;  // pidfds of known processes and of thread nodes
  std::unordered_map<Pid, ProcState> procs_;
  std::unordered_map<Pid, ThreadState> threads_;
  std::unordered_map<Pid, std::pair<Pid, UniqueFd>> thread_nodes_;  // tid -> (tgid, pidfd)
  std::vector<Pid> roots_;
  Pid self_ = 0;
};

}  // namespace sandbox
