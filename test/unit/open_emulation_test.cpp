// SPDX-License-Identifier: Apache-2.0
// Tests for supervisor/open/emulation.*: a real child process sets up a context (cwd,
// umask, a dirfd, fd 0, uid 65534 when asked), then, on command over a pipe, opens a path
// itself and reports what it got; the test emulates the same open as that child and
// compares. Synchronisation is by pipes only. Needs root (CAP_SETUID, CAP_SYS_PTRACE).
#include <dirent.h>
#include <doctest/doctest.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/capability.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "child.hpp"  // test/host: forked children drop doctest's handlers
#include "open/emulation.hpp"

namespace {

using sandbox::dac_permits;
using sandbox::OpenEmulator;
using sandbox::OpenOutcome;
using sandbox::OpenRequest;
using sandbox::OpenSyscall;
using sandbox::own_ptrace_checked_file;

struct Cmd {
  int op = 0;  // 1 open, 2 become uid/gid 65534, 3 exit, 4 not dumpable without CAP_SYS_PTRACE
  OpenSyscall call = OpenSyscall::openat;
  int dirfd = AT_FDCWD;
  std::uint64_t flags = 0, mode = 0, resolve = 0;
  char path[512] = {};
};

// What one open gave: an error, or the file (identity, access mode, path, Pid: line).
struct Obs {
  int kind = 0;  // 0 file, 1 error, 2 let_target
  int err = 0;
  std::uint64_t dev = 0, ino = 0;
  std::uint32_t mode = 0;
  std::int64_t size = 0;
  int fl = 0;
  char link[256] = {};
  char pid_line[64] = {};
};

bool write_all(int fd, const void* p, std::size_t n) {
  return ::write(fd, p, n) == static_cast<ssize_t>(n);
}
bool read_all(int fd, void* p, std::size_t n) {
  auto* c = static_cast<char*>(p);
  while (n > 0) {
    ssize_t r = ::read(fd, c, n);
    if (r <= 0) return false;
    c += r;
    n -= static_cast<std::size_t>(r);
  }
  return true;
}

// Fills `o` from an open descriptor (then closes it).
void observe(int fd, Obs& o) {
  struct stat st {};
  ::fstat(fd, &st);
  o.kind = 0;
  o.dev = st.st_dev;
  o.ino = st.st_ino;
  o.mode = st.st_mode;
  o.size = st.st_size;
  o.fl = ::fcntl(fd, F_GETFL);
  std::string self = "/proc/self/fd/" + std::to_string(fd);
  ssize_t n = ::readlink(self.c_str(), o.link, sizeof o.link - 1);
  if (n > 0) o.link[n] = '\0';
  if (S_ISREG(st.st_mode) && (o.fl & O_ACCMODE) != O_WRONLY && !(o.fl & O_PATH)) {
    char buf[4096];
    ssize_t r = ::pread(fd, buf, sizeof buf - 1, 0);
    if (r > 0) {
      buf[r] = '\0';
      if (const char* p = std::strstr(buf, "\nPid:\t"))
        std::snprintf(o.pid_line, sizeof o.pid_line, "%d", std::atoi(p + 6));
    }
  }
  ::close(fd);
}

long raw_open(const Cmd& c) {
  open_how how{};
  switch (c.call) {
    case OpenSyscall::open:
      return syscall(SYS_open, c.path, static_cast<int>(c.flags), static_cast<int>(c.mode));
    case OpenSyscall::creat: return syscall(SYS_creat, c.path, static_cast<int>(c.mode));
    case OpenSyscall::openat:
      return syscall(SYS_openat, c.dirfd, c.path, static_cast<int>(c.flags), static_cast<int>(c.mode));
    case OpenSyscall::openat2:
      how.flags = c.flags;
      how.mode = c.mode;
      how.resolve = c.resolve;
      return syscall(SYS_openat2, c.dirfd, c.path, &how, sizeof how);
  }
  return -1;
}

// The scratch tree every child works in.
struct Tree {
  std::string dir;
  Tree() {
    char tmpl[] = "/tmp/openemu.XXXXXX";
    dir = ::mkdtemp(tmpl);
    ::chmod(dir.c_str(), 0755);
    put("file.txt", "hello\n", 0644);
    put("secret", "s\n", 0600);
    put("stdin.txt", "the child's stdin\n", 0644);
    put("existing", "some old content\n", 0644);
    ::mkdir((dir + "/sub").c_str(), 0755);
    put("sub/inner.txt", "inner\n", 0644);
    ::symlink("/proc/self/mem", (dir + "/link_mem").c_str());
    ::symlink("/proc/self/status", (dir + "/link_status").c_str());
    ::symlink("loop2", (dir + "/loop1").c_str());
    ::symlink("loop1", (dir + "/loop2").c_str());
  }
  ~Tree() {
    std::string cmd = "rm -rf '" + dir + "'";
    if (std::system(cmd.c_str()) != 0) std::fprintf(stderr, "cleanup of %s failed\n", dir.c_str());
  }
  void put(const std::string& name, const std::string& text, mode_t mode) const {
    int fd = ::open((dir + "/" + name).c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
    REQUIRE(fd >= 0);
    REQUIRE(write_all(fd, text.data(), text.size()));
    ::fchmod(fd, mode);
    ::close(fd);
  }
  std::string path(const std::string& name) const { return dir + "/" + name; }
};

Tree& tree() {
  static Tree t;
  return t;
}

OpenEmulator& emulator() {
  static OpenEmulator e;
  static const int rc = e.init().error();
  REQUIRE(rc == 0);
  return e;
}

class Child {
 public:
  explicit Child(bool nobody) {
    int to[2], from[2];
    REQUIRE(::pipe2(to, O_CLOEXEC) == 0);
    REQUIRE(::pipe2(from, O_CLOEXEC) == 0);
    pid_ = host::fork_child([&] {
      ::close(to[1]);
      ::close(from[0]);
      serve(to[0], from[1], nobody);
    });
    REQUIRE(pid_ >= 0);
    ::close(to[0]);
    ::close(from[1]);
    cmd_ = to[1];
    reply_ = from[0];
    REQUIRE(read_all(reply_, &dirfd_, sizeof dirfd_));
    pidfd_ = static_cast<int>(syscall(SYS_pidfd_open, pid_, 0));
    REQUIRE(pidfd_ >= 0);
  }
  ~Child() {
    Cmd c;
    c.op = 3;
    write_all(cmd_, &c, sizeof c);
    ::close(cmd_);
    ::close(reply_);
    int status = 0;
    ::waitpid(pid_, &status, 0);
    ::close(pidfd_);
    emulator().forget_process(pid_);
  }
  pid_t pid() const { return pid_; }
  int dirfd() const { return dirfd_; }

