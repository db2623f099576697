/* SPDX-License-Identifier: Apache-2.0 */
/*
 * tl.h: the five tracker/limiter system calls and the transcript helpers shared by
 * the parity cases. Header-only so each case is one static binary.
 *
 * Every case prints a deterministic transcript on stdout: return values, errno names,
 * fetch results, and how children ended. Never an address, a time or a raw pid: pids
 * are printed by role ("self", "child", "thread3").
 *
 * The syscall numbers default to x86-64 451-455 and can be overridden at compile
 * time: -DTL_NR_REGISTER=... (and FETCH, DEREGISTER, RESOURCE_CAP, RESOURCE_RESET).
 */
#ifndef TL_H
#define TL_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef TL_NR_REGISTER
#define TL_NR_REGISTER 451
#endif
#ifndef TL_NR_FETCH
#define TL_NR_FETCH 452
#endif
#ifndef TL_NR_DEREGISTER
#define TL_NR_DEREGISTER 453
#endif
#ifndef TL_NR_RESOURCE_CAP
#define TL_NR_RESOURCE_CAP 454
#endif
#ifndef TL_NR_RESOURCE_RESET
#define TL_NR_RESOURCE_RESET 455
#endif

/* The record fetch() fills: 24 bytes on x86-64, 4 bytes of padding after pid. */
struct per_proc_resource {
  int pid;
  unsigned long heapsize;
  unsigned long openfile_count;
};

#define TL_PAGE 4096UL
#define TL_MIB (1024UL * 1024UL)
/* A pid that cannot name a task here (above any pid_max). */
#define TL_NO_SUCH_PID 0x3fffffff

/* pid arguments are passed as long so a case can test the int truncation. */
static inline long tl_register(long pid) {
  return syscall(TL_NR_REGISTER, pid);
}
static inline long tl_fetch(void *stats, long pid) {
  return syscall(TL_NR_FETCH, stats, pid);
}
static inline long tl_deregister(long pid) {
  return syscall(TL_NR_DEREGISTER, pid);
}
static inline long tl_cap(long pid, long heap_mib, long files) {
  return syscall(TL_NR_RESOURCE_CAP, pid, heap_mib, files);
}
static inline long tl_reset(long pid) {
  return syscall(TL_NR_RESOURCE_RESET, pid);
}
static inline pid_t tl_gettid(void) {
  return (pid_t)syscall(SYS_gettid);
}

/*
 * stdout is line buffered into a static buffer, so printing never calls malloc
 * (which would grow the heap being measured). Nothing is printed to stderr.
 */
static char tl_stdout_buf[8192];
__attribute__((constructor)) static void tl_setup_stdout(void) {
  setvbuf(stdout, tl_stdout_buf, _IOLBF, sizeof(tl_stdout_buf));
}

static inline const char *tl_errname(int e) {
  const char *n = strerrorname_np(e);
  return n ? n : "E?";
}

/* "label = 0" or "label = -1 ENAME"; returns the call's result, errno preserved. */
static inline long tl_show(const char *label, long rc) {
  int e = errno;

  if (rc == -1)
    printf("%s = -1 %s\n", label, tl_errname(e));
  else
    printf("%s = %ld\n", label, rc);
  errno = e;
  return rc;
}
#define SHOW(expr) tl_show(#expr, (long)(expr))

/* Like SHOW but with a label given by the case (for calls whose text has a pid). */
#define SHOWL(label, expr) tl_show(label, (long)(expr))

/* fetch(pid) printed as "fetch(who) = 0 heap=N files=M" or the error. */
static inline long tl_show_fetch(const char *who, long pid) {
  struct per_proc_resource r;
  char label[64];
  long rc;

  memset(&r, 0xa5, sizeof(r));
  snprintf(label, sizeof(label), "fetch(%s)", who);
  rc = tl_fetch(&r, pid);
  if (rc == 0)
    printf("%s = 0 heap=%lu files=%lu%s\n", label, r.heapsize, r.openfile_count,
           r.pid == (int)pid ? "" : " (pid field differs)");
  else
    tl_show(label, rc);
  return rc;
}

