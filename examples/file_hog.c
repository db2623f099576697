// SPDX-License-Identifier: Apache-2.0
/* file_hog: opens /dev/null again and again without ever closing it.
 *
 * Shows the file quota. Each successful open adds 1 to the program's openfile_count (a
 * close would subtract 1); above the quota the process is killed with SIGKILL and
 * `sandbox run` prints one line naming the pid, the quota, the usage and the limit.
 *
 *   build/bin/sandbox run --file-quota 10 -- build/bin/file_hog
 *
 * Expected: opens #1..#10 are printed; the 11th open takes the count to 11 > 10, so the process
 * is killed before it prints it; the exit status is 137 (128 + SIGKILL). Without a quota it
 * stops by itself when open fails (EMFILE at RLIMIT_NOFILE), or after the number of opens
 * given as the first argument: `file_hog 5`. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char **argv) {
  unsigned long max_opens = argc > 1 ? strtoul(argv[1], NULL, 10) : 0;
  setvbuf(stdout, NULL, _IOLBF, 0);
  for (unsigned long count = 1; max_opens == 0 || count <= max_opens; ++count) {
    int fd = open("/dev/null", O_RDONLY);
    if (fd < 0) {
      fprintf(stderr, "file_hog: open #%lu failed: %s\n", count, strerror(errno));
      return 1;
    }
    printf("file_hog: open #%lu: fd %d\n", count, fd);
  }
  return 0;
}