  Obs run(const Cmd& c) {
    Obs o;
    REQUIRE(write_all(cmd_, &c, sizeof c));
    REQUIRE(read_all(reply_, &o, sizeof o));
    return o;
  }
  void become_nobody() {
    Cmd c;
    c.op = 2;
    run(c);
  }
  void clear_dumpable() {
    Cmd c;
    c.op = 4;
    run(c);
  }

  Obs emulate(const Cmd& c) {
    OpenRequest r;
    r.tid = pid_;
    r.tgid = pid_;
    r.pidfd = pidfd_;
    r.call = c.call;
    r.dirfd = c.dirfd;
    r.path = c.path;
    r.flags = c.flags;
    r.mode = c.mode;
    r.resolve = c.resolve;
    OpenOutcome out = emulator().open(r);
    Obs o;
    if (out.kind == OpenOutcome::Kind::installed) {
      REQUIRE(out.fd >= 0);
      CHECK((::fcntl(out.fd, F_GETFD) & FD_CLOEXEC) != 0);
      CHECK(out.cloexec == ((c.flags & O_CLOEXEC) != 0));
      observe(out.fd, o);
    } else {
      o.kind = out.kind == OpenOutcome::Kind::error ? 1 : 2;
      o.err = out.err;
    }
    return o;
  }

