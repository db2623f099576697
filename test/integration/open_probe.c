// SPDX-License-Identifier: Apache-2.0
/* open_probe: targets for the tests of opens that wait (test/integration/open_test.cpp).
 * One case per argv[1]; each prints "key=value" lines. Every process that opens registers
 * itself, so every open and close here is performed by the supervisor. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/userfaultfd.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "tracker_limiter.h"

#define PAGE 4096UL

static void say(const char *fmt, ...) {
  char buf[512];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(buf, sizeof buf - 1, fmt, ap);
  va_end(ap);
  buf[n++] = '\n';
  if (write(1, buf, (size_t)n) < 0) _exit(99);
}

static const char *ename(int e) {
  const char *n = e ? strerrorname_np(e) : "0";
  return n ? n : "E?";
}

static void registered(void) {
  if (tl_register(getpid()) != 0 && errno != ENFILE) {
    say("register_failed=%s", ename(errno));
    _exit(3);
  }
}

static unsigned long files(void) {
  struct per_proc_resource s;
  return tl_fetch(&s, getpid()) == 0 ? s.openfile_count : (unsigned long)-1;
}

static volatile long *shared_page(void) {
  void *p = mmap(NULL, PAGE, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) _exit(4);
  return (volatile long *)p;
}

/* Spins (yielding) until thread/process `pid` is inside system call `nr`, as
 * /proc/<pid>/syscall shows it: a condition, not a delay. */
static void wait_in_syscall(pid_t pid, long nr) {
  char path[64], buf[128];
  snprintf(path, sizeof path, "/proc/%d/syscall", pid);
  for (;;) {
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    ssize_t n = fd >= 0 ? read(fd, buf, sizeof buf - 1) : -1;
    if (fd >= 0) close(fd);
    if (n > 0) {
      buf[n] = 0;
      if (strtol(buf, NULL, 10) == nr && buf[0] != 'r') return;
    }
    sched_yield();
  }
}

static double now_s(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* A reader and a writer of one FIFO, both tracked: both opens proceed. */
static int case_fifo(const char *dir) {
  char path[512];
  snprintf(path, sizeof path, "%s/fifo", dir);
  if (mkfifo(path, 0600) != 0) return 5;
  registered();
  unsigned long f0 = files();
  pid_t writer = fork();
  if (writer == 0) {
    registered();
    int w = open(path, O_WRONLY);
    if (w < 0) _exit(10);
    if (write(w, "x", 1) != 1) _exit(11);
    close(w);
    _exit(0);
  }
  int r = open(path, O_RDONLY);
  say("reader_open=%s", r >= 0 ? "0" : ename(errno));
  char c = 0;
  say("read=%c", r >= 0 && read(r, &c, 1) == 1 ? c : '-');
  say("files_delta=%lu", files() - f0);
  int st = 0;
  waitpid(writer, &st, 0);
  say("writer_status=%d", WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st));
  if (r >= 0) close(r);
  say("files_after_close=%lu", files() - f0);
  return 0;
}

static volatile sig_atomic_t handled;
static volatile long *handled_shared; /* seen by the helper process */
static void on_usr1(int sig) {
  (void)sig;
  handled++;
  if (handled_shared) *handled_shared = 1;
}

/* A FIFO open interrupted by a signal: EINTR without SA_RESTART; with it, the handler runs
 * and the open is restarted, then completes when a writer comes. */
static int case_fifo_signal(const char *dir, int restart) {
  char path[512];
  snprintf(path, sizeof path, "%s/fifo", dir);
  if (mkfifo(path, 0600) != 0) return 5;
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_usr1;
  sa.sa_flags = restart ? SA_RESTART : 0;
  sigaction(SIGUSR1, &sa, NULL);
  registered();
  unsigned long f0 = files();
  volatile long *seen = shared_page();
  handled_shared = seen;
  pid_t me = getpid();
  pid_t helper = fork();
  if (helper == 0) {
    wait_in_syscall(me, SYS_openat);
    kill(me, SIGUSR1);
    if (!restart) _exit(0);
    /* Open the writer side once the handler ran, so the restarted open can finish. */
    while (!*seen) sched_yield();
    int w = open(path, O_WRONLY);
    _exit(w >= 0 ? 0 : 10);
  }
  int r = open(path, O_RDONLY);
  int e = errno;
  say("open=%s", r >= 0 ? "0" : ename(e));
  say("handled=%d", (int)handled);
  say("files_delta=%lu", files() - f0);
  int st = 0;
  if (restart && r < 0) kill(helper, SIGKILL);
  waitpid(helper, &st, 0);
  say("helper_status=%d", WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st));
  return 0;
}

