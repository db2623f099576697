// SPDX-License-Identifier: Apache-2.0
// Memory family: brk and anonymous private mmap (the filter notifies no other mmap), the
// limit changes and the clones that decide what those calls are checked against.
//
// The supervisor cannot perform these calls for the target, and it does not see the result
// of a call it lets continue. So it predicts the result from the checks the kernel makes
// (mm/mmap.c of Linux 6.1, rule by rule) and charges every call predicted to succeed.
// A predicted failure is never a bet on state some task could change before the call
// runs (that was issue 10's escape: the call ran, succeeded and was not counted):
//  - a failure read from the call's own registers (lengths, offsets, flags, addresses) or
//    the caller's credentials (only the blocked caller changes them) is certain: the call
//    is let through (CONTINUE), uncharged, and the kernel fails it with its own error;
//  - a failure read from shared, changing state (limits, the mm's counters, its mappings)
//    is answered by the supervisor itself (the error, or the unchanged break for brk):
//    the call never runs, so nothing can be mapped uncharged. The answer is what the
//    kernel would have given at the moment of the supervisor's read: the call takes
//    effect at that moment, as if it had run just then.
// docs/design.md ("Memory: predicting the result") lists every failure branch and its inputs.
//
// The kernel keys this state by address space (the break, the layout, the counters: mm)
// and by thread group (limits); so does the supervisor: AddressSpace is shared by the
// processes kcmp(KCMP_VM) finds in one mm, and the break is followed from the brk calls
// themselves, never read back from /proc/<pid>/maps except once when it is unknown.
#include <linux/capability.h>
#include <linux/sched.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/syscall.h>

#include <algorithm>
#include <cerrno>

#include "notify/supervisor.hpp"

