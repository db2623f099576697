// SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
// tracker.bpf.c: the kernel patch's accounting and quotas (kernel/patches, tracker_limiter.c)
// as BPF programs, run where the patch's hooks run: at the end of a successful brk growth,
// anonymous private mmap, open and close, in the calling task; exit and exec drop nodes as
// tracker_limiter_exit/_release_pid do. The rules themselves are rules.h, shared with the
// C++ model. Over quota: bpf_send_signal(SIGKILL) to the caller's process AFTER the call,
// exactly like the patch.
// clang-format off
#include "vmlinux.h"  /* first: the kernel's types, which libbpf's headers use */
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
// clang-format on

#include "rules.h"
#include "tracker_abi.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

#define SIGKILL 9
#define CAS_TRIES 16

// Nodes keyed as the patch keys them: by task id (the patch's struct pid, here the id in
// the initial pid namespace), a leader node's id being its tgid.
struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, TL_MAX_NODES);
  __type(key, __u32);
  __type(value, struct tl_node);
} nodes SEC(".maps");

// Quotas apart from the counters: the supervisor writes these whole, the programs only
// read them, so a cap never races a counter update.
struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, TL_MAX_NODES);
  __type(key, __u32);
  __type(value, struct tl_quota);
} quotas SEC(".maps");

// Job membership by process (tgid): inherited at fork, dropped at exit, with the
// process's share of its job's totals.
struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, TL_MAX_PROCS);
  __type(key, __u32);
  __type(value, struct tl_proc);
} procs SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, TL_MAX_JOBS);
  __type(key, __u32);
  __type(value, struct tl_job);
} jobs SEC(".maps");

// The break at brk() entry, per task, for the exit to compare against.
struct {
  __uint(type, BPF_MAP_TYPE_TASK_STORAGE);
  __uint(map_flags, BPF_F_NO_PREALLOC);
  __type(key, int);
  __type(value, __u64);
} brk_at_entry SEC(".maps");

// Kills, for the supervisor's kill lines.
struct {
  __uint(type, BPF_MAP_TYPE_RINGBUF);
  __uint(max_entries, 64 * 1024);
} kills SEC(".maps");

// Counters only go through these: rules.h decides, compare-and-swap applies.
static __always_inline __u64 cas_heap(__u64* p, __u64 grown, __u64* before) {
  __u64 old = 0, next = 0;
  for (int i = 0; i < CAS_TRIES; i++) {
    old = *(volatile __u64*)p;
    next = tl_heap_after(old, grown, 0);
    if (__sync_val_compare_and_swap(p, old, next) == old) break;
  }
  *before = old;
  return next;
}

static __always_inline __u64 cas_files(__u64* p, int delta, __u64* before) {
  __u64 old = 0, next = 0;
  for (int i = 0; i < CAS_TRIES; i++) {
    old = *(volatile __u64*)p;
    next = tl_files_after(old, delta);
    if (__sync_val_compare_and_swap(p, old, next) == old) break;
  }
  *before = old;
  return next;
}

static __always_inline void report(__u32 pid, __u32 tgid, __u32 job, int files, __u64 usage, __u64 limit,
                                   __u64 live, __u64 other) {
  struct tl_kill* k = bpf_ringbuf_reserve(&kills, sizeof(*k), 0);
  if (!k) return;
  k->pid = pid;
  k->tgid = tgid;
  k->job = job;
  k->files = files;
  k->usage = usage;
  k->limit = limit;
  k->live = live;
  k->other = other;
  bpf_get_current_comm(k->comm, sizeof(k->comm));
  bpf_ringbuf_submit(k, 0);
}

struct violation {
  __u32 pid;
  int files;
  __u64 usage, limit;
};

