// SPDX-License-Identifier: Apache-2.0
// commit: the commit rule's accounting of one address space -- Linux's own commit charge
// (Committed_AS) as strict overcommit (vm.overcommit_memory=2) computes it, in bytes.
//
// A private mapping is charged while it is, or once was, writable: an anonymous or private
// file-backed mmap with PROT_WRITE, brk growth, a private reservation (PROT_NONE, or
// MAP_NORESERVE, which strict overcommit ignores) from the moment mprotect makes part of it
// writable. munmap, a shrinking brk or mremap and a MAP_FIXED mapping laid over it credit it
// back; mprotect that takes the write right away does not (the kernel keeps VM_ACCOUNT).
// Shared mappings are never charged. docs/memory.md sets this beside the kernel rule.
//
// Pure: the map is fed the calls the supervisor lets through (their registers only) and,
// when it must learn where the kernel placed a mapping (an mmap without MAP_FIXED, a moving
// mremap), what /proc/<pid>/maps shows. Each change returns what it charges and credits,
// for the caller to check against the quotas before answering. Errors of the model (a page
// it believes mapped that is gone) only ever over-count: a page is credited only by a call
// that unmaps it, never because a read of /proc missed it (the call may still be in flight).
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string_view>
#include <vector>

namespace sandbox {

// Which rule a job's heap counter follows (docs/memory.md).
enum class HeapRule : std::uint8_t {
  kernel,  // the patch's: address space asked for by brk and anonymous private mmap, never credited
  commit,  // Linux's commit charge: private writable mappings, credited when unmapped
};
std::string_view to_string(HeapRule r);
std::optional<HeapRule> parse_heap_rule(std::string_view s);  // "kernel" or "commit"

// One mapping as /proc/<pid>/maps (or smaps) shows it.
struct MappingFacts {
  std::uint64_t start = 0, end = 0;
  bool is_private = true;  // 'p' (else 's')
  bool writable = false;   // 'w'
  bool accounted = false;  // smaps VmFlags "ac" (VM_ACCOUNT): charged by the kernel itself
};

class CommitMap {
 public:
  struct Change {
    std::uint64_t charge = 0;  // bytes newly charged
    std::uint64_t credit = 0;  // bytes credited back
  };

  // First sight of an address space (after exec, a fork child): what it holds now.
  // Returns the charge (everything accounted or private and writable).
  Change load(const std::vector<MappingFacts>& truth);
  bool loaded() const { return loaded_; }

  // mmap with MAP_FIXED (MAP_FIXED_NOREPLACE: only over nothing): [addr, addr+len) replaced.
  // `may_fail`: the call may still fail after it was answered (a file's mode, a limit), so
  // the replaced pages are not credited: charged pages stay charged, the rest takes the
  // new mapping's charge (an over-count until they are unmapped, never a free page).
  Change map_fixed(std::uint64_t addr, std::uint64_t len, bool is_private, bool writable,
                   bool may_fail = false);
  // mmap without MAP_FIXED: placed where the kernel chooses; learnt at the next sync().
  Change map_anywhere(std::uint64_t len, bool is_private, bool writable);
  // munmap, or a brk that shrinks.
  Change unmap(std::uint64_t addr, std::uint64_t len);
  // mprotect: from addr, mapping after mapping until the first hole (the kernel stops there
  // with ENOMEM, keeping what it changed). Charges private pages made writable.
  Change protect(std::uint64_t addr, std::uint64_t len, bool writable);
  // mremap(old, old_len, new_len, flags, new_addr): MREMAP_MAYMOVE (1), MREMAP_FIXED (2),
  // MREMAP_DONTUNMAP (4), as the kernel reads them.
  Change remap(std::uint64_t old_addr, std::uint64_t old_len, std::uint64_t new_len, unsigned flags,
               std::uint64_t new_addr);
  // A fork: the child's mm duplicates the parent's (the kernel charges the child for every
  // accountable mapping it copies).
  CommitMap fork() const { return *this; }

  // Whether sync() must run before a call that acts on existing mappings (munmap, mprotect,
  // mremap, MAP_FIXED): some mapping was placed by the kernel where the map does not know.
  bool needs_sync() const { return unplaced_ != 0; }
  // Learn from /proc/<pid>/maps where the kernel placed them. Pages found mapped that the
  // map does not know are the placed ones: each charged one pays off a pending charge;
  // any beyond that (a stack that grew) is charged now. Pages the map knows that the read
  // misses are kept (a call in flight may not have run yet).
  Change sync(const std::vector<MappingFacts>& truth);

  // Bytes charged: the mapped charged pages and the charges not placed yet.
  std::uint64_t total() const;
  std::uint64_t pending() const { return pending_; }

  struct Segment {
    std::uint64_t end = 0;
    bool is_private = true;
    bool charged = false;
  };
  const std::map<std::uint64_t, Segment>& segments() const { return segs_; }

 private:
  void split(std::uint64_t at);                                    // a segment boundary at `at`
  std::uint64_t remove(std::uint64_t start, std::uint64_t end);    // returns charged bytes removed
  void insert(std::uint64_t start, std::uint64_t end, Segment s);  // over nothing
  void merge_around(std::uint64_t start, std::uint64_t end);

  std::map<std::uint64_t, Segment> segs_;  // start -> segment, disjoint
  std::uint64_t pending_ = 0;              // charged by map_anywhere, not placed yet
  std::uint64_t unplaced_ = 0;             // mappings made anywhere since the last sync
  bool loaded_ = false;
};

}  // namespace sandbox