namespace sandbox {
namespace {

constexpr std::uint64_t kPage = 4096;
constexpr std::uint64_t kNone = ~0ULL;  // RLIM_INFINITY, or "no bound"

// PAGE_ALIGN, saturating instead of wrapping to 0 (a wrapped length is refused anyway).
std::uint64_t page_align(std::uint64_t v) {
  return v > kNone - (kPage - 1) ? kNone : (v + kPage - 1) & ~(kPage - 1);
}

using Limits = target::MemoryLimits;

// may_expand_vm() of mm/mmap.c.
bool may_expand_vm(const target::VmCounters& vm, const Limits& lim, std::uint64_t pages, bool data) {
  if (vm.total_pages + pages > lim.as.cur / kPage) return false;
  if (data && vm.data_pages + pages > lim.data.cur / kPage) {
    // "Workaround for Valgrind": a soft RLIMIT_DATA of 0 allows up to the hard limit.
    return lim.data.cur == 0 && vm.data_pages + pages <= lim.data.max / kPage;
  }
  return true;
}

// Whether a brk growth from `oldbrk` to `newbrk`, predicted to succeed (the break, limits
// and overcommit heuristic checked by on_brk), is certain to: every other failure of 6.1's
// brk() and do_brk_flags() is ruled out here. The caller makes sure no other task uses the
// mm (this thread, blocked in the call, is its only user), so what is read now is what the
// call will find. Left out: a failed kernel allocation (GFP_KERNEL, too small to fail: the
// task is being OOM-killed then, and a dead task's break does not matter).
bool brk_growth_certain(pid_t tid, const target::AddressSpaceFacts& facts, const target::Overcommit& oc,
                        std::uint64_t oldbrk, std::uint64_t newbrk) {
  const std::uint64_t pages = (newbrk - oldbrk) / kPage;
  // security_vm_enough_memory_mm() under strict overcommit: depends on every process's commit.
  if (oc.mode == 2) return false;
  // check_brk_limits() -> mlock_future_check(): only with mm->def_flags VM_LOCKED
  // (mlockall(MCL_FUTURE)), which we cannot read; ruled out when the growth would fit anyway.
  const target::Limit memlock = target::rlimit(tid, RLIMIT_MEMLOCK);
  if (memlock.finite() && !target::has_capability(tid, CAP_IPC_LOCK).value_or(false)) {
    const auto vm = target::vm_counters(tid);
    if (!vm || vm->locked_pages + pages > memlock.cur / kPage) return false;
  }
  const auto maps = target::mappings(tid, /*flags=*/false);
  const auto max = target::max_map_count();
  if (!maps || !max) return false;
  std::uint64_t count = 0;
  for (const target::Mapping& m : *maps) {
    if (m.start >= facts.task_size) continue;  // the gate area ([vsyscall]) is not in map_count
    ++count;
    // brk(): a mapping within [oldbrk, newbrk + PAGE + stack_guard_gap) is in the way (the gap
    // applies to a VM_GROWSDOWN mapping only; taken for every one).
    if (m.end > oldbrk && m.start < newbrk + kPage + std::min(facts.stack_guard_gap, kNone - newbrk - kPage))
      return false;
  }
  // do_brk_flags(): ENOMEM once mm->map_count is above vm.max_map_count.
  return count <= *max;
}

}  // namespace

Supervisor::AddressSpace& Supervisor::address_space(Call& c) {
  ProcState& p = c.proc;
  if (p.mm) return *p.mm;
  // Which known process uses the same mm? Only a CLONE_VM clone (clone, clone3, vfork:
  // notified, see on_vm_clone) makes two processes share one, and it makes them parent and
  // child or, with CLONE_PARENT, siblings; an orphan's relatives are unknown. So: kcmp with
  // the parent, then with the siblings and children whose mm may be shared (children: we
  // come back here after an exec, which may have failed) -- with every such mm only for an
  // orphan (its parent is a reaper, or unknown), which keeps the cost of a fork
  // proportional to its own family.
  const auto st = target::status(c.tid);
  std::shared_ptr<AddressSpace> found;
  auto same = [&](ProcState& q) {
    if (&q == &p || !q.mm) return false;
    const auto peer = target::live_thread(q.tgid);
    if (peer && target::same_vm(c.tid, *peer).value_or(false)) found = q.mm;
    return found != nullptr;
  };
  const Pid ppid = st ? st->ppid : 0;
  const auto parent = procs_.find(ppid);
  if (parent != procs_.end()) same(parent->second);
  if (!found) {
    const bool orphan = parent == procs_.end() || ppid == self_;
    std::vector<const AddressSpace*> tried;
    for (auto& [tgid, q] : procs_) {
      if (!q.mm || !q.mm->shared || (!orphan && q.ppid != ppid && q.ppid != c.tgid)) continue;
      if (std::find(tried.begin(), tried.end(), q.mm.get()) != tried.end()) continue;
      tried.push_back(q.mm.get());
      if (same(q)) break;
    }
  }
  if (found) {
    found->shared = true;
    p.mm = found;
    return *p.mm;
  }
  // A new one. Another process can be using it only if a CLONE_VM clone made one of them,
  // and every such clone is notified (on_vm_clone): before the first, no mm is shared.
  // After it, a new mm is a candidate for the newcomers' kcmp above: the break is one
  // object for every process we link to it.
  p.mm = std::make_shared<AddressSpace>();
  p.mm->shared = any_vm_clone_ || p.mm_was_shared || !st;
  return *p.mm;
}

target::MemoryLimits Supervisor::memory_limits(Call& c) {
  // Per thread group (signal_struct), read through the calling thread (never the leader,
  // which may be a zombie). Cached until a limit change names this process; from then on
  // read at every call (a change in flight when we read is simply ordered after this call).
  ProcState& p = c.proc;
  if (p.limits && !p.limits_change) return *p.limits;
  const Limits lim{target::rlimit(c.tid, RLIMIT_AS), target::rlimit(c.tid, RLIMIT_DATA)};
  if (!p.limits_change) p.limits = lim;
  return lim;
}

Reply Supervisor::on_rlimit_change(Call& c) {
  // setrlimit(res, new) or prlimit64(pid, res, new, old) with a new value, before it runs:
  // the process it names stops trusting its cached limits. `pid` may be any thread id of
  // that process (limits are per thread group); if we cannot tell which process it names
  // (another pid namespace), every process stops trusting its cache.
  ProcState* named = &c.proc;
  if (c.n.data.nr == SYS_prlimit64 && static_cast<pid_t>(c.arg(0)) != 0) {
    const auto pid = static_cast<pid_t>(c.arg(0));
    named = nullptr;
    if (target::same_pid_ns(c.tid)) {
      Pid tgid = pid;
      if (auto t = threads_.find(pid); t != threads_.end()) {
        tgid = t->second.tgid;
      } else if (const auto st = target::status(pid)) {
        tgid = st->tgid;
      }
      auto it = procs_.find(tgid);
      if (it == procs_.end()) return Reply::proceed();  // not known: nothing cached
      named = &it->second;
    }
  }
  // A change from outside may land between an untracked brk's check and its run.
  if (named != &c.proc) foreign_limit_change_ = true;
  for (auto& [tgid, q] : procs_) {
    if (named && &q != named) continue;
    q.limits_change = true;
    q.limits.reset();
    q.nofile.reset();
  }
  return Reply::proceed();
}

Reply Supervisor::on_vm_clone(Call& c) {
  // clone(CLONE_VM without CLONE_THREAD), vfork, or any clone3 (its flags are in memory),
  // before it runs: the caller's mm may get a second user, linked to it by kcmp at its
  // first memory call. `shared` only widens that search: being wrong costs a kcmp.
  address_space(c).shared = true;
  any_vm_clone_ = true;
  return Reply::proceed();
}

bool Supervisor::brk_known(Call& c, AddressSpace& mm, bool charged) {
  const target::Layout& l = *mm.layout;
  if (!mm.brk) {
    // Unknown before the first call after an exec (then the heap is empty and its end is
    // start_brk, exactly) or in a process first seen after a fork: the heap's end in maps
    // is right unless the heap was trimmed (then too low: over-counts).
    const auto guess = target::heap_end(c.tid, l.start_brk);
    if (!guess) return false;
    mm.brk = page_align(*guess);
    // mm->brk to the byte is what a refused brk returns: right after an exec it is the
    // page-aligned start_brk; in a forked child, whose parent's break we do not carry
    // over, the page boundary is a guess. Only the value a refusal returns depends on it.
    mm.brk_value = *mm.brk;
  }
  if (mm.brk_floor && charged && mm.brk_floor_certain && !foreign_limit_change_) {
    // The untracked growth was certain to succeed (below): the break moved, whatever munmap
    // did to the heap's top pages since, as the kernel's mm->brk did.
    mm.brk_floor.reset();
  } else if (mm.brk_floor && charged) {
    // An untracked growth was let through uncharged and may have failed for a reason not
    // predicted (a mapping in the way, mlockall(MCL_FUTURE) over RLIMIT_MEMLOCK,
    // vm.max_map_count, strict overcommit, a limit lowered from outside): believed, a
    // tracked growth up to it would go uncounted. Confirmed when the heap reaches it; else
    // the break is taken as low as it can be -- the [heap] end, never below the floor:
    // over-counts if that heap's top was unmapped since (docs/semantics.md), never
    // under-counts.
    const auto end = target::heap_end(c.tid, l.start_brk);
    if (!end) return false;
    if (page_align(*end) < *mm.brk) {
      const std::uint64_t low = std::max(*mm.brk_floor, page_align(*end));
      mm.brk_value = low == *mm.brk_floor ? mm.brk_floor_value : low;
      mm.brk = low;
    }
    mm.brk_floor.reset();
  }
  return true;
}

bool Supervisor::brk_growth_refused(Call& c, const target::MemoryLimits& lim, std::uint64_t pages) {
  // do_brk_flags(): the overcommit heuristic refuses a single request above RAM + swap.
  // The request is measured from the break we believe, which a trimmed heap can put too
  // low: answered here, so a wrong guess can only refuse, never let a growth through.
  if (overcommit_.mode == 0 && pages > overcommit_.ram_swap_pages) return true;
  // may_expand_vm() in do_brk_flags(). (brk's look-ahead for a mapping in the way of the
  // growth would cost a maps read at every growth: not predicted, such a growth counts.)
  if (lim.as.finite() || lim.data.finite())
    if (const auto vm = target::vm_counters(c.tid); vm && !may_expand_vm(*vm, lim, pages, /*data=*/true))
      return true;
  return false;
}

Reply Supervisor::on_brk(Call& c) {
  AddressSpace& mm = address_space(c);
  const std::uint64_t want = c.arg(0);
  // An untracked call is predicted like a tracked one and only not charged: the break it
  // leaves is then known. Forgetting it would re-read it later from the [heap] end, which
  // munmap may have trimmed below the break (the next growth over-counted by the trimmed
  // pages), and would lose mm->brk to the byte, which a refused brk returns.
  const bool charged = counted(c);
  if (!mm.layout) mm.layout = target::layout(c.tid);
  // Cannot read the target's layout or heap (it is exiting): refuse rather than guess. brk
  // reports failure by returning a break below the one asked for; 0 is always below.
  if (!mm.layout) return Reply::value(0);
  const target::Layout& l = *mm.layout;
  // Below start_brk: refused, nothing changes (start_brk is fixed from exec to exec:
  // PR_SET_MM is refused in BPF).
  if (want < l.start_brk) return Reply::proceed();
  if (!brk_known(c, mm, charged)) return Reply::value(0);
  // A refusal read from changing state is answered here with the unchanged break.
  const auto unchanged = static_cast<std::int64_t>(mm.brk_value);
  const Limits lim = memory_limits(c);
  // check_data_rlimit(): the whole data segment including the new break.
  if (lim.data.finite() && (want - l.start_brk) + (l.end_data - l.start_data) > lim.data.cur)
    return Reply::value(unchanged);
  const std::uint64_t oldbrk = *mm.brk;
  const std::uint64_t newbrk = page_align(want);
  // Shrinking: 6.1 unmaps [newbrk, oldbrk) from the mapping it finds there, and fails if
  // there is none (the heap has a hole there). A mapping seen there may vanish before the
  // call runs: then it fails and the break we believe is below the real one, which only
  // over-counts the next growth.
  if (newbrk < oldbrk && !target::range_mapped(c.tid, newbrk, oldbrk).value_or(true))
    return Reply::value(unchanged);
  if (newbrk <= oldbrk) {  // the same page (mm->brk moves within it), or shrinking
    return Reply::proceed().then([this, &c, &mm, oldbrk, newbrk, want](int) {
      mm.brk = newbrk;
      mm.brk_value = want;
      // The break can be no higher than this now (or it stayed where it was: a hole).
      if (mm.brk_floor && newbrk < *mm.brk_floor) mm.brk_floor = newbrk, mm.brk_floor_value = want;
      commit_brk(c, oldbrk, newbrk);
    });
  }
  const std::uint64_t len = newbrk - oldbrk;
  // check_brk_limits(): get_unmapped_area(MAP_FIXED, oldbrk, len) refuses oldbrk + len =
  // newbrk above TASK_SIZE -- the register alone: let the kernel refuse it.
  if (newbrk > facts_.task_size) return Reply::proceed();
  if (brk_growth_refused(c, lim, len / kPage)) return Reply::value(unchanged);
  const Delta d{len, 0};
  if (charged && !admit(c, d)) return Reply::error(ENOMEM);
  // An untracked growth is certain to succeed only if nothing else can change what it will
  // find: this thread is its mm's only user (no other thread, no CLONE_VM sharer), no limit
  // was changed from outside a process so far, and every unpredicted failure is ruled out.
  bool certain = false;
  if (!charged && (!mm.brk_floor || mm.brk_floor_certain) && !mm.shared && !foreign_limit_change_)
    if (const auto st = target::status(c.tid); st && st->threads == 1)
      certain = brk_growth_certain(c.tid, facts_, overcommit_, oldbrk, newbrk);
  return Reply::proceed().then([this, &c, &mm, charged, certain, d, oldbrk, newbrk, want](int) {
    // Counted whether or not it succeeds; if it failed after all, the break we believe is
    // above the real one by exactly what was counted, so the later growth to it that we
    // do not count has been paid for.
    if (charged) {
      charge(c, d);
    } else if (!mm.brk_floor) {
      mm.brk_floor = oldbrk;  // not charged: believed only once confirmed or certain (above)
      mm.brk_floor_value = mm.brk_value;
      mm.brk_floor_certain = certain;
    } else {
      mm.brk_floor_certain = mm.brk_floor_certain && certain;  // each one since the floor
    }
    mm.brk = newbrk;
    mm.brk_value = want;
    commit_brk(c, oldbrk, newbrk);
  });
}

Reply Supervisor::on_mmap(Call& c) {
  if (!counted(c)) {
    return Reply::proceed();
  }
  if (commit_rule(c)) return on_mmap_commit(c);  // every mmap is notified then (commit.cpp)
  // A job of the kernel rule under a commit rule's filter (an OCI profile made from another
  // policy) sees every mmap too: it counts the anonymous private ones only, as its own
  // filter's condition would.
  if ((c.arg(3) & (MAP_ANONYMOUS | MAP_PRIVATE)) != (MAP_ANONYMOUS | MAP_PRIVATE)) {
    return Reply::proceed();
  }
  const std::uint64_t addr = c.arg(0), len = c.arg(1), prot = c.arg(2), flags = c.arg(3), off = c.arg(5);
  const std::uint64_t type = flags & MAP_TYPE;
  const bool noreplace = flags & MAP_FIXED_NOREPLACE;
  const bool fixed = (flags & MAP_FIXED) || noreplace;  // do_mmap: NOREPLACE implies MAP_FIXED
  const std::uint64_t plen = page_align(len);
  const std::uint64_t pages = plen / kPage;
  const std::uint64_t pgoff = off / kPage;
  // sys_mmap/do_mmap/get_unmapped_area checks on the registers alone, and the caller's
  // capabilities (changed only by the caller, blocked here): the kernel fails these the
  // same way, with its own error.
  bool fails = len == 0 || (off & (kPage - 1)) != 0  // EINVAL
               || plen == kNone                      // PAGE_ALIGN wraps: ENOMEM
               || pgoff + pages < pgoff              // EOVERFLOW
               || plen > facts_.task_size            // ENOMEM
               || type != MAP_PRIVATE;               // anonymous MAP_SHARED_VALIDATE (0x03): EINVAL
  if (!fails && fixed)
    fails = addr > facts_.task_size - plen             // ENOMEM
            || (addr & (kPage - 1)) != 0;              // EINVAL
  if (!fails && fixed && addr < facts_.mmap_min_addr)  // security_mmap_addr(): EPERM
    fails = !target::has_capability(c.tid, CAP_SYS_RAWIO).value_or(true);
  const bool writable = prot & PROT_WRITE;
  const bool noreserve = (flags & MAP_NORESERVE) && overcommit_.mode != 2;
  // mmap_region(): the overcommit heuristic refuses a single request above RAM + swap.
  if (!fails && writable && !noreserve && overcommit_.mode == 0 && pages > overcommit_.ram_swap_pages)
    fails = true;
  if (fails) {
    return Reply::proceed();
  }
  // Refusals read from changing state: answered here (see the top of this file), in
  // do_mmap's order. Not for MAP_HUGETLB, whose own checks come first with other errors.
  if (!(flags & MAP_HUGETLB)) {
    if (noreplace && target::range_mapped(c.tid, addr, addr + plen).value_or(false)) {
      return Reply::error(EEXIST);
    }
    std::optional<target::VmCounters> vm;
    if (flags & MAP_LOCKED) {
      // can_do_mlock() (EPERM) and mlock_future_check() (EAGAIN): RLIMIT_MEMLOCK and
      // mm->locked_vm, unless the caller holds CAP_IPC_LOCK.
      const target::Limit memlock = target::rlimit(c.tid, RLIMIT_MEMLOCK);
      if (!target::has_capability(c.tid, CAP_IPC_LOCK).value_or(true) && memlock.finite()) {
        if (memlock.cur == 0) {
          return Reply::error(EPERM);
        }
        vm = target::vm_counters(c.tid);
        if (vm && vm->locked_pages + pages > memlock.cur / kPage) {
          return Reply::error(EAGAIN);
        }
      }
    }
    const Limits lim = memory_limits(c);
    const bool data = writable && !(flags & MAP_GROWSDOWN);  // is_data_mapping()
    if (lim.as.finite() || (data && lim.data.finite())) {
      if (!vm) vm = target::vm_counters(c.tid);
      if (vm && !may_expand_vm(*vm, lim, pages, data)) {
        // mmap_region() tries again without the pages a MAP_FIXED mapping would unmap.
        std::uint64_t replaced = 0;
        if (fixed && !noreplace) replaced = target::mapped_pages(c.tid, addr, plen).value_or(pages);
        if (!may_expand_vm(*vm, lim, pages - std::min(replaced, pages), data)) {
          return Reply::error(ENOMEM);
        }
      }
    }
  }
  // A reservation (PROT_NONE, MAP_NORESERVE) counts like the rest; how much of the charge
  // it is, is kept for the kill line (docs/memory.md).
  const Delta d{plen, 0, 0, !writable || (flags & MAP_NORESERVE) ? plen : 0};
  if (!admit(c, d)) return Reply::error(ENOMEM);
  return Reply::proceed().then([this, &c, d](int) { charge(c, d); });
}

}  // namespace sandbox