// One node: the change applied, then its quota checked (the patch's tl_account loop body);
// the first node over its quota is noted in `v`.
static __always_inline int account_node(__u32 key, __u64 heap, int files, struct violation* v) {
  struct tl_node* n = bpf_map_lookup_elem(&nodes, &key);
  if (!n) return 0;
  __u64 before = 0, h = n->heapsize, f = n->openfile_count;
  if (heap) h = cas_heap(&n->heapsize, heap, &before);
  if (files) f = cas_files(&n->openfile_count, files, &before);
  struct tl_quota* q = bpf_map_lookup_elem(&quotas, &key);
  if (!q) return 0;
  int over_heap = tl_over(h, q->heap_quota), over_files = !over_heap && tl_over(f, q->file_quota);
  if (!over_heap && !over_files) return 0;
  if (v->pid == 0) {
    v->pid = key;
    v->files = over_files;
    v->usage = over_heap ? h : f;
    v->limit = over_heap ? q->heap_quota : q->file_quota;
  }
  return 1;
}

// The process's share of its job, and the job's totals, under the same rules.
static __always_inline int account_job(__u32 tgid, __u64 heap, int files) {
  struct tl_proc* p = bpf_map_lookup_elem(&procs, &tgid);
  if (!p) return 0;
  __u32 id = p->job;
  struct tl_job* j = bpf_map_lookup_elem(&jobs, &id);
  if (!j) return 0;
  __u64 before = 0, after = 0, total_h = 0, total_f = 0;
  if (heap) {
    after = cas_heap(&p->heap, heap, &before);
    total_h = __sync_fetch_and_add(&j->heap, after - before) + (after - before);
  } else {
    total_h = j->heap;
  }
  if (files) {
    after = cas_files(&p->files, files, &before);
    total_f = __sync_fetch_and_add(&j->files, after - before) + (after - before);
  } else {
    total_f = j->files;
  }
  int over_heap = tl_over(total_h, j->heap_quota), over_files = !over_heap && tl_over(total_f, j->file_quota);
  if (!over_heap && !over_files) return 0;
  // One kill line per job: the first call over its quota; the supervisor kills the rest.
  if (__sync_val_compare_and_swap(&j->killed, 0, 1) == 0)
    report(tgid, tgid, id, over_files, over_heap ? total_h : total_f,
           over_heap ? j->heap_quota : j->file_quota, j->live, over_heap ? total_f : total_h);
  return 1;
}

// The patch's tl_account(): node tgid, node pid when it is another, then the job. One kill
// line per kill: the job's if its quota was crossed (as the notify engine reports it), else
// the node's.
static __always_inline void account(__u64 heap, int files) {
  __u64 id = bpf_get_current_pid_tgid();
  __u32 tgid = id >> 32, pid = (__u32)id;
  struct violation v = {};
  int kill = account_node(tgid, heap, files, &v);
  if (pid != tgid) kill |= account_node(pid, heap, files, &v);
  int job_kill = account_job(tgid, heap, files);
  if (!job_kill && kill) report(v.pid, tgid, 0, v.files, v.usage, v.limit, 0, 0);
  // After the call, in the calling task, as the patch's tl_kill_group(current).
  if (kill || job_kill) bpf_send_signal(SIGKILL);
}

static __always_inline int tracked(void) {
  __u64 id = bpf_get_current_pid_tgid();
  __u32 tgid = id >> 32, pid = (__u32)id;
  return bpf_map_lookup_elem(&procs, &tgid) || bpf_map_lookup_elem(&nodes, &tgid) ||
         (pid != tgid && bpf_map_lookup_elem(&nodes, &pid));
}

// x86-64 system call numbers of the calls the patch hooks (arch/x86/entry/syscalls).
#define NR_mmap 9
#define NR_brk 12
#define NR_open 2
#define NR_close 3
#define NR_creat 85
#define NR_openat 257
#define NR_openat2 437

// The syscall tracepoints, attached by BTF (no tracefs): fentry/fexit on the patch's own
// hook points (do_sys_openat2, ksys_mmap_pgoff) would fire only for those calls, but where
// the kernel refuses to load them (EPERM on this project's hosts) these work everywhere
// tp_btf does; docs/design.md compares the two. The entry side only notes the break.
SEC("tp_btf/sys_enter")
int BPF_PROG(sys_enter, struct pt_regs* regs, long id) {
  if (id != NR_brk || !tracked()) return 0;
  struct task_struct* t = bpf_get_current_task_btf();
  __u64* old = bpf_task_storage_get(&brk_at_entry, t, 0, BPF_LOCAL_STORAGE_GET_F_CREATE);
  if (old) *old = t->mm->brk;
  return 0;
}

