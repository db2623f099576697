// SPDX-License-Identifier: Apache-2.0
/*
 * procfs of a task that is not dumpable (issue 22, 1). A process that dropped from root
 * to uid 65534 (which clears its dumpable flag), and one that stays root but clears the
 * flag itself and gives up CAP_SYS_PTRACE, open their own /proc files: the kernel's
 * ptrace check passes for the caller's own thread group (same_thread_group, mm_access
 * on its own mm), so only the files' modes decide -- and a non-dumpable task's files are
 * root's. Also through a sibling thread's /proc/<tid>, and through a /proc/self
 * directory opened before the drop, as a daemon that drops root would.
 */
#include <linux/capability.h>
#include <sys/prctl.h>

#include "tl.h"

static struct tl_gate sib_go;
static volatile pid_t sib_tid;

static void *sibling(void *arg) {
  (void)arg;
  __atomic_store_n(&sib_tid, tl_gettid(), __ATOMIC_SEQ_CST);
  tl_gate_wait(&sib_go);
  return NULL;
}

/* Opens `path` (relative to `dir`), prints the outcome and the count, closes it. */
static void try_open(const char *label, int dir, const char *path, int flags) {
  int fd = openat(dir, path, flags);
  int e = errno;

  printf("%-28s %s files=%lu\n", label, fd >= 0 ? "ok" : tl_errname(e), tl_files(getpid()));
  if (fd >= 0) {
    close(fd);
  }
}

static void drop_ptrace_cap(void) {
  struct __user_cap_header_struct h = {_LINUX_CAPABILITY_VERSION_3, 0};
  struct __user_cap_data_struct d[2];

  if (syscall(SYS_capget, &h, d) != 0) exit(20);
  d[0].effective &= ~(1U << CAP_SYS_PTRACE);
  d[0].permitted &= ~(1U << CAP_SYS_PTRACE);
  if (syscall(SYS_capset, &h, d) != 0) exit(21);
}

static void variant(const char *name, int drop_uid) {
  pid_t child = tl_fork();

  if (child == 0) {
    char p[96];
    int file, procdir;
    pthread_t t;

    if (tl_register(getpid()) != 0) _exit(2);
    tl_gate_init(&sib_go);
    t = tl_thread(sibling, NULL);
    while (__atomic_load_n(&sib_tid, __ATOMIC_SEQ_CST) == 0) sched_yield();
    file = open("f", O_RDONLY);
    procdir = open("/proc/self", O_RDONLY | O_DIRECTORY);
    if (file < 0 || procdir < 0 || chdir("/") != 0) _exit(3);
    if (drop_uid) {
      if (setresgid(65534, 65534, 65534) != 0 || setresuid(65534, 65534, 65534) != 0) _exit(4);
    } else {
      if (prctl(PR_SET_DUMPABLE, 0) != 0) _exit(5);
      drop_ptrace_cap();
    }
    printf("%s: dumpable=%d files=%lu\n", name, prctl(PR_GET_DUMPABLE), tl_files(getpid()));
    try_open("/proc/self/maps", AT_FDCWD, "/proc/self/maps", O_RDONLY);
    try_open("/proc/self/smaps", AT_FDCWD, "/proc/self/smaps", O_RDONLY);
    try_open("/proc/self/smaps_rollup", AT_FDCWD, "/proc/self/smaps_rollup", O_RDONLY);
    try_open("/proc/thread-self/maps", AT_FDCWD, "/proc/thread-self/maps", O_RDONLY);
    try_open("/proc/self/mem", AT_FDCWD, "/proc/self/mem", O_RDONLY);
    try_open("/proc/self/environ", AT_FDCWD, "/proc/self/environ", O_RDONLY);
    try_open("/proc/self/auxv", AT_FDCWD, "/proc/self/auxv", O_RDONLY);
    try_open("/proc/self/status", AT_FDCWD, "/proc/self/status", O_RDONLY);
    snprintf(p, sizeof(p), "/proc/self/fdinfo/%d", file);
    try_open("/proc/self/fdinfo/N", AT_FDCWD, p, O_RDONLY);
    snprintf(p, sizeof(p), "/proc/self/fd/%d", file);
    try_open("/proc/self/fd/N", AT_FDCWD, p, O_RDONLY);
    try_open("/proc/self/maps O_NOFOLLOW", AT_FDCWD, "/proc/self/maps", O_RDONLY | O_NOFOLLOW);
    snprintf(p, sizeof(p), "/proc/%d/fd/%d", sib_tid, file);
    try_open("/proc/<sibling>/fd/N", AT_FDCWD, p, O_RDONLY);
    snprintf(p, sizeof(p), "/proc/%d/cwd", sib_tid);
    try_open("/proc/<sibling>/cwd", AT_FDCWD, p, O_RDONLY | O_DIRECTORY);
    snprintf(p, sizeof(p), "/proc/%d/maps", sib_tid);
    try_open("/proc/<sibling>/maps", AT_FDCWD, p, O_RDONLY);
    snprintf(p, sizeof(p), "/proc/self/task/%d/maps", sib_tid);
    try_open("/proc/self/task/<sibling>/maps", AT_FDCWD, p, O_RDONLY);
    snprintf(p, sizeof(p), "/proc/%d/task/%d/fdinfo/%d", getpid(), sib_tid, file);
    try_open("task/<sibling>/fdinfo/N", AT_FDCWD, p, O_RDONLY);
    try_open("(dir before drop) maps", procdir, "maps", O_RDONLY);
    try_open("(dir before drop) mem", procdir, "mem", O_RDWR);
    snprintf(p, sizeof(p), "fd/%d", file);
    try_open("(dir before drop) fd/N", procdir, p, O_RDONLY);
    /* Not our own (another thread group's maps): the host kernel's own ptrace check decides,
     * which differs between 6.1 and later kernels for a root caller without CAP_SYS_PTRACE
     * (docs/semantics.md, differences): not compared here. */
    tl_gate_open(&sib_go);
    pthread_join(t, NULL);
    fflush(stdout);
    _exit(0);
  }
  tl_reap(name, child);
}

int main(void) {
  tl_make_file("f", 0644);
  variant("dropped to 65534", 1);
  variant("root, not dumpable, no CAP_SYS_PTRACE", 0);
  return 0;
}
