// SPDX-License-Identifier: Apache-2.0
#include "model/commit.hpp"

#include <algorithm>
#include <iterator>

namespace sandbox {

namespace {

constexpr std::uint64_t kPage = 4096;

std::uint64_t page_align(std::uint64_t v) {
  return v > ~0ULL - (kPage - 1) ? ~0ULL & ~(kPage - 1) : (v + kPage - 1) & ~(kPage - 1);
}

// The end of [addr, addr+len), saturating at the top of the address space.
std::uint64_t end_of(std::uint64_t addr, std::uint64_t len) {
  len = page_align(len);
  return addr > ~0ULL - len ? ~0ULL & ~(kPage - 1) : addr + len;
}

bool chargeable(const MappingFacts& m) {
  return m.accounted || (m.is_private && m.writable);
}

}  // namespace

std::string_view to_string(HeapRule r) {
  return r == HeapRule::commit ? "commit" : "kernel";
}

std::optional<HeapRule> parse_heap_rule(std::string_view s) {
  if (s == "kernel") return HeapRule::kernel;
  if (s == "commit") return HeapRule::commit;
  return std::nullopt;
}

void CommitMap::split(std::uint64_t at) {
  auto it = segs_.upper_bound(at);
  if (it == segs_.begin()) return;
  --it;
  if (it->first < at && at < it->second.end) {
    Segment tail = it->second;
    it->second.end = at;
    segs_.emplace(at, tail);
  }
}

std::uint64_t CommitMap::remove(std::uint64_t start, std::uint64_t end) {
  if (start >= end) return 0;
  split(start);
  split(end);
  std::uint64_t charged = 0;
  auto it = segs_.lower_bound(start);
  while (it != segs_.end() && it->first < end) {
    if (it->second.charged) charged += it->second.end - it->first;
    it = segs_.erase(it);
  }
  return charged;
}

void CommitMap::insert(std::uint64_t start, std::uint64_t end, Segment s) {
  if (start >= end) return;
  s.end = end;
  segs_[start] = s;
}

void CommitMap::merge_around(std::uint64_t start, std::uint64_t end) {
  // Join neighbours with the same attributes from just before `start` to just after `end`,
  // so the map stays as small as the kernel's own list of mappings.
  auto it = segs_.lower_bound(start);
  if (it != segs_.begin()) --it;
  while (it != segs_.end()) {
    auto next = std::next(it);
    if (next == segs_.end() || it->first > end) break;
    if (it->second.end == next->first && it->second.is_private == next->second.is_private &&
        it->second.charged == next->second.charged) {
      it->second.end = next->second.end;
      segs_.erase(next);
    } else {
      it = next;
    }
  }
}

CommitMap::Change CommitMap::load(const std::vector<MappingFacts>& truth) {
  segs_.clear();
  pending_ = unplaced_ = 0;
  loaded_ = true;
  Change c;
  for (const MappingFacts& m : truth) {
    if (m.start >= m.end) continue;
    remove(m.start, m.end);  // a malformed read with overlaps: the last one holds
    const bool charged = chargeable(m);
    insert(m.start, m.end, {0, m.is_private, charged});
  }
  c.charge = total();
  merge_around(0, ~0ULL);
  return c;
}

CommitMap::Change CommitMap::map_fixed(std::uint64_t addr, std::uint64_t len, bool is_private, bool writable,
                                       bool may_fail) {
  const std::uint64_t end = end_of(addr, len);
  Change c;
  if (may_fail) {
    split(addr);
    split(end);
    std::uint64_t at = addr;
    for (auto it = segs_.lower_bound(addr); at < end;) {
      const std::uint64_t gap_end = (it == segs_.end() || it->first >= end) ? end : it->first;
      if (at < gap_end) {
        insert(at, gap_end, {0, is_private, is_private && writable});
        if (is_private && writable) c.charge += gap_end - at;
        at = gap_end;
        it = segs_.lower_bound(at);
        continue;
      }
      if (!it->second.charged) {
        it->second.is_private = is_private;
        if (is_private && writable) it->second.charged = true, c.charge += it->second.end - it->first;
      }
      at = it->second.end;
      ++it;
    }
    merge_around(addr, end);
    return c;
  }
  c.credit = remove(addr, end);  // MAP_FIXED unmaps whatever was there first
  const bool charged = is_private && writable;
  insert(addr, end, {0, is_private, charged});
  if (charged) c.charge = end - addr;
  merge_around(addr, end);
  return c;
}

CommitMap::Change CommitMap::map_anywhere(std::uint64_t len, bool is_private, bool writable) {
  Change c;
  ++unplaced_;
  if (is_private && writable) {
    c.charge = page_align(len);
    pending_ += c.charge;
  }
  return c;
}

CommitMap::Change CommitMap::unmap(std::uint64_t addr, std::uint64_t len) {
  const std::uint64_t end = end_of(addr, len);
  Change c;
  c.credit = remove(addr, end);
  return c;
}

CommitMap::Change CommitMap::protect(std::uint64_t addr, std::uint64_t len, bool writable) {
  const std::uint64_t end = end_of(addr, len);
  Change c;
  if (!writable || addr >= end) return c;  // taking the write right away keeps the charge
  split(addr);
  split(end);
  std::uint64_t at = addr;
  for (auto it = segs_.lower_bound(addr); it != segs_.end() && it->first < end; ++it) {
    if (it->first != at) break;  // a hole: the kernel stops with ENOMEM, keeping what it did
    if (it->second.is_private && !it->second.charged) {
      it->second.charged = true;
      c.charge += it->second.end - it->first;
    }
    at = it->second.end;
  }
  merge_around(addr, end);
  return c;
}

CommitMap::Change CommitMap::remap(std::uint64_t old_addr, std::uint64_t old_len, std::uint64_t new_len,
                                   unsigned flags, std::uint64_t new_addr) {
  constexpr unsigned kMayMove = 1, kFixed = 2, kDontUnmap = 4;
  old_len = page_align(old_len);
  new_len = page_align(new_len);
  Change c;
  // What the source is: the mapping at old_addr (mremap acts within one mapping).
  Segment src{0, true, false};
  if (auto it = segs_.upper_bound(old_addr); it != segs_.begin()) {
    --it;
    if (old_addr < it->second.end) src = it->second;
  }
  const std::uint64_t grow = new_len > old_len && src.charged ? new_len - old_len : 0;
  if (flags & kFixed) {
    // mremap_to(): the target range is unmapped, a longer source is cut to new_len, then
    // the mapping moves (its charge with it; DONTUNMAP leaves the old one mapped, charged).
    c.credit += remove(new_addr, end_of(new_addr, new_len));
    if (old_len > new_len) c.credit += remove(old_addr + new_len, old_addr + old_len), old_len = new_len;
    if (flags & kDontUnmap) {
      if (src.charged) c.charge += new_len;
    } else {
      c.credit += remove(old_addr, old_addr + old_len);
      if (src.charged) c.charge += std::min(old_len, new_len) + grow;
    }
    insert(new_addr, new_addr + new_len, {0, src.is_private, src.charged});
    merge_around(new_addr, new_addr + new_len);
    // Net for a plain move: the same pages credited and charged.
    const std::uint64_t same = std::min(c.charge, c.credit);
    c.charge -= same, c.credit -= same;
    return c;
  }
  if (new_len <= old_len) {  // shrinking (or the same): the tail goes, in place
    c.credit = remove(old_addr + new_len, old_addr + old_len);
    return c;
  }
  if (!(flags & kMayMove)) {
    // Growing in place, or failing (ENOMEM) if something is in the way: from the map.
    auto next = segs_.lower_bound(old_addr + old_len);
    const bool blocked = next != segs_.end() && next->first < old_addr + new_len;
    if (blocked) return c;
    insert(old_addr + old_len, old_addr + new_len, {0, src.is_private, src.charged});
    merge_around(old_addr, old_addr + new_len);
    c.charge = grow;
    return c;
  }
  // In place or moved: the kernel decides. The mapping becomes unplaced until the next sync.
  const std::uint64_t moved = (flags & kDontUnmap) ? 0 : remove(old_addr, old_addr + old_len);
  const std::uint64_t dup = (flags & kDontUnmap) && src.charged ? old_len : 0;
  ++unplaced_;
  pending_ += moved + grow + dup;
  c.charge = grow + dup;
  return c;
}

CommitMap::Change CommitMap::sync(const std::vector<MappingFacts>& truth) {
  std::uint64_t found = 0;  // charged pages the map did not know
  for (const MappingFacts& m : truth) {
    if (m.start >= m.end) continue;
    const bool charged = chargeable(m);
    split(m.start);
    split(m.end);
    std::uint64_t at = m.start;
    auto it = segs_.lower_bound(m.start);
    while (at < m.end) {
      const std::uint64_t gap_end = (it == segs_.end() || it->first >= m.end) ? m.end : it->first;
      if (at < gap_end) {  // not in the map: placed since, or grown without a call (a stack)
        insert(at, gap_end, {0, m.is_private, charged});
        if (charged) found += gap_end - at;
        at = gap_end;
        it = segs_.lower_bound(at);
        continue;
      }
      if (charged && !it->second.charged && it->second.is_private) {
        it->second.charged = true;  // made writable by a call in flight when it was answered
        found += it->second.end - it->first;
      }
      at = it->second.end;
      ++it;
    }
    merge_around(m.start, m.end);
  }
  Change c;
  const std::uint64_t paid = std::min(pending_, found);
  pending_ -= paid;
  c.charge = found - paid;
  unplaced_ = pending_ != 0 ? 1 : 0;
  return c;
}

std::uint64_t CommitMap::total() const {
  std::uint64_t t = pending_;
  for (const auto& [start, s] : segs_)
    if (s.charged) t += s.end - start;
  return t;
}

}  // namespace sandbox
