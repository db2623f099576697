// SPDX-License-Identifier: Apache-2.0
/*
 * The break belongs to the address space, not to the process: a CLONE_VM child or a
 * vfork child moves it, then the parent grows it from where it really is (issue 12 row 2).
 */
#include <sched.h>

#include "tl.h"

static unsigned long base;
static volatile unsigned long child_heap = 1;
static struct tl_gate gate;
static char child_stack[64 * 1024] __attribute__((aligned(16)));

static unsigned long brk_to(unsigned long addr) {
  return (unsigned long)syscall(SYS_brk, addr);
}

static int move_break(void *to) {
  brk_to((unsigned long)to);
  return 0;
}

/* Waits for the parent to register it, then grows the break and reads its own node. */
static int registered_child(void *to) {
  unsigned long before;

  tl_gate_wait(&gate);
  before = tl_heap(getpid());
  brk_to((unsigned long)to);
  child_heap = tl_heap(getpid()) - before;
  return 0;
}

static void parent_grow(const char *what, unsigned long to) {
  pid_t self = getpid();
  unsigned long before = tl_heap(self);
  unsigned long r = brk_to(to);

  printf("%s: moved %s, heap +%lu\n", what, r == to ? "yes" : "no", tl_heap(self) - before);
}

static pid_t clone_vm(int (*fn)(void *), unsigned long to) {
  pid_t pid;

  fflush(stdout);
  pid = clone(fn, child_stack + sizeof(child_stack), CLONE_VM | SIGCHLD, (void *)to);
  if (pid < 0) {
    printf("clone failed %s\n", tl_errname(errno));
    exit(1);
  }
  return pid;
}

int main(void) {
  pid_t self = getpid(), child;

  base = (brk_to(0) + TL_PAGE - 1) & ~(TL_PAGE - 1);
  brk_to(base);
  SHOWL("register(self)", tl_register(self));

  /* A CLONE_VM child grows the shared break by 3 pages; the parent grows 1 more. */
  child = clone_vm(move_break, base + 3 * TL_PAGE);
  tl_reap("clone child", child);
  parent_grow("parent brk +4 pages after the child's +3", base + 4 * TL_PAGE);

  /* A vfork child shrinks it by 2 pages; the parent grows back 2 pages. */
  fflush(stdout);
  child = vfork();
  if (child == 0) {
    brk_to(base + 2 * TL_PAGE);
    _exit(0);
  }
  tl_reap("vfork child", child);
  parent_grow("parent brk +4 pages after the child's shrink to +2", base + 4 * TL_PAGE);

  /* A CLONE_VM child shrinks it below the parent's last break, in the same page. */
  child = clone_vm(move_break, base + 4 * TL_PAGE - 100);
  tl_reap("clone child", child);
  parent_grow("parent brk +4 pages -50 (same page)", base + 4 * TL_PAGE - 50);

  /* A registered CLONE_VM child grows it: its own node counts; the parent's does not. */
  tl_gate_init(&gate);
  child = clone_vm(registered_child, base + 7 * TL_PAGE);
  SHOWL("register(clone child)", tl_register(child));
  {
    unsigned long before = tl_heap(self);

    tl_gate_open(&gate);
    tl_reap("registered clone child", child);
    printf("child node heap +%lu, parent node heap +%lu\n", child_heap, tl_heap(self) - before);
  }
  parent_grow("parent brk +8 pages after the child's +7", base + 8 * TL_PAGE);

  /* A registered CLONE_VM child shrinks it; the parent's growth back counts in full. */
  tl_gate_init(&gate);
  child = clone_vm(registered_child, base + 5 * TL_PAGE);
  SHOWL("register(clone child)", tl_register(child));
  tl_gate_open(&gate);
  tl_reap("registered clone child", child);
  printf("child node heap +%lu\n", child_heap);
  parent_grow("parent brk +8 pages after the child's shrink to +5", base + 8 * TL_PAGE);

  /* An exec that fails leaves the parent in the address space it shares with a child. */
  tl_gate_init(&gate);
  child = clone_vm(registered_child, base + 6 * TL_PAGE);
  {
    char *const argv[] = {(char *)"/nonexistent", NULL};

    SHOWL("execve(/nonexistent)", execve(argv[0], argv, NULL));
  }
  SHOWL("register(clone child)", tl_register(child));
  tl_gate_open(&gate);
  tl_reap("registered clone child", child);
  parent_grow("parent brk +8 pages after a failed exec and the child's shrink to +6", base + 8 * TL_PAGE);
  tl_show_fetch("self", self);
  return 0;
}
