// Memory family: brk and anonymous private mmap (the filter notifies no other mmap).
//
// The supervisor cannot perform these calls for the target, and it does not see the result
// of a call it lets continue. So it predicts the result from the same checks the kernel
// makes (mm/mmap.c of Linux 6.1: brk's RLIMIT_DATA check, may_expand_vm's RLIMIT_AS and
// RLIMIT_DATA, the overcommit heuristic, argument validation) with the target's limits and
// counters read while the target is blocked, and charges only calls predicted to succeed.
// A call predicted to fail is let through uncharged (the kernel fails it the same way);
// one predicted to succeed is charged once the kernel has accepted our answer. What the
// prediction cannot see is listed in docs/design.md ("Memory: predicting the result").
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/syscall.h>

#include <cerrno>

#include "../supervisor.hpp"

namespace sandbox {
namespace {

constexpr std::uint64_t kPage = 4096;
constexpr std::uint64_t kTaskSize = (std::uint64_t{1} << 47) - kPage;
std::uint64_t page_align(std::uint64_t v) {
  return (v + kPage - 1) & ~(kPage - 1);
}

using Limits = target::MemoryLimits;

// Would growing the address space by `pages` pass may_expand_vm() and the overcommit
// check? `data` says whether the mapping counts as data (private, writable, not stack).
bool may_expand(pid_t pid, const Limits& lim, std::uint64_t pages, bool data, bool accountable,
                const target::Overcommit& oc) {
  if (lim.as.finite() || (data && lim.data.finite())) {
    const auto vm = target::vm_counters(pid);
    if (!vm) return true;  // cannot tell: assume success (over-counting fails closed)
    if (lim.as.finite() && vm->total_pages + pages > lim.as.cur / kPage) return false;
    if (data && lim.data.finite() && vm->data_pages + pages > lim.data.cur / kPage) return false;
  }
  // OVERCOMMIT_GUESS refuses a single request larger than RAM + swap.
  if (accountable && oc.mode == 0 && pages > oc.ram_swap_pages) return false;
  return true;
}

}  // namespace

target::MemoryLimits Supervisor::memory_limits(ProcState& p) {
  // Cached per process: limits change only by setrlimit/prlimit64, which are notified and,
  // before they run, switch the cache off for that process for good (on_rlimit_change).
  // (A prlimit from outside the sandbox is not seen: documented in design.md.)
  if (p.limits && !p.limits_change) return *p.limits;
  const Limits lim{target::rlimit(p.tgid, RLIMIT_AS), target::rlimit(p.tgid, RLIMIT_DATA)};
  if (!p.limits_change) p.limits = lim;
  return lim;
}

void Supervisor::on_rlimit_change(Call& c) {
  // setrlimit(res, new) or prlimit64(pid, res, new, old) with a new value: the caller's
  // process, or the one named by pid, stops trusting its cached limits.
  Pid target = c.tgid;
  if (c.n.data.nr == SYS_prlimit64 && static_cast<Pid>(c.arg(0)) != 0) {
    const auto named = static_cast<Pid>(c.arg(0));
    auto t = threads_.find(named);
    target = t != threads_.end() ? t->second.tgid : named;
  }
  if (auto it = procs_.find(target); it != procs_.end()) {
    it->second.limits_change = true;
    it->second.limits.reset();
  }
  reply_continue(c);
}

void Supervisor::on_brk(Call& c) {
  ProcState& p = c.proc;
  if (!tracker_.tracked(c.tid, c.tgid)) {
    // Nothing to account; our idea of the break goes stale, so forget it.
    p.brk_end.reset();
    reply_continue(c);
    return;
  }
  if (!p.layout) p.layout = target::layout(c.tgid);
  if (p.layout && !p.brk_end) p.brk_end = target::heap_end(c.tgid, p.layout->start_brk);
  if (!p.layout || !p.brk_end) {
    // Cannot read the target's layout (it is exiting): refuse rather than guess. brk
    // reports failure by returning a break below the one asked for; 0 is always below.
    reply_value(c, 0);
    return;
  }
  const std::uint64_t want = c.arg(0);
  const target::Layout& l = *p.layout;
  // brk below the start of the heap is a query: nothing changes.
  if (want < l.start_brk) {
    reply_continue(c);
    return;
  }
  const Limits lim = memory_limits(c.proc);
  // check_data_rlimit(): the whole data segment including the new break.
  if (lim.data.finite() && (want - l.start_brk) + (l.end_data - l.start_data) > lim.data.cur) {
    reply_continue(c);  // the kernel refuses it: the break stays
    return;
  }
  const std::uint64_t newbrk = page_align(want);
  const std::uint64_t oldbrk = *p.brk_end;
  if (newbrk <= oldbrk) {  // same page or shrinking: succeeds, nothing to charge
    if (reply_continue(c)) p.brk_end = newbrk;
    return;
  }
  const std::uint64_t growth = newbrk - oldbrk;
  if (!may_expand(c.tgid, lim, growth / kPage, /*data=*/true, /*accountable=*/true, overcommit_)) {
    reply_continue(c);
    return;
  }
  const Delta d{growth, 0};
  if (!admit(c, d, ENOMEM)) return;
  if (reply_continue(c)) {
    tracker_.apply(c.tid, c.tgid, d);
    p.brk_end = newbrk;
  }
}

void Supervisor::on_mmap(Call& c) {
  if (!tracker_.tracked(c.tid, c.tgid)) {
    reply_continue(c);
    return;
  }
  const std::uint64_t addr = c.arg(0), len = c.arg(1), prot = c.arg(2), flags = c.arg(3), off = c.arg(5);
  const std::uint64_t type = flags & MAP_TYPE;
  const bool fixed = flags & (MAP_FIXED | MAP_FIXED_NOREPLACE);
  // Argument checks of sys_mmap/do_mmap that make the call fail with nothing mapped.
  bool fails = len == 0 || (off & (kPage - 1)) != 0 || page_align(len) == 0 || page_align(len) > kTaskSize ||
               (fixed && (addr & (kPage - 1)) != 0) ||
               type != MAP_PRIVATE;  // anonymous MAP_SHARED_VALIDATE (0x03) is EINVAL
  if (!fails && (flags & MAP_FIXED_NOREPLACE) && !(flags & MAP_FIXED)) {
    const auto hit = target::range_mapped(c.tgid, addr, page_align(len));
    fails = hit.value_or(false);  // EEXIST
  }
  const std::uint64_t pages = page_align(len) / kPage;
  if (!fails) {
    const Limits lim = memory_limits(c.proc);
    const bool writable = prot & PROT_WRITE;
    const bool data = writable && type == MAP_PRIVATE && !(flags & MAP_GROWSDOWN);
    const bool noreserve = (flags & MAP_NORESERVE) && overcommit_.mode != 2;
    const bool accountable = writable && type == MAP_PRIVATE && !noreserve;
    // A MAP_FIXED mapping replacing existing pages needs fewer new pages than `pages`;
    // counting them all can only predict failure too early, and only near a finite limit.
    fails = !may_expand(c.tgid, lim, pages, data, accountable, overcommit_);
  }
  if (fails) {
    reply_continue(c);
    return;
  }
  const Delta d{pages * kPage, 0};
  if (!admit(c, d, ENOMEM)) return;
  if (reply_continue(c)) tracker_.apply(c.tid, c.tgid, d);
}

}  // namespace sandbox
