// SPDX-License-Identifier: Apache-2.0
// ctr_probe: the program inside the test containers (test/containers/containers_test.sh).
// Static, so the rootfs needs nothing else. Runs its argv as steps, in order:
//   heap MIB          grow the break by MIB MiB, 1 MiB at a time (each page touched)
//   files N PATH      open PATH N times and keep every fd open
//   cat PATH          print PATH's first line (a file that exists only in the rootfs)
//   park READY GO     open GO for reading, then READY for writing, write "ready\n" to READY
//                     and wait for one byte from GO. Both fds stay open: while parked, the
//                     process's open files are exactly what it opened before, plus 2.
//   forks N MIB       fork N children; each grows its break by MIB MiB (as heap does), says
//                     so through a pipe and holds it until all N have; then they exit and
//                     are reaped. Prints "probe: N children held MIB MiB each" only when
//                     all N held their MiB at once (a job quota kills them all first).
//   forkfiles N K PATH  the same with files: each child opens PATH K times and holds them.
// Prints one line per step; exits 0 when all succeed, 1 at the first failure.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static int fail(const char* what, const char* arg) {
  printf("probe: %s %s: %s\n", what, arg, strerror(errno));
  fflush(stdout);
  return 1;
}

static int grow(long mib) {  // 0, or -1 with errno
  for (long m = 0; m < mib; ++m) {
    char* p = sbrk(1 << 20);
    if (p == (void*)-1) return -1;
    for (long off = 0; off < (1 << 20); off += 4096) p[off] = 1;
  }
  return 0;
}

static int open_n(long k, const char* path) {  // 0, or -1 with errno; the fds stay open
  for (long i = 0; i < k; ++i)
    if (open(path, O_RDONLY) < 0) return -1;
  return 0;
}

// Each of n children takes its share (mib MiB of heap, or k opens of path when path is set).
static int forks(long n, long mib, const char* path, const char* arg) {
  int held[2], release[2];
  if (pipe(held) != 0 || pipe(release) != 0) return fail("pipe", arg);
  for (long k = 0; k < n; ++k) {
    const pid_t pid = fork();
    if (pid < 0) return fail("fork", arg);
    if (pid == 0) {
      close(held[0]);
      close(release[1]);
      if ((path ? open_n(mib, path) : grow(mib)) != 0) _exit(3);
      char c = 'h';
      if (write(held[1], &c, 1) != 1) _exit(4);
      // EOF once the parent lets go: the MiB are held until then.
      _exit(read(release[0], &c, 1) == 0 ? 0 : 5);
    }
  }
  close(held[1]);
  close(release[0]);
  char c;
  for (long k = 0; k < n; ++k)
    if (read(held[0], &c, 1) != 1) return fail("children", "did not all hold their memory");
  printf("probe: %ld children held %ld %s each\n", n, mib, path ? "files" : "MiB");
  close(release[1]);
  for (long k = 0; k < n; ++k) {
    int st = 0;
    if (wait(&st) < 0 || !WIFEXITED(st) || WEXITSTATUS(st) != 0) return fail("wait", arg);
  }
  close(held[0]);
  return 0;
}

int main(int argc, char** argv) {
  setvbuf(stdout, NULL, _IOLBF, 0);
  for (int i = 1; i < argc; ++i) {
    const char* step = argv[i];
    if (strcmp(step, "heap") == 0 && i + 1 < argc) {
      const long mib = atol(argv[++i]);
      if (grow(mib) != 0) return fail("sbrk", argv[i]);
      printf("probe: heap +%ld MiB\n", mib);
    } else if (strcmp(step, "files") == 0 && i + 2 < argc) {
      const long n = atol(argv[++i]);
      const char* path = argv[++i];
      for (long k = 0; k < n; ++k)
        if (open(path, O_RDONLY) < 0) return fail("open", path);
      printf("probe: opened %s %ld times\n", path, n);
    } else if (strcmp(step, "cat") == 0 && i + 1 < argc) {
      const char* path = argv[++i];
      const int fd = open(path, O_RDONLY | O_CLOEXEC);
      if (fd < 0) return fail("open", path);
      char buf[256];
      const ssize_t r = read(fd, buf, sizeof buf - 1);
      if (r < 0) return fail("read", path);
      buf[r] = 0;
      buf[strcspn(buf, "\n")] = 0;
      printf("probe: %s says %s\n", path, buf);
      close(fd);
    } else if (strcmp(step, "park") == 0 && i + 2 < argc) {
      const char* ready = argv[++i];
      const char* go = argv[++i];
      const int in = open(go, O_RDONLY | O_CLOEXEC);
      if (in < 0) return fail("open", go);
      const int out = open(ready, O_WRONLY | O_CLOEXEC);
      if (out < 0) return fail("open", ready);
      if (write(out, "ready\n", 6) != 6) return fail("write", ready);
      char c;
      if (read(in, &c, 1) != 1) return fail("read", go);
    } else if (strcmp(step, "forks") == 0 && i + 2 < argc) {
      const long n = atol(argv[++i]);
      const long mib = atol(argv[++i]);
      if (forks(n, mib, NULL, argv[i]) != 0) return 1;
    } else if (strcmp(step, "forkfiles") == 0 && i + 3 < argc) {
      const long n = atol(argv[++i]);
      const long k = atol(argv[++i]);
      const char* path = argv[++i];
      if (forks(n, k, path, path) != 0) return 1;
    } else {
      printf("probe: bad step %s\n", step);
      return 2;
    }
  }
  printf("probe: done\n");
  return 0;
}
