// SPDX-License-Identifier: Apache-2.0
// The authority: who a caller is, what it may see and do, and the outside operations
// (Control) on nodes.
#include <dirent.h>
#include <linux/audit.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "notify/supervisor.hpp"
#include "notify/supervisor_detail.hpp"

namespace sandbox {
namespace {

const char* errno_name(int e) {
  switch (e) {
    case EINVAL: return "EINVAL";
    case ESRCH: return "ESRCH";
    case ENFILE: return "ENFILE";
    case EPERM: return "EPERM";
    case EAGAIN: return "EAGAIN";
    default: return strerrordesc_np(e);
  }
}

// A quota for resource_cap_bytes: -1 for none, saturated at INT64_MAX.
std::int64_t quota_arg(std::optional<std::uint64_t> v) {
  if (!v) return -1;
  return *v > static_cast<std::uint64_t>(INT64_MAX) ? INT64_MAX : static_cast<std::int64_t>(*v);
}

}  // namespace

// ---- outside operations (Control) ----------------------------------------------------

Caller Supervisor::identify(const ucred& peer, int peer_pidfd) {
  // One membership rule, from kernel facts (docs/security.md, "Who is inside"). Never from
  // parent links alone: clone(CLONE_PARENT), double forks and reparenting change them, so
  // a process of a job may have no known ancestor. The fact that cannot be changed is the
  // seccomp filter: inherited across every fork and clone, never removed. A process that
  // runs under no filter at all cannot be one of ours; one that does may be.
  Caller c{peer.uid, peer.gid, peer.pid};
  // pid 0: the peer is in a pid namespace we cannot see into. Every target is visible in
  // ours (we read its /proc), so such a peer is none of ours: outside.
  if (peer.pid <= 0) return c;
  // Unclassified until proven otherwise: no rights at all.
  c.inside = true;
  // SO_PEERPIDFD pins the very process that called connect(). Without it, or if that
  // process is gone (it connected, handed the socket on and exited), nothing we read
  // under its pid is known to be about it: unclassified.
  if (peer_pidfd < 0 || target::pidfd_exited(peer_pidfd)) return c;
  const auto lk = swept();
  const JobId job = job_of(peer.pid);
  const auto st = target::status(peer.pid);
  // Still alive after the reads: the pid we read named the pinned peer, not a reuse.
  if (target::pidfd_exited(peer_pidfd) || !st) return c;
  if (job != 0) {
    c.job = job;  // a known process of a job, or a descendant of one: inside
  } else if (st->seccomp == 0) {
    // Filters are never removed: no filter now means none at connect(), so no call of
    // the connecting process went through any listener, ours included. Outside.
    c.inside = false;
  }
  // Else: under a filter that may be ours (a job's process before its first notified
  // call), or someone else's (a container's profile): we cannot tell, so no rights.
  // The connection keeps what was decided for the connecting process: handed to another
  // process it only carries the rights its owner chose to give away.
  return c;
}

void Supervisor::reclassify(Caller& c, int peer_pidfd) {
  // A member never leaves its job; an outside or unclassified peer may since have become
  // known as a member (its first notified call, its join): then it is inside, and only
  // inside -- rights only shrink. The same pinning as identify().
  if (c.pid <= 0 || (c.inside && c.job != 0) || peer_pidfd < 0) return;
  const auto lk = swept();
  const JobId job = job_of(c.pid);
  if (job == 0 || target::pidfd_exited(peer_pidfd)) return;
  c.inside = true;
  c.job = job;
}

Supervisor::View Supervisor::view_of(const Caller& c) {
  if (c.inside) return View{Actor::target, c.job, c.uid};
  return View{Actor::outside, std::nullopt, c.uid};
}

int Supervisor::imposed_by_other(const View& v, Pid pid) const {
  if (v.actor != Actor::outside || v.uid == 0) return 0;
  const Node* n = tracker_.find(pid);
  if (!n || (!n->heap_quota_bytes && !n->file_quota)) return 0;
  const auto it = node_imposer_.find(pid);
  return it != node_imposer_.end() && it->second != v.uid ? EPERM : 0;
}

OpResult Supervisor::job_imposed_by_other(const Caller& c, JobId job) const {
  if (c.uid == 0) return {};
  const auto it = job_imposer_.find(job);
  if (it == job_imposer_.end() || it->second == c.uid) return {};
  return {EPERM, "job " + std::to_string(job) + ": its quotas were set by uid " + std::to_string(it->second) +
                     "; only that uid or root may lift or change them"};
}

OpResult Supervisor::authorize(const Caller& c, Pid pid) {
  // An inside caller has the ABI's rights, scoped to its job by its View: no uid rule
  // (its uid may be a setuid program's, which gives it nothing here).
  if (c.inside || c.uid == 0 || pid < 1) return {};
  // kill(2)'s rule: the caller's uid is the target's real or saved uid.
  const auto st = target::status(pid);
  if (!st) return {};  // no such task: the operation's own error (ESRCH/EINVAL) applies
  if (c.uid == st->ruid || c.uid == st->suid) return {};
  return {EPERM, "pid " + std::to_string(pid) + " belongs to uid " + std::to_string(st->ruid)};
}

OpResult Supervisor::result(int err, Pid pid, Op op) {
  if (err == 0) return {};
  const bool registering = op == Op::abi_register;
  std::string what;
  switch (err) {
    case EINVAL:
      what = pid < 1                      ? "invalid pid"
             : op == Op::abi_resource_cap ? "not registered, or a quota below -1"
                                          : "not registered";
      break;
    case ESRCH:
      what = op == Op::abi_deregister ? "not registered" : "no live task with this pid in the sandbox";
      break;
    case ENFILE: what = registering ? "already registered" : "quotas already set"; break;
    case EPERM:
      what = op == Op::abi_register || op == Op::abi_fetch
                 ? "not permitted"
                 : "a quota imposed from outside cannot be lifted from inside, nor by a uid other than the "
                   "one that imposed it";
      break;
    case EAGAIN:
      what = "its job holds all the processes the supervisor can watch for it; try again later";
      break;
    default: what = errno_name(err);
  }
  return {err, "pid " + std::to_string(pid) + ": " + what};
}

// The five operations, shared by the ABI handler and the socket. A node of another job is
// invisible to a target's view: its errors are those for a pid with no node and no task.
int Supervisor::op_register(const View& v, Pid pid) {
  ViewGuard g(*directory_, v.job);
  const int rc = tracker_.register_node(pid, v.actor);
  if (rc == 0) {
    const Pid tgid = tracker_.find(pid)->tgid;
    if (!watch_node(pid, tgid)) {
      // Unwatched, the node would outlive its process: no node (EAGAIN, the cause logged).
      tracker_.deregister(pid, Actor::outside);
      return EAGAIN;
    }
    hub_.emit({Event::Kind::registered, pid, tgid});
  }
  return rc;
}

int Supervisor::op_fetch(const View& v, Pid pid, Node& out) {
  if (const Node* n = tracker_.find(pid); n && !visible(v, n->tgid)) return EINVAL;
  const int rc = tracker_.fetch(pid, out);
  if (rc == 0) out.heap_rule = jobs_.rule(out.tgid);
  return rc;
}

int Supervisor::op_deregister(const View& v, Pid pid) {
  const Node* n = tracker_.find(pid);
  if (n && !visible(v, n->tgid)) return ESRCH;
  const Pid tgid = n ? n->tgid : 0;
  if (const int denied = imposed_by_other(v, pid)) return denied;
  const int rc = tracker_.deregister(pid, v.actor);
  if (rc == 0) {
    node_imposer_.erase(pid);
    thread_nodes_.erase(pid);
    hub_.emit({Event::Kind::deregistered, pid, tgid});
  }
  return rc;
}

int Supervisor::op_cap(const View& v, Pid pid, const CapFn& cap) {
  if (const int denied = imposed_by_other(v, pid)) return denied;
  std::optional<Violation> enforce;
  int rc;
  {
    ViewGuard g(*directory_, v.job);
    rc = cap(v.actor, enforce);
  }
  if (rc == 0) {
    if (v.actor == Actor::outside)
      node_imposer_[pid] = v.uid;
    else
      node_imposer_.erase(pid);
    const Node* n = tracker_.find(pid);
    Event e{Event::Kind::quota_set, pid, n->tgid};
    e.heap_quota_bytes = n->heap_quota_bytes, e.file_quota = n->file_quota;
    hub_.emit(e);
  }
  if (enforce) kill_for(*enforce);  // enforced at once, as in the kernel
  return rc;
}

int Supervisor::op_reset(const View& v, Pid pid) {
  if (const int denied = imposed_by_other(v, pid)) return denied;
  ViewGuard g(*directory_, v.job);
  const int rc = tracker_.resource_reset(pid, v.actor);
  if (rc == 0) node_imposer_.erase(pid);
  if (rc == 0) hub_.emit({Event::Kind::quota_reset, pid, tracker_.find(pid)->tgid});
  return rc;
}

OpResult Supervisor::register_node(const Caller& c, Pid pid) {
  return with_node(c, pid, [&](const View& v) { return result(op_register(v, pid), pid, Op::abi_register); });
}

OpResult Supervisor::fetch(const Caller& c, Pid pid, Node& out) {
  return with_node(c, pid, [&](const View& v) { return result(op_fetch(v, pid, out), pid, Op::abi_fetch); });
}

OpResult Supervisor::deregister(const Caller& c, Pid pid) {
  return with_node(c, pid,
                   [&](const View& v) { return result(op_deregister(v, pid), pid, Op::abi_deregister); });
}

OpResult Supervisor::resource_cap(const Caller& c, Pid pid, std::int64_t heap_mib, std::int64_t files) {
  return with_node(c, pid, [&](const View& v) {
    const auto cap = [&](Actor a, std::optional<Violation>& enforce) {
      return tracker_.resource_cap(pid, heap_mib, files, a, enforce);
    };
    return result(op_cap(v, pid, cap), pid, Op::abi_resource_cap);
  });
}

OpResult Supervisor::resource_cap_bytes(const Caller& c, Pid pid, std::int64_t heap_bytes,
                                        std::int64_t files) {
  return with_node(c, pid, [&](const View& v) {
    const auto cap = [&](Actor a, std::optional<Violation>& enforce) {
      return tracker_.resource_cap_bytes(pid, heap_bytes, files, a, enforce);
    };
    return result(op_cap(v, pid, cap), pid, Op::abi_resource_cap);
  });
}

OpResult Supervisor::replace_cap(const Caller& c, Pid pid, std::optional<std::uint64_t> heap_bytes,
                                 std::optional<std::uint64_t> files) {
  // One lock for both steps: no notification is decided between them, so the node is
  // never without a limit. Every check of the cap (values, node, rights) is made before
  // the reset, so a replace that fails changes nothing.
  return with_node(c, pid, [&](const View& v) {
    if (const int denied = imposed_by_other(v, pid)) return result(denied, pid, Op::abi_resource_reset);
    int rc;
    {
      ViewGuard g(*directory_, v.job);
      rc = tracker_.resource_reset(pid, v.actor);  // EPERM from inside on an outside quota
    }
    if (rc != 0) return result(rc, pid, Op::abi_resource_reset);
    node_imposer_.erase(pid);
    const auto cap = [&](Actor a, std::optional<Violation>& enforce) {
      return tracker_.resource_cap_bytes(pid, quota_arg(heap_bytes), quota_arg(files), a, enforce);
    };
    return result(op_cap(v, pid, cap), pid, Op::abi_resource_cap);
  });
}

OpResult Supervisor::resource_reset(const Caller& c, Pid pid) {
  return with_node(c, pid,
                   [&](const View& v) { return result(op_reset(v, pid), pid, Op::abi_resource_reset); });
}

std::vector<Node> Supervisor::list(const Caller& c) {
  const auto lk = swept();
  const View v = view_of(c);
  std::vector<Node> out;
  for (const Node& n : tracker_.nodes())
    if (authorize(c, n.pid).ok() && visible(v, n.tgid)) {
      out.push_back(n);
      out.back().heap_rule = jobs_.rule(n.tgid);
      if (const auto it = job_containers_.find(job_of(n.tgid)); it != job_containers_.end())
        out.back().container = it->second;
    }
  return out;
}

OpResult Supervisor::impose(Pid pid, const Policy& policy) {
  const Caller self{::getuid(), ::getgid(), ::getpid()};
  if (!policy.track && !policy.heap_quota_bytes && !policy.file_quota) return {};
  if (auto r = register_node(self, pid); !r.ok()) return r;
  if (!policy.heap_quota_bytes && !policy.file_quota) return {};
  return resource_cap_bytes(self, pid, quota_arg(policy.heap_quota_bytes), quota_arg(policy.file_quota));
}

}  // namespace sandbox
