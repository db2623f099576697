/* SPDX-License-Identifier: Apache-2.0 */
/* tracker_limiter.h: the five system calls of the tracker & limiter kernel patch, as plain
 * syscall() wrappers, so the same program runs on the patched kernel and under `sandbox run`.
 *
 * The numbers are the patch's x86-64 numbers, 451-455. On Linux >= 6.5 those numbers are
 * cachestat, fchmodat2, map_shadow_stack, futex_wake and futex_wait; `sandbox run` answers them
 * itself by default (policies/default.json). To move the ABI, run the sandbox with a policy
 * that moves it (policies/abi-moved.json: 1000-1004) and build the program with the same
 * numbers:  cc -DTL_NR_BASE=1000 ...   (or set each one: -DTL_NR_FETCH=... etc.).
 *
 * Each wrapper returns what syscall() returns: 0 on success, -1 with errno set on failure
 * (EINVAL 22, ESRCH 3, ENFILE 23, and under the sandbox EPERM for a quota set from outside). */
#ifndef TRACKER_LIMITER_H
#define TRACKER_LIMITER_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <sys/syscall.h>
#include <sys/types.h>
#include <unistd.h>

#ifndef TL_NR_BASE
#define TL_NR_BASE 451
#endif
#ifndef TL_NR_REGISTER
#define TL_NR_REGISTER (TL_NR_BASE + 0)
#endif
#ifndef TL_NR_FETCH
#define TL_NR_FETCH (TL_NR_BASE + 1)
#endif
#ifndef TL_NR_DEREGISTER
#define TL_NR_DEREGISTER (TL_NR_BASE + 2)
#endif
#ifndef TL_NR_RESOURCE_CAP
#define TL_NR_RESOURCE_CAP (TL_NR_BASE + 3)
#endif
#ifndef TL_NR_RESOURCE_RESET
#define TL_NR_RESOURCE_RESET (TL_NR_BASE + 4)
#endif

/* What fetch copies out; the layout of the kernel patch. */
struct per_proc_resource {
  pid_t pid;                    /* the registered pid */
  unsigned long heapsize;       /* bytes added by brk and private anonymous mmap since registration */
  unsigned long openfile_count; /* files opened minus files closed since registration */
};

/* Start tracking pid (a process or a thread id). */
static inline long tl_register(pid_t pid) {
  return syscall(TL_NR_REGISTER, pid);
}

/* Copy pid's counters into *stats. */
static inline long tl_fetch(struct per_proc_resource *stats, pid_t pid) {
  return syscall(TL_NR_FETCH, stats, pid);
}

/* Stop tracking pid. */
static inline long tl_deregister(pid_t pid) {
  return syscall(TL_NR_DEREGISTER, pid);
}

/* Set pid's quotas: heap in MiB, files as a count; -1 means unlimited. Enforced at once. */
static inline long tl_resource_cap(pid_t pid, long heap_mib, long files) {
  return syscall(TL_NR_RESOURCE_CAP, pid, heap_mib, files);
}

/* Remove pid's quotas. */
static inline long tl_resource_reset(pid_t pid) {
  return syscall(TL_NR_RESOURCE_RESET, pid);
}

#endif /* TRACKER_LIMITER_H */