/* A FIFO open by the main thread of a process whose other thread blocks every signal; a
 * process-directed SIGUSR1 (kill) can only be taken by the main thread, so natively its
 * open fails with EINTR. Not registered: run it under --track, and natively, and compare.
 * If nothing interrupts the open, the helper ends it after a bound (open=0): a failure
 * shows instead of a hang. */
static int hold[2] = {-1, -1};
static int other_blocks = 1; /* 0: "fifo-signal-threads-open", the other thread blocks nothing */
static void *blocking_thread(void *arg) {
  sigset_t all;
  sigfillset(&all);
  if (other_blocks) pthread_sigmask(SIG_BLOCK, &all, NULL);
  char c = 0;
  (void)!write(*(int *)arg, "r", 1);
  (void)!read(hold[0], &c, 1); /* until the main thread is done */
  return NULL;
}

static int case_fifo_signal_threads(const char *dir) {
  char path[512];
  snprintf(path, sizeof path, "%s/fifo-threads", dir);
  unlink(path);
  if (mkfifo(path, 0600) != 0) return 5;
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_usr1;
  sigaction(SIGUSR1, &sa, NULL);
  int ready[2];
  if (pipe(ready) != 0 || pipe(hold) != 0) return 6;
  pthread_t t;
  if (pthread_create(&t, NULL, blocking_thread, &ready[1]) != 0) return 7;
  char c;
  if (read(ready[0], &c, 1) != 1) return 8;
  volatile long *seen = shared_page();
  handled_shared = seen;
  pid_t me = getpid();
  pid_t helper = fork();
  if (helper == 0) {
    wait_in_syscall(me, SYS_openat);
    kill(me, SIGUSR1);
    double deadline = now_s() + 10;
    while (!*seen && now_s() < deadline) sched_yield();
    if (!*seen) (void)!open(path, O_WRONLY | O_NONBLOCK); /* not interrupted: end the open */
    _exit(0);
  }
  int r = open(path, O_RDONLY);
  int e = errno;
  say("open=%s", r >= 0 ? "0" : ename(e));
  say("handled=%d", (int)handled);
  (void)!write(hold[1], "q", 1);
  pthread_join(t, NULL);
  int st = 0;
  waitpid(helper, &st, 0);
  say("helper_status=%d", WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st));
  unlink(path);
  return 0;
}

static volatile sig_atomic_t lease_broken;
static void on_io(int sig) {
  (void)sig;
  lease_broken = 1;
}

/* A lease another process of the run must release (by closing its file) on SIGIO. */
static int case_lease(const char *dir) {
  char path[512];
  snprintf(path, sizeof path, "%s/leased", dir);
  int fd = open(path, O_CREAT | O_WRONLY | O_TRUNC, 0644);
  if (fd < 0) return 5;
  close(fd);
  int ready[2];
  if (pipe(ready) != 0) return 6;
  pid_t holder = fork();
  if (holder == 0) {
    registered();
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_io;
    sigaction(SIGIO, &sa, NULL);
    sigset_t block, old;
    sigemptyset(&block);
    sigaddset(&block, SIGIO);
    sigprocmask(SIG_BLOCK, &block, &old);
    int h = open(path, O_RDONLY);
    if (h < 0 || fcntl(h, F_SETLEASE, F_RDLCK) != 0) _exit(10);
    (void)!write(ready[1], "x", 1);
    while (!lease_broken) sigsuspend(&old);
    _exit(close(h) == 0 ? 0 : 11); /* the release: a tracked close */
  }
  char c;
  if (read(ready[0], &c, 1) != 1) return 7;
  registered();
  FILE *f = fopen("/proc/sys/fs/lease-break-time", "re");
  int break_time = 45;
  if (f) {
    if (fscanf(f, "%d", &break_time) != 1) break_time = 45;
    fclose(f);
  }
  double t0 = now_s();
  int w = open(path, O_WRONLY);
  double took = now_s() - t0;
  say("open=%s", w >= 0 ? "0" : ename(errno));
  /* A lease broken by the timeout instead of the holder's close means the close was stuck
   * behind our open. */
  say("released_by_holder=%d", took < break_time);
  int st = 0;
  waitpid(holder, &st, 0);
  say("holder_status=%d", WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st));
  return 0;
}

