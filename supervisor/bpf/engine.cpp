// SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
#include "bpf/engine.hpp"

#include <linux/capability.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstdarg>
#include <cstdio>
#include <cstring>

#ifdef SANDBOX_HAVE_BPF
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "bpf/rules.h"
#include "bpf/tracker_abi.h"
#include "tracker.skel.h"
#endif

namespace sandbox::bpf {

std::size_t Engine::bytes_per_node() {
#ifdef SANDBOX_HAVE_BPF
  // A hash element is a struct htab_elem (48 bytes on x86-64: list links, hash, and the
  // lock-free freelist node) followed by the key rounded up to 8 and the value rounded to 8;
  // a node is an element in `nodes` and one in `quotas` (once capped).
  constexpr std::size_t elem = 48 + 8;
  return elem + sizeof(tl_node) + elem + sizeof(tl_quota);
#else
  return 0;
#endif
}

#ifndef SANDBOX_HAVE_BPF

struct Engine::Impl {};
Engine::Engine(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Engine::~Engine() = default;
std::unique_ptr<Engine> Engine::open(std::string& why) {
  why =
      "this sandbox was built without the BPF engine (no clang, bpftool, libbpf or kernel BTF at build time)";
  return nullptr;
}
bool Engine::add_job(std::uint32_t, pid_t, std::uint64_t, std::uint64_t) {
  return false;
}
std::optional<JobTotals> Engine::job(std::uint32_t) const {
  return std::nullopt;
}
std::vector<pid_t> Engine::members(std::uint32_t) const {
  return {};
}
std::optional<std::uint32_t> Engine::job_of(pid_t) const {
  return std::nullopt;
}
bool Engine::add_node(pid_t, pid_t) {
  return false;
}
std::optional<NodeCounters> Engine::node(pid_t) const {
  return std::nullopt;
}
bool Engine::remove_node(pid_t) {
  return false;
}
Quotas Engine::quotas(pid_t) const {
  return {};
}
void Engine::set_quotas(pid_t, const Quotas&) {}
int Engine::kills_fd() const {
  return -1;
}
void Engine::drain(const std::function<void(const Kill&)>&) {}

#else

namespace {

// libbpf's messages while loading, kept for the one-line reason (the verifier's last words).
thread_local std::string* g_log = nullptr;

int capture(enum libbpf_print_level level, const char* fmt, va_list args) {
  if (g_log == nullptr || level == LIBBPF_DEBUG) return 0;
  char line[512];
  const int n = std::vsnprintf(line, sizeof line, fmt, args);
  if (n > 0) g_log->append(line);
  return n;
}

// The last non-empty line of the log that says something: the verifier's refusal.
std::string last_words(const std::string& log) {
  std::string best;
  std::size_t start = 0;
  while (start < log.size()) {
    std::size_t end = log.find('\n', start);
    if (end == std::string::npos) end = log.size();
    std::string line = log.substr(start, end - start);
    if (!line.empty() && line.find("libbpf: failed") == std::string::npos) best = line;
    start = end + 1;
  }
  return best.size() > 200 ? best.substr(0, 200) : best;
}

bool has_effective(int cap) {
  __user_cap_header_struct h{_LINUX_CAPABILITY_VERSION_3, 0};
  __user_cap_data_struct d[2]{};
  if (::syscall(SYS_capget, &h, d) != 0) return false;
  return (d[cap / 32].effective >> (cap % 32)) & 1u;
}

int fd_of(bpf_map* m) {
  return bpf_map__fd(m);
}

}  // namespace

struct Engine::Impl {
  tracker* skel = nullptr;
  ring_buffer* rb = nullptr;
  const std::function<void(const Kill&)>* each = nullptr;
  ~Impl() {
    if (rb) ring_buffer__free(rb);
    if (skel) tracker__destroy(skel);  // detaches and closes everything: nothing is pinned
  }
  static int on_kill(void* ctx, void* data, std::size_t size) {
    auto* self = static_cast<Impl*>(ctx);
    if (size < sizeof(tl_kill) || self->each == nullptr) return 0;
    tl_kill k;
    std::memcpy(&k, data, sizeof k);
    Kill out;
    out.pid = static_cast<pid_t>(k.pid), out.tgid = static_cast<pid_t>(k.tgid), out.job = k.job;
    out.files = k.files != 0;
    out.usage = k.usage, out.limit = k.limit, out.live = k.live, out.other = k.other;
    out.comm.assign(k.comm, strnlen(k.comm, sizeof k.comm));
    (*self->each)(out);
    return 0;
  }
};

Engine::Engine(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Engine::~Engine() = default;

std::unique_ptr<Engine> Engine::open(std::string& why) {
  timespec t0{}, t1{};
  ::clock_gettime(CLOCK_MONOTONIC, &t0);
  if (::access("/sys/kernel/btf/vmlinux", R_OK) != 0) {
    why = "the kernel has no BTF (/sys/kernel/btf/vmlinux): fentry/fexit programs cannot attach";
    return nullptr;
  }
  // CAP_BPF and CAP_PERFMON (Linux 5.8), or CAP_SYS_ADMIN, in the initial user namespace:
  // BPF capabilities inside a user namespace give nothing (docs/security.md).
  constexpr int kCapPerfmon = 38, kCapBpf = 39;
  if (!has_effective(CAP_SYS_ADMIN) && !(has_effective(kCapBpf) && has_effective(kCapPerfmon))) {
    why = "needs CAP_BPF and CAP_PERFMON (or CAP_SYS_ADMIN) to load tracing programs";
    return nullptr;
  }
  std::string log;
  g_log = &log;
  const auto previous = libbpf_set_print(capture);
  auto impl = std::make_unique<Impl>();
  impl->skel = tracker__open();
  int err = impl->skel ? tracker__load(impl->skel) : -errno;
  if (err == 0) err = tracker__attach(impl->skel);
  libbpf_set_print(previous);
  g_log = nullptr;
  if (err != 0) {
    const std::string words = last_words(log);
    why =
        std::string(impl->skel ? "the kernel refused the BPF programs: " : "cannot open the BPF programs: ") +
        std::strerror(-err) + (words.empty() ? "" : " (" + words + ")");
    return nullptr;
  }
  impl->rb = ring_buffer__new(fd_of(impl->skel->maps.kills), Impl::on_kill, impl.get(), nullptr);
  if (impl->rb == nullptr) {
    why = std::string("cannot map the kill ring buffer: ") + std::strerror(errno);
    return nullptr;
  }
  ::clock_gettime(CLOCK_MONOTONIC, &t1);
  std::unique_ptr<Engine> e(new Engine(std::move(impl)));
  e->load_ms_ =
      static_cast<double>(t1.tv_sec - t0.tv_sec) * 1e3 + static_cast<double>(t1.tv_nsec - t0.tv_nsec) / 1e6;
  return e;
}

bool Engine::add_job(std::uint32_t job, pid_t root, std::uint64_t heap_quota, std::uint64_t file_quota) {
  tl_job j{};
  j.heap_quota = heap_quota, j.file_quota = file_quota, j.live = 1;
  if (bpf_map_update_elem(fd_of(impl_->skel->maps.jobs), &job, &j, BPF_NOEXIST) != 0) return false;
  const auto key = static_cast<std::uint32_t>(root);
  tl_proc p{};
  p.job = job;
  return bpf_map_update_elem(fd_of(impl_->skel->maps.procs), &key, &p, BPF_ANY) == 0;
}

std::optional<JobTotals> Engine::job(std::uint32_t job) const {
  tl_job j{};
  if (bpf_map_lookup_elem(fd_of(impl_->skel->maps.jobs), &job, &j) != 0) return std::nullopt;
  return JobTotals{j.heap, j.files, j.live, j.heap_quota, j.file_quota, j.killed != 0};
}

std::vector<pid_t> Engine::members(std::uint32_t job) const {
  std::vector<pid_t> out;
  const int fd = fd_of(impl_->skel->maps.procs);
  std::uint32_t key = 0, next = 0;
  const std::uint32_t* prev = nullptr;
  // Bounded: a map of at most TL_MAX_PROCS keys, walked once.
  for (int i = 0; i < TL_MAX_PROCS && bpf_map_get_next_key(fd, prev, &next) == 0; ++i) {
    tl_proc p{};
    if (bpf_map_lookup_elem(fd, &next, &p) == 0 && p.job == job) out.push_back(static_cast<pid_t>(next));
    key = next;
    prev = &key;
  }
  return out;
}

std::optional<std::uint32_t> Engine::job_of(pid_t tgid) const {
  const auto key = static_cast<std::uint32_t>(tgid);
  tl_proc p{};
  if (bpf_map_lookup_elem(fd_of(impl_->skel->maps.procs), &key, &p) != 0) return std::nullopt;
  return p.job;
}

bool Engine::add_node(pid_t pid, pid_t tgid) {
  const auto key = static_cast<std::uint32_t>(pid);
  tl_node n{};
  n.tgid = static_cast<std::uint32_t>(tgid);
  return bpf_map_update_elem(fd_of(impl_->skel->maps.nodes), &key, &n, BPF_NOEXIST) == 0;
}

std::optional<NodeCounters> Engine::node(pid_t pid) const {
  const auto key = static_cast<std::uint32_t>(pid);
  tl_node n{};
  if (bpf_map_lookup_elem(fd_of(impl_->skel->maps.nodes), &key, &n) != 0) return std::nullopt;
  return NodeCounters{n.heapsize, n.openfile_count, static_cast<pid_t>(n.tgid)};
}

bool Engine::remove_node(pid_t pid) {
  const auto key = static_cast<std::uint32_t>(pid);
  bpf_map_delete_elem(fd_of(impl_->skel->maps.quotas), &key);
  return bpf_map_delete_elem(fd_of(impl_->skel->maps.nodes), &key) == 0;
}

Quotas Engine::quotas(pid_t pid) const {
  const auto key = static_cast<std::uint32_t>(pid);
  tl_quota q{};
  if (bpf_map_lookup_elem(fd_of(impl_->skel->maps.quotas), &key, &q) != 0) return {};
  return Quotas{q.heap_quota, q.file_quota, (q.flags & TL_QUOTAS_SET) != 0, (q.flags & TL_IMPOSED) != 0};
}

void Engine::set_quotas(pid_t pid, const Quotas& q) {
  const auto key = static_cast<std::uint32_t>(pid);
  tl_quota v{};
  v.heap_quota = q.heap, v.file_quota = q.files;
  v.flags = (q.set ? TL_QUOTAS_SET : 0u) | (q.imposed ? TL_IMPOSED : 0u);
  bpf_map_update_elem(fd_of(impl_->skel->maps.quotas), &key, &v, BPF_ANY);
}

int Engine::kills_fd() const {
  return ring_buffer__epoll_fd(impl_->rb);
}

void Engine::drain(const std::function<void(const Kill&)>& each) {
  impl_->each = &each;
  ring_buffer__consume(impl_->rb);
  impl_->each = nullptr;
}

#endif

}  // namespace sandbox::bpf
