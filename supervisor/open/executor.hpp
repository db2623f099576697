// SPDX-License-Identifier: Apache-2.0
// executor: opens performed inside a target's namespaces, with its credentials as they
// hold there. A target in namespaces other than the supervisor's (user, mount, network,
// IPC, UTS, cgroup) gets its opens from an executor: a process forked from the supervisor
// (single-threaded, as joining a user namespace requires) that takes the target's ids and
// groups, joins its namespaces (setns), sets its effective capabilities -- which then mean
// what they mean in the target's user namespace -- and serves opens over a socketpair,
// sending each file back (SCM_RIGHTS) for the supervisor to install with ADDFD.
//
// Executors are kept per distinct context (namespaces + credentials), several per context
// when opens overlap (an open that waits holds its executor only). One that is interrupted
// while it waits is killed, never reused.
#pragma once

#include <sys/types.h>

#include <array>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <list>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "base/result.hpp"
#include "base/unique_fd.hpp"

namespace sandbox::opening {

// The namespaces an executor joins, in setns order (user first).
inline constexpr std::array<const char*, 6> kNamespaces = {"user", "mnt", "net", "ipc", "uts", "cgroup"};

struct ExecContext {
  std::array<std::uint64_t, 6> ns{};          // inode numbers, kNamespaces order
  std::array<std::uint32_t, 4> uid{}, gid{};  // real, effective, saved, fs: as the supervisor sees them
  std::vector<gid_t> groups;
  std::uint64_t cap_eff = 0;
  bool operator==(const ExecContext&) const = default;
};

struct ExecRequest {
  pid_t tid = 0, tgid = 0;
  std::uint64_t flags = 0, mode = 0, resolve = 0;
  int umask = -1;  // set before the open when >= 0
  std::string path;
};

// What the executor runs for a request, in its context: a descriptor or -errno, and
// whether a failure was an ENXIO on /dev/tty. `start` is a directory fd or AT_FDCWD.
using Perform = std::function<int(const ExecRequest&, int start, bool& tty_dev)>;

class Executors {
 public:
  // `make`: called in each new executor before it changes identity, to build its Perform.
  explicit Executors(std::function<Perform()> make) : make_(std::move(make)) {}
  Executors(const Executors&) = delete;
  Executors& operator=(const Executors&) = delete;
  ~Executors();

  // Performs `req` in `ctx` (thread `tid` is in it; its namespaces are joined when an
  // executor has to be started). `root` (the target's root) and `start` are O_PATH fds of
  // ours; `start` may be AT_FDCWD. Returns the opened file or the open's errno; EINTR when
  // this thread was interrupted while the executor waited (that executor is then killed).
  Result<UniqueFd> run(const ExecContext& ctx, int root, int start, const ExecRequest& req, bool& tty_dev);

 private:
  struct Proc;
  Result<std::shared_ptr<Proc>> take(const ExecContext& ctx, pid_t tid);
  void give_back(std::shared_ptr<Proc> p);
  Result<std::shared_ptr<Proc>> spawn(const ExecContext& ctx, pid_t tid);

  std::function<Perform()> make_;
  std::mutex mu_;
  std::list<std::shared_ptr<Proc>> idle_;  // most recently used first
  // Executors are forked by one long-lived thread, so their PR_SET_PDEATHSIG (which follows
  // the forking thread) fires only when the supervisor goes.
  std::condition_variable cv_;
  struct SpawnJob;
  std::list<SpawnJob*> jobs_;
  bool quit_ = false;
  std::thread spawner_;
  void spawner();
};

}  // namespace sandbox::opening
