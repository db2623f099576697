// SPDX-License-Identifier: Apache-2.0
// ctl: `sandbox ctl` (see ctl.hpp).
#include "cli/ctl.hpp"

#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <nlohmann/json.hpp>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "base/unique_fd.hpp"
#include "control/control.hpp"
#include "options.hpp"
#include "policy/policy.hpp"
#include "shim.hpp"

namespace sandbox {

namespace {
using json = nlohmann::json;
constexpr std::uint64_t kMiB = std::uint64_t{1} << 20;
constexpr std::size_t kMaxResponse = 64u << 20;
}  // namespace

UniqueFd connect_to(const std::string& path) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.size() >= sizeof addr.sun_path) throw CtlIoError(path + ": socket path too long");
  std::memcpy(addr.sun_path, path.data(), path.size());
  UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd) throw CtlIoError(std::string("socket: ") + std::strerror(errno));
  const auto len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + path.size() + 1);
  while (::connect(fd.get(), reinterpret_cast<const sockaddr*>(&addr), len) != 0) {
    if (errno == EINTR) continue;
    // No file, or a file nobody listens on (a server that stopped): say what that means.
    if (errno == ENOENT || errno == ECONNREFUSED)
      throw CtlIoError("no sandbox serve is running at " + path + " (" + std::strerror(errno) +
                       "); start one with 'sandbox serve --socket " + path +
                       "', or name another socket with --socket PATH");
    throw CtlIoError("cannot connect to " + path + ": " + std::strerror(errno));
  }
  // Nothing is sent to, or believed from, a server of another user (it may have bound the
  // path first): root's, or our own only.
  unsigned server_uid = 0;
  if (const int rc = shim::check_server(fd.get(), server_uid); rc == -EPERM) {
    throw CtlIoError("the server at " + path + " runs as uid " + std::to_string(server_uid) +
                     ", neither root nor you: not talking to it (another user may have taken the path)");
  } else if (rc < 0) {
    throw CtlIoError(path + ": SO_PEERCRED: " + std::strerror(-rc));
  }
  return fd;
}

void send_all(int fd, const std::string& data) {
  std::size_t off = 0;
  while (off < data.size()) {
    const ssize_t n = ::send(fd, data.data() + off, data.size() - off, MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR) continue;
      throw CtlIoError(std::string("send: ") + std::strerror(errno));
    }
    off += static_cast<std::size_t>(n);
  }
}

std::optional<std::string> LineReader::next() {
  for (;;) {
    if (const auto nl = buf_.find('\n'); nl != std::string::npos) {
      std::string line = buf_.substr(0, nl);
      buf_.erase(0, nl + 1);
      return line;
    }
    if (buf_.size() > kMaxResponse) throw CtlIoError("response longer than " + std::to_string(kMaxResponse));
    char chunk[16384];
    const ssize_t n = ::recv(fd_, chunk, sizeof chunk, 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      throw CtlIoError(std::string("recv: ") + std::strerror(errno));
    }
    if (n == 0) return std::nullopt;
    buf_.append(chunk, static_cast<std::size_t>(n));
  }
}