/* The node's heapsize, or (unsigned long)-1 when fetch fails. */
static inline unsigned long tl_heap(long pid) {
  struct per_proc_resource r;

  return tl_fetch(&r, pid) == 0 ? r.heapsize : (unsigned long)-1;
}

static inline unsigned long tl_files(long pid) {
  struct per_proc_resource r;

  return tl_fetch(&r, pid) == 0 ? r.openfile_count : (unsigned long)-1;
}

/* Describe a wait status: "exited 0", "killed by SIGKILL". */
static inline const char *tl_status(int status, char *buf, size_t len) {
  if (WIFEXITED(status))
    snprintf(buf, len, "exited %d", WEXITSTATUS(status));
  else if (WIFSIGNALED(status))
    snprintf(buf, len, "killed by SIG%s", sigabbrev_np(WTERMSIG(status)) ?: "?");
  else
    snprintf(buf, len, "status 0x%x", status);
  return buf;
}

/* Reap @pid and print "<who> exited 0" / "<who> killed by SIGKILL". */
static inline int tl_reap(const char *who, pid_t pid) {
  char buf[64];
  int status = 0;

  if (waitpid(pid, &status, 0) != pid) {
    printf("%s: waitpid failed %s\n", who, tl_errname(errno));
    return -1;
  }
  printf("%s %s\n", who, tl_status(status, buf, sizeof(buf)));
  return status;
}

/* fork() with stdout flushed first, so no line is printed twice. */
static inline pid_t tl_fork(void) {
  pid_t pid;

  fflush(stdout);
  pid = fork();
  if (pid < 0) {
    printf("fork failed %s\n", tl_errname(errno));
    exit(1);
  }
  return pid;
}

/* A page shared with children (MAP_SHARED: never counted as heap). */
static inline volatile long *tl_shared_page(void) {
  void *p = mmap(NULL, TL_PAGE, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);

  if (p == MAP_FAILED) {
    printf("mmap shared failed %s\n", tl_errname(errno));
    exit(1);
  }
  return (volatile long *)p;
}

/* Anonymous private mapping of @len bytes (counted); returns NULL on failure. */
static inline void *tl_anon(size_t len) {
  void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

  return p == MAP_FAILED ? NULL : p;
}

/* A pipe used as a one-shot go signal between parent and child. */
struct tl_gate {
  int fd[2];
};

static inline void tl_gate_init(struct tl_gate *g) {
  if (pipe(g->fd) != 0) {
    printf("pipe failed %s\n", tl_errname(errno));
    exit(1);
  }
}

static inline void tl_gate_open(struct tl_gate *g) {
  char c = 1;

  if (write(g->fd[1], &c, 1) != 1) exit(1);
}

static inline void tl_gate_wait(struct tl_gate *g) {
  char c;

  if (read(g->fd[0], &c, 1) != 1) exit(1);
}

/* Creates (truncates) a file in the current directory, before any registration. */
static inline void tl_make_file(const char *name, mode_t mode) {
  int fd = open(name, O_CREAT | O_TRUNC | O_WRONLY, mode);

  if (fd < 0) {
    printf("cannot create %s: %s\n", name, tl_errname(errno));
    exit(1);
  }
  fchmod(fd, mode);
  close(fd);
}

/*
 * pthread_create with a fixed 256 KiB stack, so the stack mapping (counted as heap
 * when the creator's node exists) does not depend on RLIMIT_STACK.
 */
static inline pthread_t tl_thread(void *(*fn)(void *), void *arg) {
  pthread_attr_t attr;
  pthread_t t;

  pthread_attr_init(&attr);
  pthread_attr_setstacksize(&attr, 256 * 1024);
  if (pthread_create(&t, &attr, fn, arg) != 0) {
    printf("pthread_create failed\n");
    exit(1);
  }
  pthread_attr_destroy(&attr);
  return t;
}

#endif /* TL_H */
