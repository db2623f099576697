// SPDX-License-Identifier: Apache-2.0
/* jobs_target: process trees for the job tests (issue 13). Runs inside the filter under
 * test; prints key=value lines.
 *
 *   fork-heap K MIB   K children at once, each maps MIB MiB (anonymous private) and holds it
 *                     until all K have; then all exit. Prints all_ready=1.
 *   seq-heap K MIB    the same, one child after the other (each exits before the next).
 *   fork-files K N    K children at once, each opens N files and holds them.
 *   daemon MIB        double fork + setsid: the daemon maps MIB MiB and says so through a
 *                     pipe; CMD prints daemon_allocated=1.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

static void grab_heap(long mib) {
  void* p = mmap(NULL, (size_t)mib << 20, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) _exit(3);
}

static void grab_files(long n) {
  for (long i = 0; i < n; ++i)
    if (open("/dev/null", O_RDONLY) < 0) _exit(4);
}

/* K children at once: each does `work`, says it is ready, and holds until the parent has
 * heard from all of them (the parent closes `go`). */
static int together(long k, void (*work)(long), long amount) {
  int ready[2], go[2];
  if (pipe(ready) || pipe(go)) return 2;
  for (long i = 0; i < k; ++i) {
    const pid_t c = fork();
    if (c < 0) return 2;
    if (c == 0) {
      close(ready[0]);
      close(go[1]);
      work(amount);
      if (write(ready[1], "r", 1) != 1) _exit(5);
      char b;
      while (read(go[0], &b, 1) > 0) {
      }
      _exit(0);
    }
  }
  close(ready[1]);
  close(go[0]);
  long got = 0;
  char b;
  while (got < k && read(ready[0], &b, 1) == 1) ++got;
  close(go[1]);
  int ok = got == k;
  for (long i = 0; i < k; ++i) {
    int st;
    if (wait(&st) < 0 || !WIFEXITED(st) || WEXITSTATUS(st) != 0) ok = 0;
  }
  printf("all_ready=%d\n", ok);
  return ok ? 0 : 1;
}

static int one_after_another(long k, long mib) {
  for (long i = 0; i < k; ++i) {
    const pid_t c = fork();
    if (c < 0) return 2;
    if (c == 0) {
      grab_heap(mib);
      _exit(0);
    }
    int st;
    if (waitpid(c, &st, 0) != c || !WIFEXITED(st) || WEXITSTATUS(st) != 0) return 1;
  }
  printf("children=%ld\n", k);
  return 0;
}

static int daemonized(long mib) {
  int p[2];
  if (pipe(p)) return 2;
  const pid_t c = fork();
  if (c < 0) return 2;
  if (c == 0) {
    if (fork() != 0) _exit(0); /* the daemon is orphaned: reparented to the subreaper */
    setsid();
    close(p[0]);
    grab_heap(mib);
    if (write(p[1], "y", 1) != 1) _exit(5);
    _exit(0);
  }
  close(p[1]);
  waitpid(c, NULL, 0);
  char b;
  const int said = read(p[0], &b, 1) == 1;
  printf("daemon_allocated=%d\n", said);
  return said ? 0 : 1;
}

int main(int argc, char** argv) {
  setvbuf(stdout, NULL, _IONBF, 0);
  if (argc == 4 && strcmp(argv[1], "fork-heap") == 0)
    return together(atol(argv[2]), grab_heap, atol(argv[3]));
  if (argc == 4 && strcmp(argv[1], "seq-heap") == 0) return one_after_another(atol(argv[2]), atol(argv[3]));
  if (argc == 4 && strcmp(argv[1], "fork-files") == 0)
    return together(atol(argv[2]), grab_files, atol(argv[3]));
  if (argc == 3 && strcmp(argv[1], "daemon") == 0) return daemonized(atol(argv[2]));
  fprintf(stderr, "usage: jobs_target fork-heap|seq-heap|fork-files K N | daemon MIB\n");
  return 2;
}