 private:
  static void serve(int in, int out, bool nobody) {
    ::setsid();  // no controlling terminal
    const Tree& t = tree();
    if (::chdir(t.dir.c_str()) != 0) ::_exit(10);
    ::umask(077);
    int dfd = ::open(t.path("sub").c_str(), O_RDONLY | O_DIRECTORY);
    int in0 = ::open(t.path("stdin.txt").c_str(), O_RDONLY);
    if (dfd < 0 || in0 < 0 || ::dup2(in0, 0) != 0) ::_exit(11);
    ::close(in0);
    if (nobody) become(65534);
    write_all(out, &dfd, sizeof dfd);
    Cmd c;
    while (read_all(in, &c, sizeof c)) {
      Obs o;
      if (c.op == 3) break;
      if (c.op == 2) {
        become(65534);
      } else if (c.op == 4) {
        not_dumpable();
      } else {
        long r = raw_open(c);
        if (r < 0) {
          o.kind = 1;
          o.err = errno;
        } else {
          observe(static_cast<int>(r), o);
        }
      }
      write_all(out, &o, sizeof o);
    }
  }
  static void not_dumpable() {
    __user_cap_header_struct h{_LINUX_CAPABILITY_VERSION_3, 0};
    __user_cap_data_struct d[2];
    if (::prctl(PR_SET_DUMPABLE, 0) != 0 || ::syscall(SYS_capget, &h, d) != 0) ::_exit(13);
    d[0].effective &= ~(1U << CAP_SYS_PTRACE);
    d[0].permitted &= ~(1U << CAP_SYS_PTRACE);
    if (::syscall(SYS_capset, &h, d) != 0) ::_exit(14);
  }
  static void become(uid_t id) {
    if (::setgroups(0, nullptr) != 0 || ::setresgid(id, id, id) != 0 || ::setresuid(id, id, id) != 0)
      ::_exit(12);
  }

