// SPDX-License-Identifier: Apache-2.0
// shim: the launcher side of the sandbox, small enough for any launcher to embed.
//
// In a freshly forked child, shim_exec() installs the seccomp program with a new listener
// (setting PR_SET_NO_NEW_PRIVS first only where the kernel requires it: without
// CAP_SYS_ADMIN), hands the listener fd to the supervisor over `control`
// (SCM_RIGHTS), waits for the supervisor's go-ahead (so the target can be registered before
// its first instruction), and execs the target. Only async-signal-safe calls: safe after
// fork() in a multi-threaded process. No Boost, no JSON, no allocation.
//
// Wire protocol on `control` (a SOCK_SEQPACKET socket, one message per record):
//   child -> supervisor: ShimMessage{kind = listener} + SCM_RIGHTS(listener fd)
//   supervisor -> child: one byte 'g' (go) -- anything else, or EOF, aborts the launch
//   child -> supervisor: ShimMessage{kind = failed, stage, err} if a step or exec fails;
//                        on a successful exec the control fd just closes (it is O_CLOEXEC).
#pragma once

#include <linux/filter.h>

#include <cstddef>
#include <cstdint>

namespace sandbox::shim {

enum class Stage : std::uint32_t { none = 0, no_new_privs, seccomp, send_listener, wait_go, exec };

struct Message {
  enum Kind : std::uint32_t { listener = 1, failed = 2 } kind;
  Stage stage;
  std::int32_t err;  // errno of the failed step
};

const char* stage_name(Stage s);

// The one-line reason for seccomp(NEW_LISTENER) failing with EBUSY: the kernel allows one
// notify listener per filter chain, so the caller already runs under a supervisor.
constexpr const char* kNestedMessage =
    "this process already runs under a sandbox supervisor (its seccomp filter chain has a listener, EBUSY); "
    "nested sandboxes are not supported: run CMD directly, it is supervised already";

// The same, for a nested launcher whose nested job was not had; the reason follows.
constexpr const char* kNestedRefused =
    "this process already runs under a sandbox supervisor (its seccomp filter chain has a listener, EBUSY), "
    "and "
    "no nested job was had";

// Whether this process already runs under a supervisor, as the kernel says it: a forked
// probe installs an allow-everything filter asking for a listener, which fails with EBUSY
// exactly when the chain has one already (one listener per chain), and exits. 1: nested,
// 0: not, -errno: cannot tell. Nothing of the probe stays (its filter dies with it).
int probe_nested();

// Never returns. On failure reports {failed, stage, errno} on `control` and dies: with
// _exit(127) before the filter is installed, with SIGKILL after (an exit_group would wait
// for a supervisor that never received the listener).
[[noreturn]] void exec_target(const sock_fprog& prog, int control, const char* file, char* const argv[]);

// The part of exec_target that installs the filter; returns the listener fd or -errno.
// Exposed for launchers that want to do the rest themselves.
int install_filter(const sock_fprog& prog);
// install_filter, setting PR_SET_NO_NEW_PRIVS first only if the kernel requires it (the
// caller lacks CAP_SYS_ADMIN: EACCES). kNoNewPrivsFailed (errno set) if that prctl fails.
constexpr int kNoNewPrivsFailed = -100000;
int install_filter_nnp_if_needed(const sock_fprog& prog);

// Sends `len` bytes as one message, with `fd` attached (SCM_RIGHTS) unless fd < 0.
// Returns 0 or -errno. Async-signal-safe.
int send_with_fd(int sock, const void* data, std::size_t len, int fd);

// Client side of a control socket: whether the server at the other end of the connected
// `sock` may be believed -- it runs as root or as our own effective uid (SO_PEERCRED).
// Anyone else could have bound the path first and would answer our opens, or take our
// listener. Returns 0, or -EPERM with the server's uid in `peer_uid`, or -errno.
int check_server(int sock, unsigned& peer_uid);

// Supervisor side: receive the listener (or the failure report) from the child.
// Returns the listener fd (>= 0), or -1 with `failure` filled in.
int receive_listener(int control, Message& failure);

}  // namespace sandbox::shim