namespace {

json parse_response(const std::string& line) {
  json j = json::parse(line, nullptr, false);
  if (j.is_discarded() || !j.is_object()) throw CtlIoError("malformed response from the server: " + line);
  return j;
}

std::int64_t num(const json& j, const char* key, std::int64_t fallback = 0) {
  const auto it = j.find(key);
  if (it == j.end() || !it->is_number_integer()) return fallback;
  return it->get<std::int64_t>();
}

// The heap quota in bytes (the server sends heap_quota_bytes, or heap_quota in MiB); -1: none.
std::int64_t heap_quota_bytes(const json& j) {
  if (j.contains("heap_quota_bytes")) return num(j, "heap_quota_bytes");
  const std::int64_t q = num(j, "heap_quota", -1);
  return q < 0 ? -1 : q * static_cast<std::int64_t>(kMiB);
}

std::string heap_quota_text(const json& j) {
  const std::int64_t q = heap_quota_bytes(j);
  return q < 0 ? "unlimited" : sandbox::bytes_text(static_cast<std::uint64_t>(q));
}

std::string file_quota_text(const json& j) {
  const std::int64_t q = num(j, "file_quota", -1);
  return q < 0 ? "unlimited" : std::to_string(q);
}

void print_node(const json& j) {
  std::printf("pid             %" PRId64 "\n", num(j, "pid"));
  std::printf("tgid            %" PRId64 "\n", num(j, "tgid"));
  std::printf("heapsize        %s\n",
              sandbox::bytes_text(static_cast<std::uint64_t>(num(j, "heapsize"))).c_str());
  std::printf("openfile_count  %" PRId64 "\n", num(j, "openfile_count"));
  std::printf("heap_quota      %s\n", heap_quota_text(j).c_str());
  std::printf("file_quota      %s\n", file_quota_text(j).c_str());
  if (const auto it = j.find("heap_rule"); it != j.end() && it->is_string())
    std::printf("heap_rule       %s\n", it->get_ref<const std::string&>().c_str());
}

std::string str(const json& j, const char* key) {
  const auto it = j.find(key);
  return it != j.end() && it->is_string() ? it->get<std::string>() : std::string();
}

std::string killed_text(const json& j) {
  const auto k = j.find("killed");
  if (k == j.end() || !k->is_object()) return "-";
  return "pid " + std::to_string(num(*k, "pid")) + " " + str(*k, "resource") + " " +
         std::to_string(num(*k, "usage")) + " > " + std::to_string(num(*k, "limit"));
}

void print_job(const json& j) {
  std::printf("job             %" PRId64 "\n", num(j, "job"));
  std::printf("root            %" PRId64 "\n", num(j, "root"));
  std::printf("scope           %s%s\n", str(j, "scope").c_str(),
              j.value("tracked", false) ? "" : " (not counting)");
  if (j.contains("heap_rule")) std::printf("heap_rule       %s\n", str(j, "heap_rule").c_str());
  std::printf("heapsize        %s\n",
              sandbox::bytes_text(static_cast<std::uint64_t>(num(j, "heapsize"))).c_str());
  std::printf("openfile_count  %" PRId64 "\n", num(j, "openfile_count"));
  std::printf("heap_quota      %s\n", heap_quota_text(j).c_str());
  std::printf("file_quota      %s\n", file_quota_text(j).c_str());
  std::printf("peak heap       %s\n",
              sandbox::bytes_text(static_cast<std::uint64_t>(num(j, "peak_heap_bytes"))).c_str());
  std::printf("peak files      %" PRId64 "\n", num(j, "peak_files"));
  std::printf("processes       %" PRId64 " (%" PRId64 " live)\n", num(j, "processes"), num(j, "live"));
  std::printf("killed          %s\n", killed_text(j).c_str());
  if (const std::string c = str(j, "container"); !c.empty()) std::printf("container       %s\n", c.c_str());
}

void print_list(const json& j) {
  // One unit in every heap column: bytes (as the protocol's fields); fetch shows them in MiB too.
  const auto quota_bytes = [](const json& n) {
    const std::int64_t q = heap_quota_bytes(n);
    return q < 0 ? std::string("unlimited") : std::to_string(q);
  };
  std::printf("%-8s %-8s %-14s %-9s %-14s %-10s %-9s %s\n", "PID", "TGID", "HEAP_BYTES", "OPENFILES",
              "HEAP_QUOTA", "FILE_QUOTA", "HEAP_RULE", "CONTAINER");
  const auto it = j.find("nodes");
  if (it == j.end() || !it->is_array()) return;
  for (const auto& n : *it) {
    if (!n.is_object()) continue;
    const std::string container = str(n, "container");
    const std::string rule = str(n, "heap_rule");
    std::printf("%-8" PRId64 " %-8" PRId64 " %-14" PRId64 " %-9" PRId64 " %-14s %-10s %-9s %s\n",
                num(n, "pid"), num(n, "tgid"), num(n, "heapsize"), num(n, "openfile_count"),
                quota_bytes(n).c_str(), file_quota_text(n).c_str(), rule.empty() ? "-" : rule.c_str(),
                container.empty() ? "-" : container.c_str());
  }
  const auto jobs = j.find("jobs");
  if (jobs == j.end() || !jobs->is_array() || jobs->empty()) return;
  std::printf("\n%-6s %-8s %-8s %-14s %-9s %-14s %-10s %-6s %-10s %s\n", "JOB", "ROOT", "SCOPE", "HEAP_BYTES",
              "OPENFILES", "HEAP_QUOTA", "FILE_QUOTA", "PROCS", "CONTAINER", "KILLED");
  for (const auto& n : *jobs) {
    if (!n.is_object()) continue;
    const std::string container = str(n, "container");
    std::printf("%-6" PRId64 " %-8" PRId64 " %-8s %-14" PRId64 " %-9" PRId64 " %-14s %-10s %-6" PRId64
                " %-10s %s\n",
                num(n, "job"), num(n, "root"), str(n, "scope").c_str(), num(n, "heapsize"),
                num(n, "openfile_count"), quota_bytes(n).c_str(), file_quota_text(n).c_str(), num(n, "live"),
                container.empty() ? "-" : container.c_str(), killed_text(n).c_str());
  }
}

// "12:34:56.789 " from the event's time_ns (local time), or "" without one.
std::string time_text(const json& j) {
  const std::int64_t ns = num(j, "time_ns", 0);
  if (ns <= 0) return "";
  const time_t secs = static_cast<time_t>(ns / 1'000'000'000);
  tm local{};
  ::localtime_r(&secs, &local);
  char buf[32];
  std::snprintf(buf, sizeof buf, "%02d:%02d:%02d.%03d ", local.tm_hour, local.tm_min, local.tm_sec,
                static_cast<int>((ns / 1'000'000) % 1000));
  return buf;
}

// A target's words as printed: control characters shown as '?', so they cannot forge lines.
std::string printable(std::string s) {
  for (char& ch : s)
    if (static_cast<unsigned char>(ch) < 0x20 || ch == 0x7f) ch = '?';
  return s;
}

std::string comm_text(const json& j) {
  const std::string c = printable(str(j, "comm"));
  return c.empty() ? "" : " (" + c + ")";
}

// exec: "'/usr/bin/true'", or "failed, tried 'a', 'b'".
std::string exec_text(const json& j) {
  if (j.value("failed", false)) {
    std::string tried;
    if (const auto t = j.find("tried"); t != j.end() && t->is_array())
      for (const auto& p : *t)
        if (p.is_string()) tried += (tried.empty() ? "'" : ", '") + printable(p.get<std::string>()) + "'";
    return "failed, tried " + tried;
  }
  return "'" + printable(str(j, "path")) + "'";
}

void print_event(const json& j) {
  const std::string ev = str(j, "event");
  const std::int64_t job = num(j, "job", 0);
  // An event about a job as a whole has pid 0; one about a process of a job names it too.
  std::string line = time_text(j) + ev +
                     (num(j, "pid") == 0 && job != 0 ? " job " + std::to_string(job)
                                                     : " pid " + std::to_string(num(j, "pid")) + " tgid " +
                                                           std::to_string(num(j, "tgid")) +
                                                           (job != 0 ? " job " + std::to_string(job) : "")) +
                     comm_text(j);
  if (ev == "killed") {
    const std::string reason = str(j, "reason");
    const std::string unit = reason == "heap" ? " bytes" : "";
    line += ": " + reason + (j.contains("openfile_count") ? " (job quota) " : " ") +
            std::to_string(num(j, "usage")) + unit + " > limit " + std::to_string(num(j, "limit")) + unit;
  } else if (ev == "exec" && (j.contains("path") || j.contains("tried"))) {
    line += ": " + exec_text(j);
  } else if (ev == "quota_set") {
    line += ": heap " + heap_quota_text(j) + ", files " + file_quota_text(j);
  } else if (ev == "usage") {
    line += ": heap " + sandbox::bytes_text(static_cast<std::uint64_t>(num(j, "heapsize"))) + " of " +
            heap_quota_text(j) + ", files " + std::to_string(num(j, "openfile_count")) + " of " +
            file_quota_text(j);
  }
  if (const std::string c = str(j, "container"); !c.empty()) line += " container " + c;
  std::printf("%s\n", line.c_str());
}

// Prints `sandbox: ctl CONTEXT: ENAME: message` for an error response.
int report_error(const std::string& context, const json& j) {
  std::string name = str(j, "error");
  if (name.empty()) name = "errno " + std::to_string(num(j, "errno"));
  const std::string message = str(j, "message");
  // cap on a target whose quotas are set already: the way to change them is --replace.
  const std::string hint =
      name == "ENFILE" && context.rfind("cap ", 0) == 0
          ? " (to change quotas already set, give --replace: one step, no moment without a limit)"
          : "";
  std::fprintf(stderr, "sandbox: ctl %s: %s%s%s%s\n", context.c_str(), name.c_str(),
               message.empty() ? "" : ": ", message.c_str(), hint.c_str());
  return exit_status::refused;
}

// The request line's object for the subcommand, and the words that name its target in an
// error (`context`: "cap 123", "fetch job 4").
json request_of(const CtlOptions& a, std::string& context) {
  const std::string& sub = a.sub;
  json req = json::object();
  context = sub;
  if (a.job) {
    req["job"] = *a.job;
    if (sub != "watch") context += " job " + std::to_string(*a.job);
  } else if (a.pid) {
    req["pid"] = *a.pid;
    context += " " + std::to_string(*a.pid);
  }
  if (sub == "watch") {
    if (a.watch_pid) req["pid"] = *a.watch_pid;
    std::vector<std::string> kinds = a.kinds;
    if (a.usage) {
      if (kinds.empty())  // --usage alone: everything, usage included
        for (const EventKindName& k : kEventKinds)
          if (k.kind != Event::Kind::usage) kinds.emplace_back(k.name);
      kinds.emplace_back(to_string(Event::Kind::usage));
    }
    if (!kinds.empty()) req["kinds"] = kinds;
  }
  if (sub == "metrics") req["format"] = a.openmetrics ? "openmetrics" : "prometheus";
  static const std::pair<const char*, const char*> kOps[] = {
      {"register", "register"}, {"fetch", "fetch"},          {"deregister", "deregister"},
      {"cap", "resource_cap"},  {"reset", "resource_reset"}, {"list", "list"},
      {"watch", "watch"},       {"version", "version"},      {"metrics", "metrics"}};
  for (const auto& [name, op] : kOps) {
    if (sub == name) req["op"] = op;
  }
  if (a.heap_quota) {
    const auto& limit = a.heap_quota->limit;
    if (!limit)
      req["heap_quota"] = -1;
    else if (*limit % kMiB == 0)
      req["heap_quota"] = *limit / kMiB;
    else
      req["heap_quota_bytes"] = std::min<std::uint64_t>(*limit, INT64_MAX);
  }
  if (a.file_quota)
    req["file_quota"] = a.file_quota->limit ? static_cast<std::int64_t>(*a.file_quota->limit) : -1;
  if (a.replace) req["replace"] = true;
  return req;
}

// watch, once answered: every event line printed (as JSON with --json) until the
// supervisor ends the stream.
int follow_watch(LineReader& reader, const CtlOptions& a, const std::string& context) {
  while (const auto line = reader.next()) {
    const json ev = json::parse(*line, nullptr, false);
    const bool end = ev.is_object() && ev.value("event", "") == "end";
    if (a.json) {
      std::printf("%s\n", line->c_str());
    } else if (end) {
      std::printf("end: %s\n", str(ev, "reason").c_str());
    } else {
      if (ev.is_object() && ev.contains("event")) {
        print_event(ev);
      } else if (ev.is_object() && !ev.value("ok", true)) {
        report_error(context, ev);
      }
    }
    std::fflush(stdout);
    if (end) return 0;  // the supervisor ended the stream: the run is over
  }
  throw CtlIoError("watch: the server closed the connection");
}

// Any other subcommand's answer (ok), for humans.
void print_answer(const CtlOptions& a, const json& req, const json& resp) {
  const std::string& sub = a.sub;
  const std::string pid = a.job ? "job " + std::to_string(*a.job) : a.pid ? std::to_string(*a.pid) : "";
  if (sub == "register") {
    std::printf("registered %s\n", pid.c_str());
  } else if (sub == "deregister") {
    std::printf("deregistered %s\n", pid.c_str());
  } else if (sub == "reset") {
    std::printf("reset %s: quotas removed\n", pid.c_str());
  } else if (sub == "cap") {
    std::printf("%s %s: heap %s, files %s\n", a.replace ? "replaced" : "capped", pid.c_str(),
                heap_quota_text(req).c_str(), file_quota_text(req).c_str());
  } else if (sub == "fetch") {
    a.job ? print_job(resp) : print_node(resp);
  } else if (sub == "list") {
    print_list(resp);
  } else if (sub == "version") {
    std::printf("sandbox %s (protocol %" PRId64 ")\n", str(resp, "version").c_str(), num(resp, "protocol"));
  } else if (sub == "metrics") {
    std::fputs(str(resp, "text").c_str(), stdout);
  }
}

int run(const CtlOptions& a) {
  std::string context;
  const json req = request_of(a, context);
  const std::string path = a.socket ? *a.socket : ctl_socket_path();
  UniqueFd fd = connect_to(path);
  if (a.verbosity >= 2) std::fprintf(stderr, "sandbox: ctl: %s > %s\n", path.c_str(), req.dump().c_str());
  send_all(fd.get(), req.dump() + "\n");
  LineReader reader(fd.get());
  const auto first = reader.next();
  if (!first) throw CtlIoError("the server closed the connection without answering");
  const json resp = parse_response(*first);
  if (a.json) {
    std::printf("%s\n", first->c_str());
    std::fflush(stdout);
  }
  if (!resp.value("ok", false)) return report_error(context, resp);
  if (a.sub == "watch") return follow_watch(reader, a, context);
  if (!a.json) print_answer(a, req, resp);
  return 0;
}

}  // namespace

std::string ctl_socket_path() {
  return options::client_socket_path();
}

int ctl_command(const CtlOptions& options) {
  try {
    return run(options);
  } catch (const std::exception& e) {  // CtlIoError, and anything the connection threw
    std::fprintf(stderr, "sandbox: ctl: %s\n", e.what());
    return exit_status::unreachable;
  }
}

}  // namespace sandbox
