// SPDX-License-Identifier: Apache-2.0
// Lifecycle family: exit, exit_group, execve/execveat, and credential changes -- the events
// that end nodes or make the supervisor's cached view of a task stale.
#include <sys/syscall.h>

#include <algorithm>

#include "notify/supervisor.hpp"

namespace sandbox {

Reply Supervisor::on_exit(Call& c, bool group) {
  const Pid tid = c.tid, tgid = c.tgid;
  if (group) {
    // The whole process is going: its nodes go now, so no query reports it any more.
    const bool had = tracker_.find(tgid) != nullptr;
    tracker_.process_exited(tgid);
    const JobId job = jobs_.job_of(tgid);
    jobs_.leave(tgid, Ending::exit, static_cast<int>(c.arg(0) & 0xff));  // its job share goes too
    if (job != 0 && (usage_raw_ | usage_coalesced_) != 0) publish_job_usage(job);
    if (job != 0 && !had) publish_member_usage(tgid, true);
    if (had) emit({Event::Kind::exited, tgid, tgid});
  } else if (tid != tgid) {
    const bool had = tracker_.find(tid) != nullptr;
    tracker_.thread_exited(tid, tgid);
    thread_nodes_.erase(tid);
    if (had) emit({Event::Kind::exited, tid, tgid});
  }
  // The thread is gone after this call and its tid may be reused: forget it (before the
  // answer, under the same lock: nothing runs between the two).
  if (!group) {
    auto& ts = c.proc.threads;
    ts.erase(std::remove(ts.begin(), ts.end(), tid), ts.end());
    threads_.erase(tid);  // c.thread is dangling from here on
    c.open.invalidate_thread(tid);
  }
  return Reply::proceed();
}

Reply Supervisor::on_execve(Call& c) {
  ProcState& p = c.proc;
  // An exec is asked for (it may still fail: execvp tries every PATH entry); the event
  // waits for its result, seen at the process's next call (settle_exec). The path is read
  // for the message only, and the image mark before the call: both only for a watcher.
  if (!subscribers_.empty()) {
    if (!p.exec || p.exec->tid != c.tid)
      p.exec.emplace(ProcState::PendingExec{{}, target::image_mark(c.tid), c.tid});
    const bool at = c.n.data.nr == SYS_execveat;
    auto path = target::read_string(c.tid, c.arg(at ? 1 : 0), 4096);
    if (p.exec->paths.size() < 64)
      p.exec->paths.push_back(path.ok() ? std::move(path).value() : std::string(1, '?'));
  }
  // Forgotten before the answer, under the same lock (nothing runs between the two). A new
  // image (if the exec succeeds): new brk layout, possibly new credentials, and
  // the other threads die in de_thread() without calling exit.
  // The exec leaves its address space (memory.cpp finds the new one at the next memory
  // call); if it fails it is still in the old one, possibly shared: remember that.
  if (p.mm) p.mm_was_shared = p.mm_was_shared || p.mm->shared;
  p.mm.reset();
  p.closing.clear();
  p.name_stale = true;
  drop_threads(p);  // c.thread is dangling from here on
  c.open.forget_process(p.tgid);
  return Reply::proceed();
}

void Supervisor::settle_exec(Call& c) {
  ProcState& p = c.proc;
  // Another thread's call may come while the exec is still under way (before de_thread()
  // kills it): only the exec's own thread, or the new image (which runs as the leader),
  // says how it ended.
  if (c.tid != p.exec->tid && c.tid != c.tgid) return;
  const auto now = target::image_mark(c.tid);
  const bool ran = !p.exec->before || !now || !(*now == *p.exec->before);
  if (c.tid != p.exec->tid && !ran) return;
  ProcState::PendingExec pending = std::move(*p.exec);
  p.exec.reset();
  if (!ran && dispatch_.at(c.n.data.nr) == Op::execve) {
    p.exec = std::move(pending);  // the last one failed and the next is tried (execvp)
    return;
  }
  if (subscribers_.empty()) return;
  Event e{Event::Kind::exec, c.tgid, c.tgid};
  e.exec_failed = !ran;
  e.exec_paths = std::move(pending.paths);
  if (ran && e.exec_paths.size() > 1) e.exec_paths.erase(e.exec_paths.begin(), e.exec_paths.end() - 1);
  emit(e);
}

Reply Supervisor::on_credentials(Call& c) {
  // set*id/setgroups/capset change only the calling thread's credentials (glibc repeats
  // the call in every thread); re-read them at this thread's next open.
  c.open.invalidate_thread(c.tid);
  return Reply::proceed();
}

}  // namespace sandbox

namespace sandbox {

Reply Supervisor::on_root_change(Call& /*c*/) {
  // Before the call runs: every serving thread stops trusting its cached roots, so no open
  // can be resolved against a root the caller is about to leave.
  for (OpenEmulator* e : emulators_) e->root_may_change();
  return Reply::proceed();
}

}  // namespace sandbox
