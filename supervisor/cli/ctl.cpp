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

#include "cli/cli.hpp"
#include "cli/policy.hpp"
#include "shim.hpp"
#include "target/unique_fd.hpp"

namespace sandbox {

namespace {

using json = nlohmann::json;

constexpr std::uint64_t kMiB = std::uint64_t{1} << 20;
constexpr std::size_t kMaxResponse = 64u << 20;

struct CtlUsage : std::runtime_error {
  using std::runtime_error::runtime_error;
};
// The socket could not be reached, or the connection failed.
struct CtlIoError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

struct Args {
  std::string socket;
  bool json_out = false;
  bool help = false;
  std::optional<std::string> heap;
  std::optional<std::string> files;
  std::optional<std::string> job;
  std::optional<std::string> pid;  // watch --pid
  std::vector<std::string> kinds;  // watch --kind (repeatable, or comma-separated)
  bool usage = false;              // watch --usage: add usage events
  bool openmetrics = false;        // metrics --openmetrics
  std::vector<std::string> positional;
};

bool parse_int(std::string_view s, std::int64_t& out) {
  if (s.empty()) return false;
  const auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return ec == std::errc() && p == s.data() + s.size();
}

Args parse_args(int argc, const char* const argv[]) {
  Args a;
  bool options_done = false;
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i] ? argv[i] : "";
    std::int64_t ignored = 0;
    if (options_done || arg.empty() || arg[0] != '-' || parse_int(arg, ignored)) {
      a.positional.emplace_back(arg);
      continue;
    }
    if (arg == "--") {
      options_done = true;
      continue;
    }
    if (arg == "-h" || arg == "--help") {
      a.help = true;
      continue;
    }
    if (arg == "--json") {
      a.json_out = true;
      continue;
    }
    if (arg == "--usage") {
      a.usage = true;
      continue;
    }
    if (arg == "--openmetrics") {
      a.openmetrics = true;
      continue;
    }
    // Options with a value: --name VALUE or --name=VALUE.
    std::string_view name = arg;
    std::optional<std::string> value;
    if (const auto eq = arg.find('='); eq != std::string_view::npos) {
      name = arg.substr(0, eq);
      value = std::string(arg.substr(eq + 1));
    }
    if (name != "--socket" && name != "--heap" && name != "--files" && name != "--pid" && name != "--kind" &&
        name != "--job") {
      throw CtlUsage("unknown option '" + std::string(arg) + "'");
    }
    if (!value) {
      if (i + 1 >= argc || argv[i + 1] == nullptr) throw CtlUsage(std::string(name) + " needs a value");
      value = argv[++i];
    }
    if (name == "--socket") {
      if (value->empty()) throw CtlUsage("--socket: empty path");
      a.socket = *value;
    } else if (name == "--pid") {
      a.pid = *value;
    } else if (name == "--kind") {
      for (std::size_t start = 0; start <= value->size();) {
        const std::size_t comma = std::min(value->find(',', start), value->size());
        if (comma > start) a.kinds.push_back(value->substr(start, comma - start));
        start = comma + 1;
      }
    } else if (name == "--heap") {
      a.heap = *value;
    } else if (name == "--job") {
      a.job = *value;
    } else {
      a.files = *value;
    }
  }
  return a;
}

std::int64_t parse_pid(const std::string& s) {
  std::int64_t pid = 0;
  if (!parse_int(s, pid) || pid < INT32_MIN || pid > INT32_MAX) {
    throw CtlUsage("expected a PID (an integer), got '" + s + "'");
  }
  return pid;
}

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

