// SPDX-License-Identifier: Apache-2.0
#include "target/target.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <linux/kcmp.h>
#include <poll.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysinfo.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string_view>

#include "base/files.hpp"
#include "base/unique_fd.hpp"
#include "target/proc_text.hpp"

#ifndef PIDFD_THREAD
#define PIDFD_THREAD O_EXCL
#endif

namespace sandbox::target {
namespace {

constexpr std::uint64_t kPage = 4096;

using files::read_small;

// /proc/<tid>/status read into `buf` (one read: the file is smaller than a page).
std::optional<std::string_view> status_text(pid_t tid, char (&buf)[4096]) {
  char path[64];
  std::snprintf(path, sizeof path, "/proc/%d/status", tid);
  const auto text = read_small(path, buf, sizeof buf);
  if (!text.ok() || text->empty()) return std::nullopt;
  return *text;
}

}  // namespace

std::optional<TaskStatus> status(pid_t tid) {
  char buf[4096];
  const std::optional<std::string_view> read = status_text(tid, buf);
  if (!read) return std::nullopt;
  return parse_status(*read);
}

std::optional<TaskStatus> parse_status(std::string_view text) {
  TaskStatus st;
  std::string_view s = proc_field(text, "State");
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  if (s.empty() || !parse_num(proc_field(text, "Tgid"), st.tgid) ||
      !parse_num(proc_field(text, "PPid"), st.ppid))
    return std::nullopt;
  st.state = s.front();
  std::string_view name = proc_field(text, "Name");
  while (!name.empty() && (name.front() == ' ' || name.front() == '\t')) name.remove_prefix(1);
  name = name.substr(0, std::min(name.size(), sizeof st.name - 1));
  // A status without a "Name:" line gives an empty view whose data() may be null: memcpy
  // must not see it (found by fuzz_proc).
  if (!name.empty()) std::memcpy(st.name, name.data(), name.size());
  // "Uid:\treal\teffective\tsaved\tfs"
  std::string_view uids = proc_field(text, "Uid");
  uid_t* const slots[] = {&st.ruid, &st.euid, &st.suid};
  for (uid_t* slot : slots) {
    while (!uids.empty() && (uids.front() == ' ' || uids.front() == '\t')) uids.remove_prefix(1);
    if (!parse_num(uids, *slot)) return std::nullopt;
    const std::size_t tab = uids.find_first_of(" \t");
    uids.remove_prefix(tab == std::string_view::npos ? uids.size() : tab);
  }
  std::string_view mode = proc_field(text, "Seccomp");
  while (!mode.empty() && (mode.front() == ' ' || mode.front() == '\t')) mode.remove_prefix(1);
  if (!parse_num(mode, st.seccomp)) st.seccomp = -1;
  std::string_view threads = proc_field(text, "Threads");
  while (!threads.empty() && (threads.front() == ' ' || threads.front() == '\t')) threads.remove_prefix(1);
  if (!parse_num(threads, st.threads)) st.threads = 0;
  return st;
}

int pidfd_open(pid_t pid, bool thread) {
  const long fd = ::syscall(SYS_pidfd_open, pid, thread ? PIDFD_THREAD : 0);
  return fd < 0 ? -errno : static_cast<int>(fd);
}

bool pidfd_exited(int pidfd) {
  pollfd p{pidfd, POLLIN, 0};
  return ::poll(&p, 1, 0) > 0;
}

Status pidfd_kill(int pidfd) {
  return pidfd_signal(pidfd, SIGKILL);
}

Status pidfd_signal(int pidfd, int sig) {
  if (::syscall(SYS_pidfd_send_signal, pidfd, sig, nullptr, 0) == 0) return {};
  return Error::from_errno();
}

Status read_memory(pid_t tid, std::uint64_t addr, void* buf, std::size_t len) {
  iovec local{buf, len};
  iovec remote{reinterpret_cast<void*>(addr), len};
  const ssize_t n = ::process_vm_readv(tid, &local, 1, &remote, 1, 0);
  if (n < 0) return Error{errno == ESRCH ? ESRCH : EFAULT};
  if (static_cast<std::size_t>(n) != len) return Error{EFAULT};
  return {};
}

int write_memory(pid_t tid, std::uint64_t addr, const void* buf, std::size_t len) {
  iovec local{const_cast<void*>(buf), len};
  iovec remote{reinterpret_cast<void*>(addr), len};
  // process_vm_writev honours page protections like copy_to_user (no FOLL_FORCE), so a
  // read-only destination fails here exactly as it would in the kernel patch.
  const ssize_t n = ::process_vm_writev(tid, &local, 1, &remote, 1, 0);
  if (n < 0) return errno == ESRCH ? -ESRCH : -EFAULT;
  return static_cast<std::size_t>(n) == len ? 0 : -EFAULT;
}

Result<std::string> read_string(pid_t tid, std::uint64_t addr, std::size_t max) {
  std::string out;
  // Read page by page: a string may end just before an unmapped page.
  char chunk[kPage];
  while (out.size() < max) {
    const std::size_t room = kPage - (addr % kPage);
    const std::size_t want = std::min(room, max - out.size());
    if (auto read = read_memory(tid, addr, chunk, want); !read.ok()) return read.failure();
    const void* nul = std::memchr(chunk, 0, want);
    if (nul) {
      out.append(chunk, static_cast<const char*>(nul) - chunk);
      return out;
    }
    out.append(chunk, want);
    addr += want;
  }
  return Error{ENAMETOOLONG};
}

int open_fd_anchor() {
  static const int anchor = ::open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
  return anchor;
}

Result<bool> fd_open(pid_t tid, unsigned int fd) {
  // kcmp needs PTRACE_MODE_READ on both tasks; naming ourselves as the second one skips the
  // LSM hooks for it (__ptrace_may_access() answers at once for our own thread group), so
  // fd `fd` of the thread is compared with a descriptor of ours that is always open: any
  // answer but EBADF means it is open. The anchor is opened once (open_fd_anchor(), at the
  // supervisor's start) and never closed.
  static const pid_t self = ::getpid();
  const int anchor = open_fd_anchor();
  const long rc = anchor >= 0 ? ::syscall(SYS_kcmp, tid, self, KCMP_FILE, fd, anchor)
                              : ::syscall(SYS_kcmp, tid, tid, KCMP_FILE, fd, fd);
  if (rc >= 0) return true;
  if (errno == EBADF) return false;
  return Error::from_errno();
}

namespace {

// The same limit from /proc/<tid>/limits (mode 0444): for a supervisor without
// CAP_SYS_RESOURCE, which prlimit() refuses for a target of another uid.
std::optional<Limit> rlimit_from_proc(pid_t tid, int resource) {
  const char* name = resource == RLIMIT_AS        ? "Max address space"
                     : resource == RLIMIT_DATA    ? "Max data size"
                     : resource == RLIMIT_MEMLOCK ? "Max locked memory"
                                                  : nullptr;
  if (!name) return std::nullopt;
  char path[64];
  std::snprintf(path, sizeof path, "/proc/%d/limits", tid);
  char buf[4096];
  const auto text = read_small(path, buf, sizeof buf);
  if (!text.ok() || text->empty()) return std::nullopt;
  return parse_limit(*text, name);
}

}  // namespace

std::optional<Limit> parse_limit(std::string_view text, std::string_view name) {
  if (name.empty()) return std::nullopt;
  const std::size_t at = text.find(name);
  if (at == std::string_view::npos || (at != 0 && text[at - 1] != '\n')) return std::nullopt;
  std::string_view line = text.substr(at + name.size());
  line = line.substr(0, line.find('\n'));
  Limit out;
  std::uint64_t* const slots[] = {&out.cur, &out.max};
  for (std::uint64_t* slot : slots) {
    while (!line.empty() && line.front() == ' ') line.remove_prefix(1);
    const std::string_view tok = line.substr(0, line.find(' '));
    if (tok != "unlimited" && !parse_num(tok, *slot)) return std::nullopt;
    line.remove_prefix(tok.size());
  }
  return out;
}

Limit rlimit(pid_t tid, int resource) {
  struct rlimit r {};
  if (::prlimit(tid, static_cast<__rlimit_resource>(resource), nullptr, &r) != 0) {
    // Not ours to read (no CAP_SYS_RESOURCE): /proc; if that fails too, "unlimited",
    // which predicts success and counts.
    return rlimit_from_proc(tid, resource).value_or(Limit{});
  }
  Limit out;
  if (r.rlim_cur != RLIM_INFINITY) out.cur = r.rlim_cur;
  if (r.rlim_max != RLIM_INFINITY) out.max = r.rlim_max;
  return out;
}

bool same_pid_ns(pid_t tid) {
  char path[64];
  std::snprintf(path, sizeof path, "/proc/%d/ns/pid", tid);
  struct stat theirs {
  }, ours{};
  if (::stat(path, &theirs) != 0 || ::stat("/proc/self/ns/pid", &ours) != 0) return false;
  return theirs.st_ino == ours.st_ino && theirs.st_dev == ours.st_dev;
}

Result<bool> same_vm(pid_t a, pid_t b) {
  const long rc = ::syscall(SYS_kcmp, a, b, KCMP_VM, 0, 0);
  if (rc < 0) return Error::from_errno();
  return rc == 0;
}

std::optional<pid_t> live_thread(pid_t tgid, pid_t prefer) {
  if (prefer > 0) {
    const auto st = status(prefer);
    if (st && st->tgid == tgid && st->alive()) return prefer;
  }
  char path[64];
  std::snprintf(path, sizeof path, "/proc/%d/task", tgid);
  DIR* d = ::opendir(path);
  if (!d) return std::nullopt;
  std::optional<pid_t> found;
  while (const dirent* e = ::readdir(d)) {
    pid_t tid = 0;
    if (!parse_num(e->d_name, tid)) continue;
    const auto st = status(tid);
    if (st && st->tgid == tgid && st->alive()) {
      found = tid;
      break;
    }
  }
  ::closedir(d);
  return found;
}

std::string live_task_dir(pid_t tgid, pid_t prefer) {
  const auto tid = live_thread(tgid, prefer);
  if (!tid) return {};
  return "/proc/" + std::to_string(tgid) + "/task/" + std::to_string(*tid);
}

std::optional<Layout> layout(pid_t tid) {
  char path[64];
  std::snprintf(path, sizeof path, "/proc/%d/stat", tid);
  char buf[2048];
  const auto text = read_small(path, buf, sizeof buf - 1);
  if (!text.ok() || text->empty()) return std::nullopt;
  return parse_stat_layout(*text);
}

std::optional<ImageMark> image_mark(pid_t tid) {
  ImageMark m;
  const auto l = layout(tid);
  if (!l) return std::nullopt;
  m.layout = *l;
  char path[64];
  std::snprintf(path, sizeof path, "/proc/%d/exe", tid);
  // The link's text only (d_path): never a call into the file's own filesystem, which a
  // target may serve (FUSE) and stall.
  char exe[4096];
  if (const ssize_t n = ::readlink(path, exe, sizeof exe); n > 0)
    m.exe.assign(exe, static_cast<std::size_t>(n));
  return m;
}

std::optional<Layout> parse_stat_layout(std::string_view text) {
  // comm (field 2) may contain spaces and parentheses: fields restart after the last ')'.
  const std::size_t close = text.rfind(')');
  if (close == std::string_view::npos || close + 2 > text.size()) return std::nullopt;
  text.remove_prefix(close + 2);
  Layout l;
  int fieldno = 3;
  while (!text.empty() && fieldno <= 47) {
    const std::size_t sp = text.find(' ');
    const std::string_view tok = text.substr(0, sp);
    if (fieldno == 45) parse_num(tok, l.start_data);
    if (fieldno == 46) parse_num(tok, l.end_data);
    if (fieldno == 47) {
      parse_num(tok, l.start_brk);
      return l;
    }
    if (sp == std::string_view::npos) break;
    text.remove_prefix(sp + 1);
    ++fieldno;
  }
  return std::nullopt;
}

namespace {

// Calls fn(start, end, name) for each line of /proc/<tid>/maps, where `name` is the
// pathname field ("[heap]", "/lib/...", "" for anonymous); false if unreadable. Lines are
// read whole (getline): a long file name the target chose can never be taken for the
// start of another line.
template <typename Fn>
bool for_each_mapping(pid_t tid, Fn&& fn) {
  char path[64];
  std::snprintf(path, sizeof path, "/proc/%d/maps", tid);
  FILE* f = std::fopen(path, "re");
  if (!f) return false;
  char* line = nullptr;
  std::size_t cap = 0;
  ssize_t len = 0;
  while ((len = ::getline(&line, &cap, f)) > 0) {
    const std::optional<MapsLine> m = parse_maps_line(std::string_view(line, static_cast<std::size_t>(len)));
    if (!m) continue;
    if (fn(m->start, m->end, m->name)) break;
  }
  std::free(line);
  std::fclose(f);
  return true;
}

}  // namespace

std::optional<MapsLine> parse_maps_line(std::string_view s) {
  if (!s.empty() && s.back() == '\n') s.remove_suffix(1);
  const std::size_t dash = s.find('-');
  const std::size_t sp = s.find(' ');
  MapsLine m;
  if (dash == std::string_view::npos || sp == std::string_view::npos || sp < dash) return std::nullopt;
  if (!parse_num(s.substr(0, dash), m.start, 16) || !parse_num(s.substr(dash + 1, sp - dash - 1), m.end, 16))
    return std::nullopt;
  // "start-end perms offset dev inode   name": the name follows the fifth field.
  std::string_view rest = s.substr(sp);
  for (int fieldno = 0; fieldno < 4 && !rest.empty(); ++fieldno) {
    while (!rest.empty() && rest.front() == ' ') rest.remove_prefix(1);
    const std::size_t next = rest.find(' ');
    rest.remove_prefix(next == std::string_view::npos ? rest.size() : next);
  }
  while (!rest.empty() && rest.front() == ' ') rest.remove_prefix(1);
  m.name = rest;
  return m;
}

std::optional<std::uint64_t> heap_end(pid_t tid, std::uint64_t start_brk) {
  std::uint64_t end = start_brk;
  const bool ok = for_each_mapping(tid, [&](std::uint64_t, std::uint64_t e, std::string_view rest) {
    if (rest == "[heap]") end = e;  // the last one
    return false;
  });
  if (!ok) return std::nullopt;
  return end;
}

std::optional<std::uint64_t> mapped_pages(pid_t tid, std::uint64_t addr, std::uint64_t len) {
  std::uint64_t pages = 0;
  const std::uint64_t end = addr + len;
  const bool ok = for_each_mapping(tid, [&](std::uint64_t s, std::uint64_t e, std::string_view) {
    if (s >= end) return true;  // sorted by address
    if (e > addr) pages += (std::min(e, end) - std::max(s, addr)) / kPage;
    return false;
  });
  if (!ok) return std::nullopt;
  return pages;
}

std::optional<bool> range_mapped(pid_t tid, std::uint64_t start, std::uint64_t end) {
  bool hit = false;
  const bool ok = for_each_mapping(tid, [&](std::uint64_t s, std::uint64_t e, std::string_view) {
    hit = s < end && start < e;
    return hit || s >= end;
  });
  if (!ok) return std::nullopt;
  return hit;
}

std::optional<std::vector<Mapping>> mappings(pid_t tid, bool flags) {
  // A bound on what a target can make us hold: no mm has more mappings than the largest
  // vm.max_map_count allows in practice; a longer file is refused, never read to its end.
  constexpr std::size_t kMaxMappings = std::size_t{1} << 20;
  char path[64];
  std::snprintf(path, sizeof path, "/proc/%d/%s", tid, flags ? "smaps" : "maps");
  FILE* f = std::fopen(path, "re");
  if (!f) return std::nullopt;
  std::vector<Mapping> out;
  char* line = nullptr;
  std::size_t cap = 0;
  ssize_t len = 0;
  bool ok = true;
  // Lines are read whole (getline): a file name the target chose cannot start a line. A
  // mapping's header is "start-end perms ..."; smaps' other lines start with a key.
  while ((len = ::getline(&line, &cap, f)) > 0) {
    std::string_view s(line, static_cast<std::size_t>(len));
    if (s.back() == '\n') s.remove_suffix(1);
    if (s.starts_with("VmFlags:")) {
      if (!out.empty()) {
        s.remove_prefix(8);
        for (std::size_t at = 0; (at = s.find(" ac", at)) != std::string_view::npos; at += 3)
          if (at + 3 == s.size() || s[at + 3] == ' ') out.back().accounted = true;
      }
      continue;
    }
    const std::size_t dash = s.find('-');
    const std::size_t sp = s.find(' ');
    Mapping m;
    if (dash == std::string_view::npos || sp == std::string_view::npos || sp < dash || sp + 5 > s.size())
      continue;
    if (!parse_num(s.substr(0, dash), m.start, 16) ||
        !parse_num(s.substr(dash + 1, sp - dash - 1), m.end, 16))
      continue;  // a key line of smaps ("Size:", ...)
    const std::string_view perms = s.substr(sp + 1, 4);
    m.writable = perms[1] == 'w';
    m.is_private = perms[3] == 'p';
    // "perms offset dev inode": the inode is the fourth field after the range.
    std::string_view rest = s.substr(sp + 1);
    for (int field = 0; field < 3 && !rest.empty(); ++field) {
      const std::size_t next = rest.find(' ');
      rest.remove_prefix(next == std::string_view::npos ? rest.size() : next + 1);
    }
    std::uint64_t inode = 1;
    m.anonymous = parse_num(rest, inode) && inode == 0;
    if (out.size() >= kMaxMappings) {
      ok = false;
      break;
    }
    out.push_back(m);
  }
  std::free(line);
  std::fclose(f);
  if (!ok) return std::nullopt;
  return out;
}

std::optional<VmCounters> vm_counters(pid_t tid) {
  char buf[4096];
  const std::optional<std::string_view> read = status_text(tid, buf);
  if (!read) return std::nullopt;
  return parse_vm_counters(*read);
}

std::optional<VmCounters> parse_vm_counters(std::string_view text) {
  VmCounters c;
  std::uint64_t kb = 0;
  if (!parse_num(proc_field(text, "VmSize"), kb)) return std::nullopt;
  c.total_pages = kb / 4;
  if (!parse_num(proc_field(text, "VmData"), kb)) return std::nullopt;
  c.data_pages = kb / 4;
  if (parse_num(proc_field(text, "VmLck"), kb)) c.locked_pages = kb / 4;
  return c;
}

std::optional<bool> has_capability(pid_t tid, int cap) {
  char path[64];
  std::snprintf(path, sizeof path, "/proc/%d/status", tid);
  char buf[4096];
  const auto text = read_small(path, buf, sizeof buf);
  if (!text.ok() || text->empty()) return std::nullopt;
  return parse_capability(*text, cap);
}

std::optional<bool> parse_capability(std::string_view status, int cap) {
  std::uint64_t eff = 0;
  if (!parse_num(proc_field(status, "CapEff"), eff, 16)) return std::nullopt;
  return cap >= 0 && cap < 64 && ((eff >> cap) & 1) != 0;
}

AddressSpaceFacts address_space_facts() {
  AddressSpaceFacts f;
  char buf[64];
  if (const auto text = read_small("/proc/sys/vm/mmap_min_addr", buf, sizeof buf);
      text.ok() && !text->empty())
    parse_num(*text, f.mmap_min_addr);
  // 5-level paging: a fixed mapping just above 47 bits succeeds (ENOMEM with 4 levels).
  void* const high = reinterpret_cast<void*>(std::uint64_t{1} << 47);
  void* p = ::mmap(high, kPage, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
  if (p != MAP_FAILED) {
    ::munmap(p, kPage);
    if (p == high) f.task_size = (std::uint64_t{1} << 56) - kPage;
  }
  // "stack_guard_gap=N" (pages) on the kernel command line; the last one counts.
  char cmdline[4096];
  if (const auto text = read_small("/proc/cmdline", cmdline, sizeof cmdline); text.ok() && !text->empty()) {
    const std::string_view line = *text;
    constexpr std::string_view key = "stack_guard_gap=";
    for (std::size_t at = line.find(key); at != std::string_view::npos; at = line.find(key, at + 1)) {
      if (at != 0 && line[at - 1] != ' ') continue;
      std::string_view v = line.substr(at + key.size());
      v = v.substr(0, v.find_first_of(" \n"));
      std::uint64_t pages = 0;
      // An unreadable value: the largest gap any mapping could need (nothing is believed).
      f.stack_guard_gap =
          parse_num(v, pages) && pages < (std::uint64_t{1} << 40) ? pages * kPage : ~0ULL >> 1;
    }
  }
  return f;
}

std::optional<std::uint64_t> max_map_count() {
  char buf[32];
  std::uint64_t v = 0;
  const auto text = read_small("/proc/sys/vm/max_map_count", buf, sizeof buf);
  if (!text.ok() || text->empty() || !parse_num(*text, v)) return std::nullopt;
  return v;
}

Overcommit overcommit() {
  Overcommit o;
  char buf[32];
  if (const auto text = read_small("/proc/sys/vm/overcommit_memory", buf, sizeof buf);
      text.ok() && !text->empty())
    parse_num(*text, o.mode);
  struct sysinfo si {};
  if (::sysinfo(&si) == 0)
    o.ram_swap_pages = (static_cast<std::uint64_t>(si.totalram) + si.totalswap) * si.mem_unit / kPage;
  return o;
}

std::vector<pid_t> own_children() {
  return children_of(0);
}

std::vector<pid_t> children_of(pid_t pid) {
  std::vector<pid_t> out;
  const std::string dir = pid == 0 ? std::string("/proc/self") : "/proc/" + std::to_string(pid);
  DIR* d = ::opendir((dir + "/task").c_str());
  if (!d) return out;
  while (const dirent* e = ::readdir(d)) {
    if (e->d_name[0] == '.') continue;
    char path[320];
    std::snprintf(path, sizeof path, "%s/task/%.64s/children", dir.c_str(), e->d_name);
    char buf[4096];
    const auto text = read_small(path, buf, sizeof buf);
    std::string_view s = text.value_or({});
    while (!s.empty()) {
      const std::size_t sp = s.find(' ');
      pid_t p = 0;
      if (parse_num(s.substr(0, sp), p)) out.push_back(p);
      if (sp == std::string_view::npos) break;
      s.remove_prefix(sp + 1);
    }
  }
  ::closedir(d);
  return out;
}

}  // namespace sandbox::target
