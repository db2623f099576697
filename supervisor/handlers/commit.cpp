// SPDX-License-Identifier: Apache-2.0
// The commit rule (--heap-rule commit): Linux's commit charge, followed call by call.
//
// The charge of an address space lives in its CommitMap (model/commit.hpp, pure). Each
// handler predicts the change from the registers, on a copy of the map; the quota is
// checked before the answer (admit), and the copy and the counts are kept only once the
// kernel took the answer (the target may have died or been interrupted: then the call is
// made again and counted then). A call whose failure the registers show is let through
// uncounted, as in memory.cpp; a failure that depends on changing state can only make the
// map over-count (a MAP_FIXED that may fail credits nothing it replaces), never under-count.
//
// What the map cannot see in the registers -- where an mmap without MAP_FIXED was placed,
// what an address space holds when first seen (after an exec, a fork child) -- is read
// from /proc/<tid>/maps or smaps (bounded, target::mappings) when a call needs it.
#include <sys/mman.h>
#include <sys/syscall.h>

#include "notify/supervisor.hpp"

namespace sandbox {
namespace {

constexpr std::uint64_t kPage = 4096;
constexpr std::uint64_t kAligned = kPage - 1;

// What the registers alone say about a range: false when the kernel refuses it (EINVAL,
// ENOMEM) whatever the state -- the call is then let through uncounted.
bool range_ok(std::uint64_t addr, std::uint64_t len, std::uint64_t task_size) {
  if ((addr & kAligned) != 0 || len == 0 || len > task_size) return false;
  const std::uint64_t plen = (len + kAligned) & ~kAligned;
  return addr <= task_size - plen;
}

std::vector<MappingFacts> facts(const std::vector<target::Mapping>& in) {
  std::vector<MappingFacts> out;
  out.reserve(in.size());
  for (const auto& m : in) out.push_back({m.start, m.end, m.is_private, m.writable, m.accounted});
  return out;
}

}  // namespace

bool Supervisor::commit_rule(const Call& c) const {
  return jobs_.rule(c.tgid) == HeapRule::commit;
}

bool Supervisor::commit_prepare(Call& c, bool sync, CommitMap& next, Delta& d) {
  AddressSpace& mm = address_space(c);
  next = mm.commit;
  if (!next.loaded()) {
    // First sight of this mm (a fork child, an exec): what it holds is charged now -- a
    // child's mm duplicates its parent's accountable mappings. The process's share held
    // the mm it had before (an exec): credited, so the share is this mm's charge.
    // Safe to read: /proc of a thread of ours, blocked in this call; a bounded read.
    const auto truth = target::mappings(c.tid, /*flags=*/true);
    if (!truth) return false;
    d.heap_bytes += next.load(facts(*truth)).charge;
    d.heap_credit += jobs_.share(c.tgid).value_or(Usage{}).heap;
  } else if (sync && next.needs_sync()) {
    const auto truth = target::mappings(c.tid, /*flags=*/false);
    if (!truth) return false;
    d.heap_bytes += next.sync(facts(*truth)).charge;
  }
  return true;
}

bool Supervisor::commit_first_sight(Call& c) {
  // The kernel charged a fork child for every accountable mapping its mm copied, at the
  // fork: charged here, at the child's first notified call (the fork itself is not seen),
  // before that call runs. A process sharing an mm already loaded (vfork, CLONE_VM) adds
  // nothing: an mm is charged once.
  if (address_space(c).commit.loaded()) return true;
  CommitMap next;
  Delta d;
  if (!commit_prepare(c, /*sync=*/false, next, d)) return true;  // exiting; its next memory call tries again
  if (d.heap_bytes > d.heap_credit && !admit(c, d)) return false;
  address_space(c).commit = std::move(next);
  charge(c, d);  // the mm exists whatever happens to this call: kept now
  return true;
}

Reply Supervisor::commit_answer(Call& c, CommitMap&& next, const Delta& d) {
  if (d.heap_bytes > d.heap_credit && !admit(c, d)) return Reply::error(ENOMEM);
  // Not taken: nothing happened, nothing is kept.
  return Reply::proceed().then([this, &c, next = std::make_shared<CommitMap>(std::move(next)), d](int) {
    address_space(c).commit = std::move(*next);
    if (d.heap_bytes != 0 || d.heap_credit != 0) charge(c, d);
  });
}

Reply Supervisor::on_mmap_commit(Call& c) {
  const std::uint64_t addr = c.arg(0), len = c.arg(1), prot = c.arg(2), flags = c.arg(3), fd = c.arg(4),
                      off = c.arg(5);
  const std::uint64_t type = flags & MAP_TYPE;
  const bool noreplace = flags & MAP_FIXED_NOREPLACE;
  const bool fixed = (flags & MAP_FIXED) || noreplace;
  const bool anonymous = flags & MAP_ANONYMOUS;
  // Refused from the registers alone: let through, uncounted.
  if (len == 0 || (off & kAligned) != 0 || len > facts_.task_size ||
      (type != MAP_PRIVATE && type != MAP_SHARED && type != MAP_SHARED_VALIDATE) ||
      (!anonymous && static_cast<int>(fd) < 0) || (fixed && !range_ok(addr, len, facts_.task_size))) {
    return Reply::proceed();
  }
  const bool is_private = type == MAP_PRIVATE;
  const bool writable = prot & PROT_WRITE;
  CommitMap next;
  Delta d;
  if (!commit_prepare(c, fixed, next, d)) {
    return Reply::error(ENOMEM);  // the process is exiting: refuse rather than guess
  }
  CommitMap::Change ch;
  if (fixed) {
    // What it replaces is credited only when the call cannot fail once answered: an
    // anonymous mapping with no limit to fail on. A file's mode, a limit or strict
    // overcommit can still refuse it after the old pages were credited -- then they
    // would stay mapped and free: not credited, over-counted until unmapped instead.
    const target::MemoryLimits lim = memory_limits(c);
    const bool may_fail = noreplace || !anonymous || lim.as.finite() || lim.data.finite() ||
                          overcommit_.mode == 2 || (flags & (MAP_LOCKED | MAP_HUGETLB | MAP_POPULATE));
    ch = next.map_fixed(addr, len, is_private, writable, may_fail);
  } else {
    ch = next.map_anywhere(len, is_private, writable);
  }
  d.heap_bytes += ch.charge;
  d.heap_credit += ch.credit;
  return commit_answer(c, std::move(next), d);
}

Reply Supervisor::on_munmap(Call& c) {
  const std::uint64_t addr = c.arg(0), len = c.arg(1);
  if (!counted(c) || !commit_rule(c) || !range_ok(addr, len, facts_.task_size)) {
    return Reply::proceed();  // the kernel rule never credits; bad registers: EINVAL, nothing unmapped
  }
  CommitMap next;
  Delta d;
  if (!commit_prepare(c, /*sync=*/true, next, d)) {
    return Reply::error(ENOMEM);
  }
  const auto ch = next.unmap(addr, len);
  d.heap_credit += ch.credit;
  return commit_answer(c, std::move(next), d);
}

Reply Supervisor::on_mprotect(Call& c) {
  const std::uint64_t addr = c.arg(0), len = c.arg(1), prot = c.arg(2);
  constexpr std::uint64_t kProtBits =
      PROT_READ | PROT_WRITE | PROT_EXEC | 0x8 /* PROT_SEM */ | PROT_GROWSDOWN | PROT_GROWSUP;
  if (!counted(c) || !commit_rule(c) || !(prot & PROT_WRITE) || (prot & ~kProtBits) != 0 ||
      !range_ok(addr, len, facts_.task_size)) {
    return Reply::proceed();  // no write right asked for: nothing is charged (the charge stays)
  }
  CommitMap next;
  Delta d;
  if (!commit_prepare(c, /*sync=*/true, next, d)) {
    return Reply::error(ENOMEM);
  }
  // An unallocated pkey (pkey_mprotect) fails after this: an over-count, until unmapped.
  d.heap_bytes += next.protect(addr, len, true).charge;
  return commit_answer(c, std::move(next), d);
}

Reply Supervisor::on_mremap(Call& c) {
  const std::uint64_t addr = c.arg(0), old_len = c.arg(1), new_len = c.arg(2), flags = c.arg(3),
                      new_addr = c.arg(4);
  const bool fixed = flags & MREMAP_FIXED, may_move = flags & MREMAP_MAYMOVE,
             dontunmap = flags & MREMAP_DONTUNMAP;
  // The checks at the top of sys_mremap, from the registers: EINVAL.
  const bool bad = (flags & ~std::uint64_t{MREMAP_FIXED | MREMAP_MAYMOVE | MREMAP_DONTUNMAP}) != 0 ||
                   (fixed && !may_move) || (dontunmap && (!may_move || old_len != new_len)) ||
                   (addr & kAligned) != 0 || new_len == 0 || new_len > facts_.task_size ||
                   old_len > facts_.task_size || (fixed && !range_ok(new_addr, new_len, facts_.task_size));
  if (!counted(c) || !commit_rule(c) || bad) {
    return Reply::proceed();
  }
  CommitMap next;
  Delta d;
  if (!commit_prepare(c, /*sync=*/true, next, d)) {
    return Reply::error(ENOMEM);
  }
  const auto ch = next.remap(addr, old_len, new_len, static_cast<unsigned>(flags), new_addr);
  d.heap_bytes += ch.charge;
  d.heap_credit += ch.credit;
  return commit_answer(c, std::move(next), d);
}

void Supervisor::commit_brk(Call& c, std::uint64_t oldbrk, std::uint64_t newbrk) {
  // The break moved (the answer was taken; a growth was charged by on_brk). The map
  // follows it; a shrink is credited. A map not loaded yet learns the heap at its load.
  if (!commit_rule(c)) return;
  AddressSpace& mm = address_space(c);
  if (!mm.commit.loaded()) return;
  if (newbrk > oldbrk) {
    mm.commit.map_fixed(oldbrk, newbrk - oldbrk, true, true);
  } else if (newbrk < oldbrk) {
    const auto ch = mm.commit.unmap(newbrk, oldbrk - newbrk);
    if (ch.credit != 0) charge(c, Delta{0, 0, ch.credit, 0});
  }
}

std::uint64_t Supervisor::unmapped_at_kill(JobId job, Pid tgid, std::uint64_t charged) {
  // The kernel rule charged brk and anonymous private mmap and never credits: what its
  // processes still have mapped of that kind (anonymous private, the heap) against the
  // charge before the crossing call (whose own mapping does not exist yet). Read only at a kill, from /proc
  // of at most kMax live processes; an estimate (inherited mappings count as mapped), shown as such.
  constexpr std::size_t kMax = 256;
  std::uint64_t mapped = 0;
  std::size_t read = 0;
  for (const auto& [pid, p] : procs_) {
    if (read == kMax) break;
    if (job ? p.job != job : pid != tgid) continue;
    const auto t = target::live_thread(pid);
    if (!t) continue;
    const auto maps = target::mappings(*t, /*flags=*/false);
    if (!maps) continue;
    ++read;
    for (const auto& m : *maps)
      if (m.is_private && m.anonymous) mapped += m.end - m.start;
  }
  return charged > mapped ? charged - mapped : 0;
}

}  // namespace sandbox
