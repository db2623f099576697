// SPDX-License-Identifier: Apache-2.0
// child: forking from a test process. A child of the test binary must not run the test
// framework's code: doctest catches SIGSEGV, SIGABRT, SIGILL, SIGFPE, SIGTERM, SIGINT ... with
// handlers that print a whole crash report ("test case CRASHED: SIGSEGV"), so a child that is
// meant to die of a signal would fill the log with what reads like a failure; and a child that
// returned or threw would unwind into the test runner and go on running tests of its own.
// fork_child() puts every caught signal back to its default action in the child (as exec
// would; ignored signals stay ignored) and always ends the child with _exit. Every test that
// forks uses it. No test framework in here: host_caps (the program) includes it too.
#pragma once

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <type_traits>
#include <utility>

namespace host {

// In a child just forked: each caught signal back to SIG_DFL. Only sigaction, which is
// async-signal-safe: the parent may have threads.
inline void drop_signal_handlers() {
  for (int sig = 1; sig < NSIG; ++sig) {
    struct sigaction old {};
    if (::sigaction(sig, nullptr, &old) != 0) continue;  // SIGKILL, SIGSTOP, glibc's own
    if (old.sa_handler == SIG_DFL || old.sa_handler == SIG_IGN) continue;
    struct sigaction dfl {};
    dfl.sa_handler = SIG_DFL;
    ::sigemptyset(&dfl.sa_mask);
    ::sigaction(sig, &dfl, nullptr);
  }
}

// Forks. The child drops the framework's handlers, runs fn and _exits with what it returned
// (0 when it returns nothing, 127 when it threw); it never returns to the caller. The parent
// gets the child's pid (-1 when fork failed).
template <class Fn>
pid_t fork_child(Fn&& fn) {
  const pid_t pid = ::fork();
  if (pid != 0) return pid;
  drop_signal_handlers();
  try {
    if constexpr (std::is_void_v<std::invoke_result_t<Fn&>>) {
      fn();
      ::_exit(0);
    } else {
      ::_exit(static_cast<int>(fn()));
    }
  } catch (...) {
    ::_exit(127);
  }
}

// How a child ended: its exit code, or 128 + the signal that killed it (as a shell says).
inline int exit_code(int status) {
  return WIFEXITED(status) ? WEXITSTATUS(status) : WIFSIGNALED(status) ? 128 + WTERMSIG(status) : -1;
}

// Waits for `pid` (through EINTR); its exit_code, or -1 when it cannot be waited for.
inline int wait_child(pid_t pid) {
  int st = 0;
  pid_t w;
  while ((w = ::waitpid(pid, &st, 0)) < 0 && errno == EINTR) {
  }
  return w == pid ? exit_code(st) : -1;
}

// Runs fn in a forked child (fork_child) and waits for it: its exit_code, -1 if fork failed.
template <class Fn>
int run_child(Fn&& fn) {
  const pid_t pid = fork_child(std::forward<Fn>(fn));
  return pid < 0 ? -1 : wait_child(pid);
}

}  // namespace host