// After the call, in the calling task, as the patch's hooks: brk and mmap growth, opens
// (the four calls that reach do_sys_openat2 on x86-64) and closes that succeeded.
SEC("tp_btf/sys_exit")
int BPF_PROG(sys_exit, struct pt_regs* regs, long ret) {
  long nr = regs->orig_ax;
  switch (nr) {
    case NR_brk: {
      struct task_struct* t = bpf_get_current_task_btf();
      __u64* old = bpf_task_storage_get(&brk_at_entry, t, 0, 0);
      if (!old) return 0;
      // The break is mm->brk, before and after (docs/semantics.md): a failed, shrinking or
      // same-page brk does not move it up a page.
      __u64 grown = tl_brk_growth(*old, t->mm->brk);
      bpf_task_storage_delete(&brk_at_entry, t);
      if (grown) account(grown, 0);
      return 0;
    }
    case NR_mmap: {
      __u64 grown = tl_mmap_growth(regs->si, regs->r10, (unsigned long)ret >= (unsigned long)-4095L);
      if (grown) account(grown, 0);
      return 0;
    }
    case NR_open:
    case NR_openat:
    case NR_openat2:
    case NR_creat:
      if (ret >= 0) account(0, 1);
      return 0;
    case NR_close:
      if (ret == 0) account(0, -1);
      return 0;
    default: return 0;
  }
}

// A new process of a tracked process joins its job (threads are already in it).
SEC("tp_btf/sched_process_fork")
int BPF_PROG(on_fork, struct task_struct* parent, struct task_struct* child) {
  __u32 ptgid = parent->tgid, ctgid = child->tgid;
  if (ptgid == ctgid) return 0;
  struct tl_proc* p = bpf_map_lookup_elem(&procs, &ptgid);
  if (!p) return 0;
  struct tl_proc fresh = {.job = p->job};
  if (bpf_map_update_elem(&procs, &ctgid, &fresh, BPF_NOEXIST) != 0) return 0;
  struct tl_job* j = bpf_map_lookup_elem(&jobs, &fresh.job);
  if (j) __sync_fetch_and_add(&j->live, 1);
  return 0;
}

// tracker_limiter_exit(): the thread's node, and once the group is dead the leader's node
// and the process's share of its job.
SEC("tp_btf/sched_process_exit")
int BPF_PROG(on_exit, struct task_struct* p) {
  __u32 pid = p->pid, tgid = p->tgid;
  if (pid != tgid) {
    bpf_map_delete_elem(&nodes, &pid);
    bpf_map_delete_elem(&quotas, &pid);
  }
  if (p->signal->live.counter != 0) return 0;  // not group_dead
  bpf_map_delete_elem(&nodes, &tgid);
  bpf_map_delete_elem(&quotas, &tgid);
  struct tl_proc* pr = bpf_map_lookup_elem(&procs, &tgid);
  if (!pr) return 0;
  __u32 id = pr->job;
  struct tl_job* j = bpf_map_lookup_elem(&jobs, &id);
  if (j) {
    __sync_fetch_and_add(&j->heap, -pr->heap);
    __sync_fetch_and_add(&j->files, -pr->files);
    __sync_fetch_and_add(&j->live, -1);
  }
  bpf_map_delete_elem(&procs, &tgid);
  return 0;
}

// tracker_limiter_release_pid(): a non-leader thread that execs takes the leader's id; its
// old id names no task any more.
SEC("tp_btf/sched_process_exec")
int BPF_PROG(on_exec, struct task_struct* p, pid_t old_pid) {
  __u32 old = old_pid;
  if (old != (__u32)p->pid) {
    bpf_map_delete_elem(&nodes, &old);
    bpf_map_delete_elem(&quotas, &old);
  }
  return 0;
}
