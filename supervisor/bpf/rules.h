/* SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause */
/*
 * rules.h: the pure accounting and quota rules of docs/semantics.md, written once in C and
 * compiled into both the BPF programs (tracker.bpf.c) and the C++ model (model/tracker.cpp).
 * No includes, no types but the C integer types both sides have: the BPF side sees only
 * vmlinux.h, the C++ side only the standard library.
 */
#ifndef SANDBOX_BPF_RULES_H
#define SANDBOX_BPF_RULES_H

#define TL_PAGE_SIZE 4096ULL
#define TL_MAP_PRIVATE 0x02ULL
#define TL_MAP_ANONYMOUS 0x20ULL
/* "No quota": a limit no counter can exceed. */
#define TL_UNLIMITED (~0ULL)
/* Heap quotas of 2^44 MiB or more can never be exceeded (no overflow). */
#define TL_HEAP_QUOTA_NEVER (1LL << 44)

static inline unsigned long long tl_page_align(unsigned long long x) {
  return x > TL_UNLIMITED - (TL_PAGE_SIZE - 1) ? TL_UNLIMITED & ~(TL_PAGE_SIZE - 1)
                                               : (x + TL_PAGE_SIZE - 1) & ~(TL_PAGE_SIZE - 1);
}

static inline unsigned long long tl_saturating_add(unsigned long long a, unsigned long long b) {
  return a > TL_UNLIMITED - b ? TL_UNLIMITED : a + b;
}

/* brk: the bytes a successful brk that moved the break from old_brk to new_brk adds
 * (mm->brk before and after): PAGE_ALIGN(new) - PAGE_ALIGN(old) when that grows, else 0. */
static inline unsigned long long tl_brk_growth(unsigned long long old_brk, unsigned long long new_brk) {
  const unsigned long long o = tl_page_align(old_brk), n = tl_page_align(new_brk);
  return n > o ? n - o : 0;
}

/* mmap: PAGE_ALIGN(len) for a successful mapping whose flags hold both MAP_ANONYMOUS and
 * MAP_PRIVATE; `failed` is true when the call returned an error. */
static inline unsigned long long tl_mmap_growth(unsigned long long len, unsigned long long flags,
                                                int failed) {
  const unsigned long long anon_private = TL_MAP_ANONYMOUS | TL_MAP_PRIVATE;
  if (failed || (flags & anon_private) != anon_private) return 0;
  return tl_page_align(len);
}

/* Files: a count after +1 (open), -1 (close) or 0, never below 0. */
static inline unsigned long long tl_files_after(unsigned long long count, int delta) {
  if (delta >= 0) return tl_saturating_add(count, (unsigned long long)delta);
  return count > (unsigned long long)(-(long long)delta) ? count - (unsigned long long)(-(long long)delta)
                                                         : 0;
}

/* Heap: bytes after growing by `grown` and being credited `credit` (commit rule only), never below 0. */
static inline unsigned long long tl_heap_after(unsigned long long heap, unsigned long long grown,
                                               unsigned long long credit) {
  const unsigned long long g = tl_saturating_add(heap, grown);
  return g > credit ? g - credit : 0;
}

/* resource_cap's heap argument in MiB as a limit in bytes: -1 (or any negative) unlimited,
 * 2^44 MiB and above never exceeded. */
static inline unsigned long long tl_heap_quota_bytes(long long mib) {
  if (mib < 0) return TL_UNLIMITED;
  if (mib >= TL_HEAP_QUOTA_NEVER) return TL_UNLIMITED;
  return (unsigned long long)mib << 20;
}

/* Over quota: strictly above the limit (reaching it exactly is allowed). */
static inline int tl_over(unsigned long long usage, unsigned long long limit) {
  return limit != TL_UNLIMITED && usage > limit;
}

#endif /* SANDBOX_BPF_RULES_H */