// Reads lines from the server, one at a time.
class LineReader {
 public:
  explicit LineReader(int fd) : fd_(fd) {}
  // The next line without '\n'; nullopt at end of stream.
  std::optional<std::string> next() {
    for (;;) {
      if (const auto nl = buf_.find('\n'); nl != std::string::npos) {
        std::string line = buf_.substr(0, nl);
        buf_.erase(0, nl + 1);
        return line;
      }
      if (buf_.size() > kMaxResponse)
        throw CtlIoError("response longer than " + std::to_string(kMaxResponse));
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

 private:
  int fd_;
  std::string buf_;
};

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

std::string bytes_text(std::uint64_t b) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%" PRIu64 " (%.1f MiB)", b, static_cast<double>(b) / kMiB);
  return buf;
}

std::string heap_quota_text(const json& j) {
  if (j.contains("heap_quota_bytes")) return std::to_string(num(j, "heap_quota_bytes")) + " bytes";
  const std::int64_t q = num(j, "heap_quota", -1);
  return q < 0 ? "unlimited" : std::to_string(q) + " MiB";
}

std::string file_quota_text(const json& j) {
  const std::int64_t q = num(j, "file_quota", -1);
  return q < 0 ? "unlimited" : std::to_string(q);
}

void print_node(const json& j) {
  std::printf("pid             %" PRId64 "\n", num(j, "pid"));
  std::printf("tgid            %" PRId64 "\n", num(j, "tgid"));
  std::printf("heapsize        %s\n", bytes_text(static_cast<std::uint64_t>(num(j, "heapsize"))).c_str());
  std::printf("openfile_count  %" PRId64 "\n", num(j, "openfile_count"));
  std::printf("heap_quota      %s\n", heap_quota_text(j).c_str());
  std::printf("file_quota      %s\n", file_quota_text(j).c_str());
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
  std::printf("heapsize        %s\n", bytes_text(static_cast<std::uint64_t>(num(j, "heapsize"))).c_str());
  std::printf("openfile_count  %" PRId64 "\n", num(j, "openfile_count"));
  std::printf("heap_quota      %s\n", heap_quota_text(j).c_str());
  std::printf("file_quota      %s\n", file_quota_text(j).c_str());
  std::printf("peak heap       %s\n",
              bytes_text(static_cast<std::uint64_t>(num(j, "peak_heap_bytes"))).c_str());
  std::printf("peak files      %" PRId64 "\n", num(j, "peak_files"));
  std::printf("processes       %" PRId64 " (%" PRId64 " live)\n", num(j, "processes"), num(j, "live"));
  std::printf("killed          %s\n", killed_text(j).c_str());
  if (const std::string c = str(j, "container"); !c.empty()) std::printf("container       %s\n", c.c_str());
}

void print_list(const json& j) {
  std::printf("%-8s %-8s %-14s %-9s %-14s %-10s %s\n", "PID", "TGID", "HEAPSIZE", "OPENFILES", "HEAP_QUOTA",
              "FILE_QUOTA", "CONTAINER");
  const auto it = j.find("nodes");
  if (it == j.end() || !it->is_array()) return;
  for (const auto& n : *it) {
    if (!n.is_object()) continue;
    const std::string container = str(n, "container");
    std::printf("%-8" PRId64 " %-8" PRId64 " %-14" PRId64 " %-9" PRId64 " %-14s %-10s %s\n", num(n, "pid"),
                num(n, "tgid"), num(n, "heapsize"), num(n, "openfile_count"), heap_quota_text(n).c_str(),
                file_quota_text(n).c_str(), container.empty() ? "-" : container.c_str());
  }
  const auto jobs = j.find("jobs");
  if (jobs == j.end() || !jobs->is_array() || jobs->empty()) return;
  std::printf("\n%-6s %-8s %-8s %-14s %-9s %-14s %-10s %-6s %-10s %s\n", "JOB", "ROOT", "SCOPE", "HEAPSIZE",
              "OPENFILES", "HEAP_QUOTA", "FILE_QUOTA", "PROCS", "CONTAINER", "KILLED");
  for (const auto& n : *jobs) {
    if (!n.is_object()) continue;
    const std::string container = str(n, "container");
    std::printf("%-6" PRId64 " %-8" PRId64 " %-8s %-14" PRId64 " %-9" PRId64 " %-14s %-10s %-6" PRId64
                " %-10s %s\n",
                num(n, "job"), num(n, "root"), str(n, "scope").c_str(), num(n, "heapsize"),
                num(n, "openfile_count"), heap_quota_text(n).c_str(), file_quota_text(n).c_str(),
                num(n, "live"), container.empty() ? "-" : container.c_str(), killed_text(n).c_str());
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

// A target's name as printed: control characters shown as '?', so it cannot forge lines.
std::string comm_text(const json& j) {
  std::string c = str(j, "comm");
  for (char& ch : c)
    if (static_cast<unsigned char>(ch) < 0x20 || ch == 0x7f) ch = '?';
  return c.empty() ? "" : " (" + c + ")";
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
  } else if (ev == "quota_set") {
    line += ": heap " + heap_quota_text(j) + ", files " + file_quota_text(j);
  } else if (ev == "usage") {
    line += ": heap " + bytes_text(static_cast<std::uint64_t>(num(j, "heapsize"))) + " of " +
            heap_quota_text(j) + ", files " + std::to_string(num(j, "openfile_count")) + " of " +
            file_quota_text(j);
  }
  if (const std::string c = str(j, "container"); !c.empty()) line += " container " + c;
  std::printf("%s\n", line.c_str());
}

// Prints `sandbox ctl: CONTEXT: ENAME: message` for an error response.
int report_error(const std::string& context, const json& j) {
  std::string name = str(j, "error");
  if (name.empty()) name = "errno " + std::to_string(num(j, "errno"));
  const std::string message = str(j, "message");
  std::fprintf(stderr, "sandbox ctl: %s: %s%s%s\n", context.c_str(), name.c_str(),
               message.empty() ? "" : ": ", message.c_str());
  return 1;
}

int run(const Args& a) {
  if (a.positional.empty())
    throw CtlUsage(
        "missing subcommand (register, fetch, deregister, cap, reset, list, "
        "watch, metrics, version)");
  const std::string& sub = a.positional[0];
  const std::size_t nargs = a.positional.size() - 1;
  json req = json::object();
  std::string context = sub;
  const bool takes_pid =
      sub == "register" || sub == "fetch" || sub == "deregister" || sub == "cap" || sub == "reset";
  const bool takes_none = sub == "list" || sub == "watch" || sub == "version" || sub == "metrics";
  if (!takes_pid && !takes_none) throw CtlUsage("unknown subcommand '" + sub + "'");
  const bool on_job = a.job.has_value();
  if (on_job) {
    if (sub != "fetch" && sub != "cap" && sub != "reset" && sub != "watch")
      throw CtlUsage("--job goes with fetch, cap, reset and watch only");
    if (nargs != 0) throw CtlUsage(sub + ": give a PID or --job ID, not both");
    std::int64_t id = 0;
    if (!parse_int(*a.job, id) || id < 1 || id > UINT32_MAX)
      throw CtlUsage("--job: expected a job id (a positive integer), got '" + *a.job + "'");
    req["job"] = id;
    context += " job " + std::to_string(id);
  } else if (takes_pid) {
    if (nargs != 1) throw CtlUsage(sub + ": expected one PID (or --job ID)");
    const std::int64_t pid = parse_pid(a.positional[1]);
    req["pid"] = pid;
    context += " " + std::to_string(pid);
  } else if (nargs != 0) {
    throw CtlUsage(sub + ": takes no arguments");
  }
  if ((a.heap || a.files) && sub != "cap") throw CtlUsage("--heap and --files go with 'cap' only");
  if ((a.pid || !a.kinds.empty() || a.usage) && sub != "watch")
    throw CtlUsage("--pid, --kind and --usage go with 'watch' only");
  if (a.openmetrics && sub != "metrics") throw CtlUsage("--openmetrics goes with 'metrics' only");
  if (sub == "watch") {
    if (a.pid) req["pid"] = parse_pid(*a.pid);
    std::vector<std::string> kinds = a.kinds;
    if (a.usage) {
      if (kinds.empty())  // --usage alone: everything, usage included
        kinds = {"registered", "deregistered", "exited", "killed",
                 "quota_set",  "quota_reset",  "joined", "exec"};
      kinds.push_back("usage");
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
  if (a.heap) {
    if (*a.heap == "-1" || *a.heap == "unlimited") {
      req["heap_quota"] = -1;
    } else {
      const auto bytes = parse_size(*a.heap);
      if (!bytes || *bytes > static_cast<std::uint64_t>(INT64_MAX)) {
        throw CtlUsage("--heap: expected a size like 100M (a bare number is MiB), got '" + *a.heap + "'");
      }
      if (*bytes % kMiB == 0) {
        req["heap_quota"] = *bytes / kMiB;
      } else {
        req["heap_quota_bytes"] = *bytes;
      }
    }
  }
  if (a.files) {
    std::int64_t n = 0;
    if (*a.files == "unlimited")
      n = -1;
    else if (!parse_int(*a.files, n) || n < -1)
      throw CtlUsage("--files: expected a count, got '" + *a.files + "'");
    req["file_quota"] = n;
  }

  const std::string path = a.socket.empty() ? ctl_socket_path() : a.socket;
  UniqueFd fd = connect_to(path);
  send_all(fd.get(), req.dump() + "\n");
  LineReader reader(fd.get());
  const auto first = reader.next();
  if (!first) throw CtlIoError("the server closed the connection without answering");
  const json resp = parse_response(*first);
  if (a.json_out) {
    std::printf("%s\n", first->c_str());
    std::fflush(stdout);
  }
  if (!resp.value("ok", false)) return report_error(context, resp);

  if (sub == "watch") {
    while (const auto line = reader.next()) {
      const json ev = json::parse(*line, nullptr, false);
      const bool end = ev.is_object() && ev.value("event", "") == "end";
      if (a.json_out) {
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
  if (a.json_out) return 0;
  const std::string pid = on_job ? "job " + *a.job : takes_pid ? a.positional[1] : "";
  if (sub == "register") {
    std::printf("registered %s\n", pid.c_str());
  } else if (sub == "deregister") {
    std::printf("deregistered %s\n", pid.c_str());
  } else if (sub == "reset") {
    std::printf("reset %s: quotas removed\n", pid.c_str());
  } else if (sub == "cap") {
    std::printf("capped %s: heap %s, files %s\n", pid.c_str(), heap_quota_text(req).c_str(),
                file_quota_text(req).c_str());
  } else if (sub == "fetch") {
    on_job ? print_job(resp) : print_node(resp);
  } else if (sub == "list") {
    print_list(resp);
  } else if (sub == "version") {
    std::printf("sandbox %s (protocol %" PRId64 ")\n", str(resp, "version").c_str(), num(resp, "protocol"));
  } else if (sub == "metrics") {
    std::fputs(str(resp, "text").c_str(), stdout);
  }
  return 0;
}

}  // namespace

const char* ctl_usage_text() {
  return "usage: sandbox ctl [--socket PATH] [--json] SUBCOMMAND\n"
         "  register PID                    start tracking PID\n"
         "  fetch PID | --job ID            print PID's (or the job's) counters and quotas\n"
         "  deregister PID                  stop tracking PID\n"
         "  cap PID | --job ID [--heap SIZE] [--files N]\n"
         "                                  set quotas (SIZE: bare number = MiB, or K/M/G; -1 = unlimited)\n"
         "  reset PID | --job ID            remove PID's (or the job's) quotas\n"
         "  list                            every node and job you may act on\n"
         "  watch [--pid PID] [--job ID] [--kind K,...] [--usage]\n"
         "                                  stream events until interrupted or the supervisor ends\n"
         "                                  (K: registered deregistered exited killed quota_set\n"
         "                                  quota_reset joined exec usage; --usage adds usage events,\n"
         "                                  coalesced to about ten a second per node or job)\n"
         "  metrics [--openmetrics]         print the metrics text (Prometheus text format, for the\n"
         "                                  node_exporter textfile collector; or OpenMetrics)\n"
         "  version                         the server's version\n"
         "Socket: --socket, else $SANDBOX_SOCKET, else sandbox.sock in $XDG_RUNTIME_DIR, /run (root),\n"
         "/run/user/UID or /tmp/sandbox-UID/ (the first no other user can write). The server must run\n"
         "as root or as you.\n"
         "--json prints the server's response lines as they are.\n"
         "Exit: 0 ok, 1 the server answered an error, 2 bad arguments, 3 socket unreachable.\n";
}

std::string ctl_socket_path() {
  if (const char* s = std::getenv("SANDBOX_SOCKET"); s != nullptr && *s != '\0') return s;
  return default_socket_path();
}

int ctl_main(int argc, const char* const argv[]) {
  try {
    const Args a = parse_args(argc, argv);
    if (a.help) {
      std::fputs(ctl_usage_text(), stdout);
      return 0;
    }
    return run(a);
  } catch (const CtlUsage& e) {
    std::fprintf(stderr, "sandbox ctl: %s\n", e.what());
    return 2;
  } catch (const CtlIoError& e) {
    std::fprintf(stderr, "sandbox ctl: %s\n", e.what());
    return 3;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "sandbox ctl: %s\n", e.what());
    return 3;
  }
}

}  // namespace sandbox