/* A path in a userfaultfd-registered page: the open waits for the handler thread, which
 * itself opens a file (tracked) before it supplies the page. */
static int uffd = -1;
static char *uffd_page;
static void *uffd_handler(void *arg) {
  (void)arg;
  struct pollfd p = {uffd, POLLIN, 0};
  if (poll(&p, 1, -1) != 1) return (void *)1;
  struct uffd_msg m;
  if (read(uffd, &m, sizeof m) != sizeof m || m.event != UFFD_EVENT_PAGEFAULT) return (void *)2;
  int fd = open("/dev/null", O_RDONLY); /* needs the supervisor while the other open waits */
  say("handler_open=%s", fd >= 0 ? "0" : ename(errno));
  if (fd >= 0) close(fd);
  static char src[PAGE] __attribute__((aligned(4096)));
  strcpy(src, "/dev/null");
  struct uffdio_copy cp = {
      .dst = (unsigned long)uffd_page, .src = (unsigned long)src, .len = PAGE, .mode = 0};
  if (ioctl(uffd, UFFDIO_COPY, &cp) != 0) return (void *)3;
  return NULL;
}

static int case_uffd(void) {
  uffd = (int)syscall(SYS_userfaultfd, O_CLOEXEC);
  if (uffd < 0) {
    say("userfaultfd=%s", ename(errno));
    return 0;
  }
  struct uffdio_api api = {.api = UFFD_API, .features = 0};
  if (ioctl(uffd, UFFDIO_API, &api) != 0) return 5;
  uffd_page = mmap(NULL, PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (uffd_page == MAP_FAILED) return 6;
  struct uffdio_register reg = {.range = {.start = (unsigned long)uffd_page, .len = PAGE},
                                .mode = UFFDIO_REGISTER_MODE_MISSING};
  if (ioctl(uffd, UFFDIO_REGISTER, &reg) != 0) return 7;
  registered();
  unsigned long f0 = files();
  pthread_t t;
  pthread_create(&t, NULL, uffd_handler, NULL);
  int fd = open(uffd_page, O_RDONLY);
  say("open=%s", fd >= 0 ? "0" : ename(errno));
  void *rc;
  pthread_join(t, &rc);
  say("handler=%ld", (long)rc);
  say("files_delta=%lu", files() - f0);
  return 0;
}

/* ---- opens in the namespaces a target made itself (issue 11). The same program runs
 * natively and under `sandbox run --track`; the test compares the two outputs. */
static void show_open(const char *key, const char *path, int flags) {
  int fd = open(path, flags, 0644);
  say("%s=%s", key, fd >= 0 ? "0" : ename(errno));
  if (fd >= 0) close(fd);
}

static void show_contents(const char *key, const char *path) {
  char buf[256];
  int fd = open(path, O_RDONLY);
  if (fd < 0) {
    say("%s=%s", key, ename(errno));
    return;
  }
  ssize_t n = read(fd, buf, sizeof buf - 1);
  close(fd);
  buf[n > 0 ? n : 0] = 0;
  for (char *c = buf; *c; c++)
    if (*c == '\n' || *c == '\t') *c = ' ';
  while (n > 0 && buf[n - 1] == ' ') buf[--n] = 0;
  say("%s=%s", key, buf);
}

/* The "Uid:" line of /proc/self/status. */
static void show_status_uid(void) {
  char buf[4096];
  int fd = open("/proc/self/status", O_RDONLY);
  if (fd < 0) {
    say("status_uid=%s", ename(errno));
    return;
  }
  ssize_t n = read(fd, buf, sizeof buf - 1);
  close(fd);
  buf[n > 0 ? n : 0] = 0;
  char *u = strstr(buf, "\nUid:");
  char *e = u ? strchr(u + 1, '\n') : NULL;
  if (e) *e = 0;
  for (char *c = u ? u + 1 : buf; *c; c++)
    if (*c == '\t') *c = ' ';
  say("status_uid=%s", u ? u + 1 : "?");
}

static int write_file(const char *path, const char *text) {
  int fd = open(path, O_WRONLY);
  if (fd < 0) return -1;
  ssize_t n = write(fd, text, strlen(text));
  close(fd);
  return n == (ssize_t)strlen(text) ? 0 : -1;
}

/* Maps our uid and gid to 0 in a new user namespace (as `unshare -r` does). */
static int become_ns_root(void) {
  char map[64];
  uid_t uid = getuid();
  gid_t gid = getgid();
  if (unshare(CLONE_NEWUSER) != 0) return -1;
  snprintf(map, sizeof map, "0 %u 1", uid);
  if (write_file("/proc/self/uid_map", map) != 0) return -2;
  if (write_file("/proc/self/setgroups", "deny") != 0) return -3;
  snprintf(map, sizeof map, "0 %u 1", gid);
  return write_file("/proc/self/gid_map", map) != 0 ? -4 : 0;
}

static int case_ns(const char *what, const char *dir) {
  char path[512];
  if (!strcmp(what, "userns")) {
    /* Unprivileged (uid 65534): root of its own user namespace, full capabilities there. */
    say("become=%d", become_ns_root());
    show_status_uid();
    show_open("shadow", "/etc/shadow", O_RDONLY);
    snprintf(path, sizeof path, "/etc/sandbox-probe-%d", getpid());
    show_open("create_in_etc", path, O_CREAT | O_WRONLY);
    unlink(path);
    show_contents("uid_map", "/proc/self/uid_map");
  } else if (!strcmp(what, "root-drops")) {
    /* Root drops privileges with a user namespace: a file of another user, 0600. */
    snprintf(path, sizeof path, "%s/other", dir);
    say("before=%s", open(path, O_RDONLY) >= 0 ? "0" : ename(errno));
    say("unshare=%d", unshare(CLONE_NEWUSER));
    show_open("after", path, O_RDONLY);
    show_status_uid();
  } else if (!strcmp(what, "netns")) {
    say("unshare=%d", unshare(CLONE_NEWNET | CLONE_NEWIPC | CLONE_NEWUTS));
    snprintf(path, sizeof path, "/proc/sys/net/ipv4/conf/%s/forwarding", dir); /* a host interface */
    show_open("host_iface_sysctl", path, O_RDONLY);
    show_contents("lo_sysctl", "/proc/sys/net/ipv4/conf/lo/forwarding");
    say("sethostname=%d", sethostname("probe-uts", 9));
    show_contents("hostname", "/proc/sys/kernel/hostname");
    show_contents("msgmni", "/proc/sys/kernel/msgmni");
  } else if (!strcmp(what, "mountns")) {
    /* `unshare -m`, bwrap-style: a private mount, a file made in it, a nosymfollow link. */
    int r = getuid() == 0 ? 0 : become_ns_root();
    say("become=%d", r);
    say("unshare=%d", unshare(CLONE_NEWNS));
    say("private=%d", mount("none", "/", NULL, MS_REC | MS_PRIVATE, NULL));
    say("mount=%d", mount("tmpfs", dir, "tmpfs", MS_NOSYMFOLLOW, NULL));
    snprintf(path, sizeof path, "%s/made", dir);
    show_open("create", path, O_CREAT | O_WRONLY);
    show_open("reopen", path, O_RDONLY);
    char link[600];
    snprintf(link, sizeof link, "%s/link", dir);
    say("symlink=%d", symlink("made", link));
    show_open("nosymfollow_link", link, O_RDONLY);
  } else if (!strcmp(what, "pidns")) {
    /* `unshare -mpf --mount-proc`, bwrap --unshare-pid --proc: pid 1 of a new pid namespace
     * with that namespace's own /proc, whose "self" is its pid there, not ours. */
    int r = getuid() == 0 ? 0 : become_ns_root();
    say("become=%d", r);
    say("unshare=%d", unshare(CLONE_NEWNS | CLONE_NEWPID));
    pid_t child = fork();
    if (child == 0) {
      if (mount("none", "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0) _exit(3);
      say("mount_proc=%d", mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL));
      char buf[64] = {0};
      int fd = open("/proc/self/stat", O_RDONLY);
      ssize_t n = fd >= 0 ? read(fd, buf, sizeof buf - 1) : -1;
      say("self_stat=%s", fd < 0 ? ename(errno) : n > 0 ? strtok(buf, " ") : "-");
      if (fd >= 0) close(fd);
      show_contents("thread_self_comm", "/proc/thread-self/comm");
      show_open("pid1_status", "/proc/1/status", O_RDONLY);
      _exit(0);
    }
    int st = 0;
    say("child=%d", child > 0 && waitpid(child, &st, 0) == child && WIFEXITED(st) ? WEXITSTATUS(st) : -1);
  } else if (!strcmp(what, "pidns3")) {
    /* Procfs of other pid namespaces, read by pid 1 of a new one (B): the procfs of the
     * namespace above (bind-mounted before B mounted its own /proc), where "self" is B's pid
     * there, and the procfs of a child namespace whose init (C) mounted it, where B has no
     * pid at all: its "self" is ENOENT. */
    int r = getuid() == 0 ? 0 : become_ns_root();
    say("become=%d", r);
    char old_proc[512], inner[512];
    snprintf(old_proc, sizeof old_proc, "%s/old", dir);
    snprintf(inner, sizeof inner, "%s/inner", dir);
    if ((mkdir(old_proc, 0755) != 0 && errno != EEXIST) || (mkdir(inner, 0755) != 0 && errno != EEXIST))
      return 4; /* made by the native run before the tracked one */
    say("unshare=%d", unshare(CLONE_NEWNS | CLONE_NEWPID));
    int to_a[2];
    if (pipe(to_a) != 0) return 4;
    pid_t b = fork();
    if (b == 0) {
      close(to_a[0]);
      if (mount("none", "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0) _exit(3);
      if (mount("/proc", old_proc, NULL, MS_BIND | MS_REC, NULL) != 0) _exit(4);
      if (mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) != 0) _exit(5);
      char at[600], buf[64] = {0};
      snprintf(at, sizeof at, "%s/self/stat", old_proc);
      int fd = open(at, O_RDONLY);
      ssize_t n = fd >= 0 ? read(fd, buf, sizeof buf - 1) : -1;
      if (fd >= 0) close(fd);
      const char *above = fd < 0 ? ename(errno) : n > 0 ? strtok(buf, " ") : "-";
      if (write(to_a[1], above, strlen(above)) < 0) _exit(6);
      close(to_a[1]);
      if (unshare(CLONE_NEWPID) != 0) _exit(7);
      int mounted[2], done[2];
      if (pipe(mounted) != 0 || pipe(done) != 0) _exit(8);
      pid_t c = fork();
      if (c == 0) {
        /* C, pid 1 of the child namespace, first reads /proc (B's namespace, one above its
         * own): "self" there is its pid in B's namespace. Then it mounts its own procfs. */
        char x = 0, mine[64] = {0};
        int f = open("/proc/self/stat", O_RDONLY);
        ssize_t got = f >= 0 ? read(f, mine, sizeof mine - 1) : -1;
        if (f >= 0) close(f);
        const char *self_above = f < 0 ? ename(errno) : got > 0 ? strtok(mine, " ") : "-";
        const int m = mount("proc", inner, "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL);
        char line[80];
        snprintf(line, sizeof line, "%c %s", m == 0 ? '1' : '0', self_above);
        if (write(mounted[1], line, strlen(line)) < 0 || read(done[0], &x, 1) < 0) _exit(1);
        _exit(0);
      }
      char line[80] = {0}, want[32];
      if (c < 0 || read(mounted[0], line, sizeof line - 1) <= 0) _exit(9);
      say("inner_mount=%c", line[0]);
      snprintf(want, sizeof want, "1 %d", (int)c);
      say("c_self_above_is_c=%d", strcmp(line, want) == 0);
      snprintf(at, sizeof at, "%s/self/stat", inner);
      show_open("inner_self", at, O_RDONLY);
      snprintf(at, sizeof at, "%s/thread-self/comm", inner);
      show_open("inner_thread_self", at, O_RDONLY);
      snprintf(at, sizeof at, "%s/1/stat", inner);
      show_open("inner_pid1", at, O_RDONLY);
      if (write(done[1], "x", 1) < 0) _exit(10);
      int st = 0;
      _exit(waitpid(c, &st, 0) == c && WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : 11);
    }
    close(to_a[1]);
    int st = 0; /* B's lines first: A speaks once B is gone */
    const int child = b > 0 && waitpid(b, &st, 0) == b && WIFEXITED(st) ? WEXITSTATUS(st) : -1;
    char got[64] = {0};
    ssize_t n = read(to_a[0], got, sizeof got - 1);
    char want[32];
    snprintf(want, sizeof want, "%d", (int)b);
    say("above_self_is_b=%d", n > 0 && strcmp(got, want) == 0);
    say("child=%d", child);
  } else {
    return 2;
  }
  return 0;
}

/* For serve: prints "blocking", then opens a FIFO for reading (waits for a writer). */
static int case_fifo_block(const char *path) {
  registered();
  say("blocking=1");
  int r = open(path, O_RDONLY);
  say("open=%s", r >= 0 ? "0" : ename(errno));
  char c = 0;
  say("read=%c", r >= 0 && read(r, &c, 1) == 1 ? c : '-');
  return 0;
}

/* For serve: joins, waits for a line, then waits in a FIFO open (the supervisor starts another
 * serving thread meanwhile); once the writer came, a few tracked opens and closes, then idles
 * until a line arrives, so that the driver can count the supervisor's threads. */
static int case_fifo_block_idle(const char *path) {
  registered();
  int fd0 = open("/dev/null", O_RDONLY); /* the supervisor's watcher of opens exists from here */
  if (fd0 < 0 || close(fd0) != 0) return 4;
  say("joined=1");
  char line[16];
  if (!fgets(line, sizeof line, stdin)) return 3;
  say("blocking=1");
  int r = open(path, O_RDONLY);
  say("open=%s", r >= 0 ? "0" : ename(errno));
  int ok = r >= 0 && close(r) == 0;
  for (int i = 0; i < 3; i++) {
    int fd = open("/dev/null", O_RDONLY);
    ok = ok && fd >= 0 && close(fd) == 0;
  }
  say("idle=%d", ok);
  if (!fgets(line, sizeof line, stdin)) return 3;
  return 0;
}

/* For serve: a few tracked opens and closes. */
static int case_quick(void) {
  registered();
  unsigned long f0 = files();
  int ok = 1;
  for (int i = 0; i < 5; i++) {
    int fd = open("/dev/null", O_RDONLY);
    ok = ok && fd >= 0 && files() - f0 == 1 && close(fd) == 0;
  }
  say("quick_ok=%d", ok);
  return 0;
}

/* RLIMIT_NOFILE lowered by the process after tracked opens (the supervisor keeps the limit
 * between opens): the next open in the now full table fails with EMFILE, creating nothing. */
static int case_nofile_lowered(const char *dir) {
  char path[512];
  snprintf(path, sizeof path, "%s/f", dir);
  int fd = open(path, O_CREAT | O_WRONLY, 0644);
  if (fd < 0) return 5;
  close_range(3, ~0U, 0);
  registered();
  for (int i = 0; i < 3; i++) { /* tracked opens, at fd 3 */
    fd = open(path, O_RDONLY);
    if (fd != 3 || (i < 2 && close(fd) != 0)) return 6;
  }
  struct rlimit four = {4, 64};
  say("setrlimit=%s", setrlimit(RLIMIT_NOFILE, &four) == 0 ? "0" : ename(errno));
  snprintf(path, sizeof path, "%s/new", dir);
  int r = open(path, O_CREAT | O_WRONLY, 0644);
  say("open=%s", r >= 0 ? "0" : ename(errno));
  say("created=%d", access(path, F_OK) == 0);
  say("files=%lu", files());
  return 0;
}

int main(int argc, char **argv) {
  if (argc < 2) return 2;
  const char *c = argv[1], *arg = argc > 2 ? argv[2] : "/tmp";
  if (!strcmp(c, "fifo")) return case_fifo(arg);
  if (!strcmp(c, "fifo-signal")) return case_fifo_signal(arg, 0);
  if (!strcmp(c, "fifo-signal-restart")) return case_fifo_signal(arg, 1);
  if (!strcmp(c, "lease")) return case_lease(arg);
  if (!strcmp(c, "uffd")) return case_uffd();
  if (!strcmp(c, "fifo-block")) return case_fifo_block(arg);
  if (!strcmp(c, "quick")) return case_quick();
  if (!strcmp(c, "fifo-block-idle")) return case_fifo_block_idle(arg);
  if (!strcmp(c, "fifo-signal-threads")) return case_fifo_signal_threads(arg);
  if (!strcmp(c, "fifo-signal-threads-open")) return other_blocks = 0, case_fifo_signal_threads(arg);
  if (!strcmp(c, "nofile-lowered")) return case_nofile_lowered(arg);
  if (!strcmp(c, "ns") && argc > 3) return case_ns(argv[2], argv[3]);
  return 2;
}