  pid_t pid_ = -1;
  int cmd_ = -1, reply_ = -1, pidfd_ = -1, dirfd_ = -1;
};

Cmd make(OpenSyscall call, const std::string& path, std::uint64_t flags, std::uint64_t mode = 0,
         int dirfd = AT_FDCWD, std::uint64_t resolve = 0) {
  Cmd c;
  c.op = 1;
  c.call = call;
  c.dirfd = dirfd;
  c.flags = flags;
  c.mode = mode;
  c.resolve = resolve;
  std::snprintf(c.path, sizeof c.path, "%s", path.c_str());
  return c;
}

// Emulated and real opens agree: same error, or the same file opened the same way.
void check_same(const Obs& emu, const Obs& real) {
  CHECK(emu.kind == real.kind);
  CHECK(emu.err == real.err);
  if (emu.kind == 0 && real.kind == 0) {
    CHECK(emu.dev == real.dev);
    CHECK(emu.ino == real.ino);
    CHECK(emu.fl == real.fl);
    CHECK(std::string(emu.link) == real.link);
  }
}

Obs both(Child& ch, const Cmd& c) {
  Obs emu = ch.emulate(c);
  Obs real = ch.run(c);
  INFO("path ", c.path, " emu err ", emu.err, " real err ", real.err, " emu link ", emu.link, " real link ",
       real.link);
  check_same(emu, real);
  return emu;
}

}  // namespace

TEST_CASE("open_emulation: relative, absolute and dirfd paths resolve as the target's") {
  Child ch(false);
  const Tree& t = tree();
  CHECK(both(ch, make(OpenSyscall::openat, "file.txt", O_RDONLY)).kind == 0);
  CHECK(both(ch, make(OpenSyscall::open, "sub/../file.txt", O_RDWR)).kind == 0);
  CHECK(both(ch, make(OpenSyscall::open, t.path("file.txt"), O_RDONLY | O_CLOEXEC)).kind == 0);
  CHECK(both(ch, make(OpenSyscall::openat, "inner.txt", O_RDONLY, 0, ch.dirfd())).kind == 0);
  CHECK(both(ch, make(OpenSyscall::openat2, "inner.txt", O_RDONLY, 0, ch.dirfd())).kind == 0);
  // The kernel ignores dirfd for absolute paths, even a bad one.
  CHECK(both(ch, make(OpenSyscall::openat, t.path("file.txt"), O_RDONLY, 0, 77)).kind == 0);
  CHECK(both(ch, make(OpenSyscall::openat, ".", O_RDONLY | O_DIRECTORY)).kind == 0);
  CHECK(both(ch, make(OpenSyscall::openat, "/", O_PATH)).kind == 0);
}

TEST_CASE("open_emulation: error numbers are the kernel's") {
  Child ch(false);
  CHECK(both(ch, make(OpenSyscall::openat, "inner.txt", O_RDONLY, 0, 77)).err == EBADF);
  CHECK(both(ch, make(OpenSyscall::openat, "inner.txt", O_RDONLY, 0, -5)).err == EBADF);
  CHECK(both(ch, make(OpenSyscall::openat, "missing", O_RDONLY)).err == ENOENT);
  CHECK(both(ch, make(OpenSyscall::openat, "", O_RDONLY)).err == ENOENT);
  CHECK(both(ch, make(OpenSyscall::openat, "missing/x", O_RDONLY)).err == ENOENT);
  CHECK(both(ch, make(OpenSyscall::openat, "file.txt/x", O_RDONLY)).err == ENOTDIR);
  CHECK(both(ch, make(OpenSyscall::openat, "file.txt/", O_RDONLY)).err == ENOTDIR);
  CHECK(both(ch, make(OpenSyscall::openat, "file.txt", O_RDONLY | O_DIRECTORY)).err == ENOTDIR);
  CHECK(both(ch, make(OpenSyscall::openat, "sub", O_WRONLY)).err == EISDIR);
  CHECK(both(ch, make(OpenSyscall::openat, "newdir/", O_WRONLY | O_CREAT, 0644)).err == EISDIR);
  CHECK(both(ch, make(OpenSyscall::openat, "file.txt", O_CREAT | O_EXCL | O_WRONLY, 0644)).err == EEXIST);
  CHECK(both(ch, make(OpenSyscall::openat, "loop1", O_RDONLY)).err == ELOOP);
  CHECK(both(ch, make(OpenSyscall::openat, "link_status", O_RDONLY | O_NOFOLLOW)).err == ELOOP);
  CHECK(both(ch, make(OpenSyscall::openat, std::string(300, 'a'), O_RDONLY)).err == ENAMETOOLONG);
  // openat2: the kernel validates the target's open_how.
  CHECK(both(ch, make(OpenSyscall::openat2, "../file.txt", O_RDONLY, 0, ch.dirfd(), RESOLVE_BENEATH)).err ==
        EXDEV);
  CHECK(both(ch, make(OpenSyscall::openat2, "/etc/passwd", O_RDONLY, 0, ch.dirfd(), RESOLVE_BENEATH)).err ==
        EXDEV);
  CHECK(both(ch, make(OpenSyscall::openat2, "file.txt", O_RDONLY | (1ULL << 40))).err == EINVAL);
  CHECK(both(ch, make(OpenSyscall::openat2, "file.txt", O_RDONLY, 0644)).err == EINVAL);
  CHECK(both(ch, make(OpenSyscall::openat2, "file.txt", O_RDONLY, 0, AT_FDCWD, 1ULL << 20)).err == EINVAL);
  CHECK(both(ch, make(OpenSyscall::openat2, "inner.txt", O_RDONLY | (1ULL << 40), 0, 77)).err == EINVAL);
  CHECK(both(ch, make(OpenSyscall::openat2, "link_status", O_RDONLY, 0, AT_FDCWD, RESOLVE_NO_SYMLINKS)).err ==
        ELOOP);
  // open(2) drops unknown flag bits and the mode of a non-creating open, as the kernel does.
  CHECK(both(ch, make(OpenSyscall::openat, "file.txt", O_RDONLY | 040000000000ULL, 0777)).kind == 0);
  CHECK(both(ch, make(OpenSyscall::openat, "sub", O_TMPFILE & ~O_DIRECTORY, 0600)).err == EINVAL);
}

TEST_CASE("open_emulation: permissions are the target's (uid 65534)") {
  Child ch(true);
  CHECK(both(ch, make(OpenSyscall::openat, "secret", O_RDONLY)).err == EACCES);
  CHECK(both(ch, make(OpenSyscall::openat, "file.txt", O_RDONLY)).kind == 0);
  CHECK(both(ch, make(OpenSyscall::openat, "file.txt", O_WRONLY)).err == EACCES);
  CHECK(both(ch, make(OpenSyscall::openat, "newfile", O_CREAT | O_WRONLY, 0644)).err == EACCES);
  CHECK(both(ch, make(OpenSyscall::openat, "/proc/self/status", O_RDONLY)).kind == 0);
  // The supervisor's own credentials and threads are untouched.
  CHECK(::geteuid() == 0);
  CHECK(::getegid() == 0);
}

TEST_CASE("open_emulation: invalidate_thread drops cached credentials") {
  Child ch(false);
  CHECK(both(ch, make(OpenSyscall::openat, "secret", O_RDONLY)).kind == 0);
  ch.become_nobody();
  emulator().invalidate_thread(ch.pid());
  CHECK(both(ch, make(OpenSyscall::openat, "secret", O_RDONLY)).err == EACCES);
}

TEST_CASE("open_emulation: O_CREAT uses the target's umask, creat() semantics") {
  Child ch(false);
  const Tree& t = tree();
  Obs emu = ch.emulate(make(OpenSyscall::openat, "created", O_CREAT | O_WRONLY, 0666));
  REQUIRE(emu.kind == 0);
  CHECK((emu.mode & 07777) == 0600);
  ::unlink(t.path("created").c_str());
  Obs real = ch.run(make(OpenSyscall::openat, "created", O_CREAT | O_WRONLY, 0666));
  REQUIRE(real.kind == 0);
  CHECK((real.mode & 07777) == 0600);
  CHECK(emu.fl == real.fl);
  CHECK(both(ch, make(OpenSyscall::openat, "created", O_CREAT | O_EXCL | O_WRONLY, 0644)).err == EEXIST);

  // creat == O_CREAT|O_WRONLY|O_TRUNC, whatever the mode's high bits.
  emu = ch.emulate(make(OpenSyscall::creat, "existing", 0, 0100644));
  REQUIRE(emu.kind == 0);
  CHECK(emu.size == 0);
  CHECK((emu.fl & O_ACCMODE) == O_WRONLY);
  t.put("existing", "refilled\n", 0644);
  real = ch.run(make(OpenSyscall::creat, "existing", 0, 0100644));
  CHECK(real.size == 0);
  CHECK(emu.fl == real.fl);
  emu = ch.emulate(make(OpenSyscall::creat, "made_by_creat", 0, 0777));
  REQUIRE(emu.kind == 0);
  CHECK((emu.mode & 07777) == 0700);
  ::unlink(t.path("made_by_creat").c_str());
  real = ch.run(make(OpenSyscall::creat, "made_by_creat", 0, 0777));
  CHECK((real.mode & 07777) == 0700);
}

TEST_CASE("open_emulation: /proc/self, magic links and /dev/stdin are the target's") {
  Child ch(false);
  const std::string child = std::to_string(ch.pid());
  Obs o = both(ch, make(OpenSyscall::openat, "/proc/self/status", O_RDONLY));
  CHECK(std::string(o.pid_line) == child);
  o = both(ch, make(OpenSyscall::openat, "/proc/thread-self/status", O_RDONLY));
  CHECK(std::string(o.pid_line) == child);
  o = both(ch, make(OpenSyscall::openat, "link_status", O_RDONLY));
  CHECK(std::string(o.pid_line) == child);
  o = both(ch, make(OpenSyscall::openat, "/proc/self", O_RDONLY | O_DIRECTORY));
  CHECK(std::string(o.link) == "/proc/" + child);

  // A target-made symlink to /proc/self/mem is never the supervisor's memory.
  o = both(ch, make(OpenSyscall::openat, "link_mem", O_RDONLY));
  CHECK(o.kind == 0);
  CHECK(std::string(o.link) == "/proc/" + child + "/mem");
  CHECK(std::string(o.link) != "/proc/" + std::to_string(::getpid()) + "/mem");

  // /dev/stdin -> /proc/self/fd/0: the child's fd 0, a file of its own.
  struct stat in {};
  REQUIRE(::stat(tree().path("stdin.txt").c_str(), &in) == 0);
  o = both(ch, make(OpenSyscall::openat, "/dev/stdin", O_RDONLY));
  CHECK(o.ino == in.st_ino);
  o = both(ch, make(OpenSyscall::openat, "/dev/fd/0", O_RDONLY));
  CHECK(o.ino == in.st_ino);
  o = both(ch, make(OpenSyscall::openat, "/proc/self/cwd/file.txt", O_RDONLY));
  CHECK(o.kind == 0);
  std::string dirfd_path = "/proc/self/fd/" + std::to_string(ch.dirfd()) + "/inner.txt";
  CHECK(both(ch, make(OpenSyscall::openat, dirfd_path, O_RDONLY)).kind == 0);
  CHECK(both(ch, make(OpenSyscall::openat, "/proc/self/fd/99", O_RDONLY)).err == ENOENT);
  CHECK(both(ch, make(OpenSyscall::openat, "/proc/self/task/" + child + "/status", O_RDONLY)).kind == 0);
  CHECK(both(ch, make(OpenSyscall::openat, "/proc/self/fd/0", O_RDONLY | O_NOFOLLOW)).err == ELOOP);
  CHECK(both(ch, make(OpenSyscall::openat2, "/proc/self/fd/0", O_RDONLY, 0, AT_FDCWD, RESOLVE_NO_MAGICLINKS))
            .err == ELOOP);
  CHECK(both(ch, make(OpenSyscall::openat, "/proc/mounts", O_RDONLY)).kind == 0);

  // The supervisor's own /proc/<pid> is refused outright.
  const std::string ours = "/proc/" + std::to_string(::getpid());
  CHECK(ch.emulate(make(OpenSyscall::openat, ours + "/status", O_RDONLY)).err == EACCES);
  CHECK(ch.emulate(make(OpenSyscall::openat, ours + "/mem", O_RDONLY)).err == EACCES);
  CHECK(ch.emulate(make(OpenSyscall::openat, ours + "/fd/0", O_RDONLY)).err == EACCES);
}

TEST_CASE("open_emulation: the own procfs files opened without a ptrace check (pure)") {
  using V = std::vector<std::string>;
  for (const char* f : {"maps", "smaps", "smaps_rollup", "numa_maps", "environ", "auxv", "mem"}) {
    CHECK(own_ptrace_checked_file(V{"12"}, f));
    CHECK(own_ptrace_checked_file(V{"12", "task", "13"}, f));
  }
  CHECK(own_ptrace_checked_file(V{"12", "fdinfo"}, "3"));
  CHECK(own_ptrace_checked_file(V{"12", "task", "13", "fdinfo"}, "3"));
  // Files whose meaning depends on the opener, or checked at read: never.
  for (const char* f : {"pagemap", "stack", "syscall", "status", "uid_map", "attr", "fd", "cwd"})
    CHECK_FALSE(own_ptrace_checked_file(V{"12"}, f));
  CHECK_FALSE(own_ptrace_checked_file(V{"12", "fdinfo"}, "x"));
  CHECK_FALSE(own_ptrace_checked_file(V{"12", "fd"}, "3"));
  CHECK_FALSE(own_ptrace_checked_file(V{"self"}, "maps"));
  CHECK_FALSE(own_ptrace_checked_file(V{}, "maps"));
  CHECK_FALSE(own_ptrace_checked_file(V{"sys", "kernel"}, "maps"));
  CHECK_FALSE(own_ptrace_checked_file(V{"12", "net"}, "maps"));
  CHECK_FALSE(own_ptrace_checked_file(V{"12", "task", "x"}, "maps"));
}

TEST_CASE("open_emulation: generic_permission for a procfs file (pure)") {
  const std::vector<gid_t> none, wheel{10};
  const std::uint64_t no_caps = 0, override_cap = 1ULL << CAP_DAC_OVERRIDE,
                      search = 1ULL << CAP_DAC_READ_SEARCH;
  CHECK(dac_permits(0, 0, 0444, 65534, 65534, none, no_caps, 4));  // maps: anyone reads
  CHECK_FALSE(dac_permits(0, 0, 0444, 65534, 65534, none, no_caps, 2));
  CHECK_FALSE(dac_permits(0, 0, 0400, 65534, 65534, none, no_caps, 4));  // a non-dumpable task's environ
  CHECK(dac_permits(0, 0, 0400, 0, 0, none, no_caps, 4));                // root owns it
  CHECK(dac_permits(0, 0, 0600, 0, 0, none, no_caps, 6));                // mem, read-write, by its owner
  CHECK(dac_permits(1000, 1000, 0600, 1000, 1000, none, no_caps, 6));
  CHECK_FALSE(dac_permits(1000, 1000, 0066, 1000, 1000, none, no_caps, 4));  // the owner's bits only
  CHECK(dac_permits(0, 10, 0440, 65534, 65534, wheel, no_caps, 4));          // a supplementary group
  CHECK(dac_permits(0, 0, 0400, 65534, 65534, none, override_cap, 6));
  CHECK(dac_permits(0, 0, 0400, 65534, 65534, none, search, 4));
  CHECK_FALSE(dac_permits(0, 0, 0400, 65534, 65534, none, search, 2));
}

// Issue 22: a task that is not dumpable opens its own /proc files as the kernel lets it (the
// ptrace check passes for its own thread group), where the supervisor, wearing its
// credentials, is refused by that check.
TEST_CASE("open_emulation: a non-dumpable target's own procfs files") {
  const char* own[] = {"/proc/self/maps",     "/proc/self/smaps",   "/proc/thread-self/maps",
                       "/proc/self/mem",      "/proc/self/environ", "/proc/self/auxv",
                       "/proc/self/fdinfo/0", "/proc/self/fd/0",    "/proc/self/status"};
  SUBCASE("dropped from root to uid 65534") {
    Child ch(false);
    ch.become_nobody();
    for (const char* p : own) both(ch, make(OpenSyscall::openat, p, O_RDONLY));
    CHECK(both(ch, make(OpenSyscall::openat, "/proc/self/maps", O_RDONLY)).kind == 0);
    CHECK(both(ch, make(OpenSyscall::openat, "/proc/self/mem", O_RDONLY)).err == EACCES);  // root's, 0600
    both(ch, make(OpenSyscall::openat, "/proc/self/maps", O_RDONLY | O_NOFOLLOW));
    // Not its own: ours (root's) is refused by the ptrace check as before.
    both(ch, make(OpenSyscall::openat, "/proc/1/maps", O_RDONLY));
  }
  SUBCASE("root, not dumpable, without CAP_SYS_PTRACE") {
    Child ch(false);
    ch.clear_dumpable();
    for (const char* p : own) both(ch, make(OpenSyscall::openat, p, O_RDONLY));
    CHECK(both(ch, make(OpenSyscall::openat, "/proc/self/mem", O_RDWR)).kind == 0);
    CHECK(both(ch, make(OpenSyscall::openat, "/proc/self/fdinfo/0", O_RDONLY)).kind == 0);
    CHECK(both(ch, make(OpenSyscall::openat, "/proc/self/environ", O_RDONLY)).kind == 0);
  }
}

TEST_CASE("open_emulation: /dev/stdin for a uid 65534 target") {
  Child ch(true);
  struct stat in {};
  REQUIRE(::stat(tree().path("stdin.txt").c_str(), &in) == 0);
  Obs o = both(ch, make(OpenSyscall::openat, "/dev/stdin", O_RDONLY));
  CHECK(o.ino == in.st_ino);
  o = both(ch, make(OpenSyscall::openat, "link_mem", O_RDONLY));
  CHECK(std::string(o.link).find("/proc/" + std::to_string(::getpid())) != 0);
}

TEST_CASE("open_emulation: /dev/tty is left to the target, with the kernel's prediction") {
  Child ch(false);  // setsid(): no controlling terminal
  Obs emu = ch.emulate(make(OpenSyscall::openat, "/dev/tty", O_RDWR));
  Obs real = ch.run(make(OpenSyscall::openat, "/dev/tty", O_RDWR));
  CHECK(emu.kind == 2);
  CHECK(real.kind == 1);
  CHECK(emu.err == real.err);
  CHECK(real.err == ENXIO);
}

TEST_CASE("open_emulation: a different root (chroot) is the target's") {
  const Tree& t = tree();
  int to[2], from[2];
  REQUIRE(::pipe2(to, O_CLOEXEC) == 0);
  REQUIRE(::pipe2(from, O_CLOEXEC) == 0);
  const pid_t pid = host::fork_child([&] {
    char ok = ::chroot(t.dir.c_str()) == 0 && ::chdir("/sub") == 0 ? 'y' : 'n';
    write_all(from[1], &ok, 1);
    read_all(to[0], &ok, 1);
  });
  REQUIRE(pid >= 0);
  char ok = 0;
  REQUIRE(read_all(from[0], &ok, 1));
  REQUIRE(ok == 'y');
  int pidfd = static_cast<int>(syscall(SYS_pidfd_open, pid, 0));
  OpenRequest r;
  r.tid = r.tgid = pid;
  r.pidfd = pidfd;
  r.path = "/file.txt";
  OpenOutcome out = emulator().open(r);
  REQUIRE(out.kind == OpenOutcome::Kind::installed);
  struct stat a {
  }, b{};
  ::fstat(out.fd, &a);
  ::close(out.fd);
  REQUIRE(::stat(t.path("file.txt").c_str(), &b) == 0);
  CHECK(a.st_ino == b.st_ino);
  r.path = "../../../file.txt";  // ".." stops at the target's root
  out = emulator().open(r);
  REQUIRE(out.kind == OpenOutcome::Kind::installed);
  ::fstat(out.fd, &a);
  ::close(out.fd);
  CHECK(a.st_ino == b.st_ino);
  r.path = "/etc/passwd";
  CHECK(emulator().open(r).err == ENOENT);
  // Our own root is back.
  struct stat etc {};
  CHECK(::stat("/etc/passwd", &etc) == 0);
  write_all(to[1], &ok, 1);
  ::waitpid(pid, nullptr, 0);
  for (int fd : {to[0], to[1], from[0], from[1], pidfd}) ::close(fd);
  emulator().forget_process(pid);
}

int count_fds() {
  int n = 0;
  if (DIR* d = ::opendir("/proc/self/fd")) {
    while (::readdir(d)) ++n;
    ::closedir(d);
  }
  return n;
}

TEST_CASE("open_emulation: cost per open (printed, not asserted); no descriptor leaks") {
  emulator();
  const int fds_before = count_fds();
  {
    Child ch(false);
    auto time = [&](const char* what, const Cmd& c, int n) {
      auto t0 = std::chrono::steady_clock::now();
      for (int i = 0; i < n; ++i) {
        OpenRequest r;
        r.tid = r.tgid = ch.pid();
        r.call = c.call;
        r.path = c.path;
        r.flags = c.flags;
        OpenOutcome out = emulator().open(r);
        if (out.fd >= 0) ::close(out.fd);
      }
      auto ns =
          std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now() - t0).count();
      MESSAGE(std::string(what) << ": " << ns / n << " ns per emulated open");
    };
    time("fast path, /dev/null", make(OpenSyscall::openat, "/dev/null", O_RDONLY), 20000);
    time("fast path, relative file", make(OpenSyscall::openat, "file.txt", O_RDONLY), 20000);
    time("ENOENT (slow path)", make(OpenSyscall::openat, "/usr/lib/nonexistent.so", O_RDONLY), 5000);
    time("slow path, /proc/self/status", make(OpenSyscall::openat, "/proc/self/status", O_RDONLY), 5000);
    Child nobody(true);
    auto t0 = std::chrono::steady_clock::now();
    for (int i = 0; i < 20000; ++i) {
      OpenRequest r;
      r.tid = r.tgid = nobody.pid();
      r.path = "/dev/null";
      OpenOutcome out = emulator().open(r);
      if (out.fd >= 0) ::close(out.fd);
    }
    auto ns =
        std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now() - t0).count();
    MESSAGE("fast path with a credential switch (uid 65534), /dev/null: " << ns / 20000 << " ns per open");
  }
  CHECK(count_fds() == fds_before);
}
