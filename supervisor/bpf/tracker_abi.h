/* SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause */
/*
 * tracker_abi.h: the BPF maps' keys and values, shared by tracker.bpf.c and the engine
 * (engine.cpp). Plain C with fixed-size fields; every value is a multiple of 8 bytes.
 */
#ifndef SANDBOX_BPF_TRACKER_ABI_H
#define SANDBOX_BPF_TRACKER_ABI_H

#ifndef __VMLINUX_H__
#include <linux/types.h>
#endif

#define TL_MAX_NODES 16384
#define TL_MAX_PROCS 16384
#define TL_MAX_JOBS 256

/* A node: the patch's tl_node counters, and its process. */
struct tl_node {
  __u64 heapsize;
  __u64 openfile_count;
  __u32 tgid;
  __u32 pad;
};

#define TL_QUOTAS_SET 1u /* resource_cap set a quota that is not unlimited */
#define TL_IMPOSED 2u    /* set from outside: the target cannot lift it */
struct tl_quota {
  __u64 heap_quota; /* bytes, TL_UNLIMITED: none */
  __u64 file_quota; /* count, TL_UNLIMITED: none */
  __u32 flags;
  __u32 pad;
};

/* A process of a job, with its share of the job's totals. */
struct tl_proc {
  __u64 heap;
  __u64 files;
  __u32 job;
  __u32 pad;
};

struct tl_job {
  __u64 heap;  /* the sum of its processes' heap shares */
  __u64 files; /* the sum of their file shares */
  __u64 heap_quota;
  __u64 file_quota;
  __u64 live; /* processes */
  __u32 killed;
  __u32 pad;
};

/* A kill, for the kill line. job != 0: a job quota; else the node `pid`'s quota. */
struct tl_kill {
  __u32 pid;
  __u32 tgid;
  __u32 job;
  __u32 files; /* 0 heap, 1 files */
  __u64 usage;
  __u64 limit;
  __u64 live;
  __u64 other;
  char comm[16];
};

#endif /* SANDBOX_BPF_TRACKER_ABI_H */
