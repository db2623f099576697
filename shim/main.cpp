// sandbox-shim: puts CMD under a running `sandbox serve`.
//
//   sandbox-shim --socket PATH [--heap-quota SIZE] [--file-quota N] [--scope job|process] [--track]
//                [--] CMD [ARG...]
//
// Asks the server for its BPF program, installs it with a new listener (no_new_privs
// first only where the kernel requires it: without CAP_SYS_ADMIN), passes the listener and its request
// (`join`) to the server, waits for the answer, then execs CMD. Free of Boost and JSON libraries: the two
// request lines are formatted by hand and the two answers are read by looking for fixed keys.
#include <linux/filter.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "shim.hpp"
#include "size.hpp"

namespace {

[[noreturn]] void usage_error(const std::string& what) {
  std::fprintf(stderr,
               "sandbox-shim: %s (usage: sandbox-shim --socket PATH [--heap-quota SIZE] [--file-quota N] "
               "[--scope job|process] [--track] [--] CMD [ARG...])\n",
               what.c_str());
  std::exit(2);
}

// After the filter is installed, exit_group would wait on a supervisor that may not serve
// us: write the message with write(2) (no allocation) and die by SIGKILL (see shim.hpp).
[[noreturn]] void die_filtered(const char* what) {
  (void)!::write(2, what, std::strlen(what));
  ::kill(::getpid(), SIGKILL);
  for (;;) ::pause();
}

// One response line (up to '\n'); empty on EOF or error.
std::string read_line(int fd) {
  std::string line;
  char c;
  while (line.size() < (1u << 22)) {
    const ssize_t n = ::read(fd, &c, 1);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0 || c == '\n') break;
    line += c;
  }
  return line;
}

// The string value of "key" in a compact one-line JSON object written by our server.
std::optional<std::string> string_field(std::string_view line, std::string_view key) {
  const std::string needle = "\"" + std::string(key) + "\":\"";
  const auto at = line.find(needle);
  if (at == std::string_view::npos) return std::nullopt;
  std::string out;
  for (std::size_t i = at + needle.size(); i < line.size() && line[i] != '"'; ++i) {
    if (line[i] == '\\' && i + 1 < line.size()) ++i;
    out += line[i];
  }
  return out;
}

bool is_ok(std::string_view line) {
  return line.find("\"ok\":true") != std::string_view::npos;
}

std::string failure(std::string_view line) {
  if (line.empty()) return "the server closed the connection";
  if (auto m = string_field(line, "message")) return *m;
  return std::string(line);
}

std::optional<std::vector<sock_filter>> decode(std::string_view hex) {
  if (hex.empty() || hex.size() % 16) return std::nullopt;
  std::vector<sock_filter> prog(hex.size() / 16);
  for (std::size_t i = 0; i < prog.size(); ++i) {
    const std::string chunk(hex.substr(i * 16, 16));
    char* end = nullptr;
    const unsigned long long v = std::strtoull(chunk.c_str(), &end, 16);
    if (end != chunk.c_str() + 16) return std::nullopt;
    prog[i].code = static_cast<__u16>(v >> 48);
    prog[i].jt = static_cast<__u8>(v >> 40);
    prog[i].jf = static_cast<__u8>(v >> 32);
    prog[i].k = static_cast<__u32>(v);
  }
  return prog;
}

bool send_line(int fd, const std::string& line, int pass_fd) {
  return sandbox::shim::send_with_fd(fd, line.data(), line.size(), pass_fd) == 0;
}

}  // namespace

int main(int argc, char** argv) {
  const char* socket_path = std::getenv("SANDBOX_SOCKET");
  std::optional<std::uint64_t> heap, files;
  bool track = false;
  const char* scope = "job";  // the quotas hold for CMD and everything it starts, together
  int i = 1;
  for (; i < argc; ++i) {
    const std::string_view a = argv[i];
    auto value = [&]() -> const char* {
      if (i + 1 >= argc) usage_error(std::string(a) + ": missing value");
      return argv[++i];
    };
    if (a == "--") {
      ++i;
      break;
    }
    if (a.empty() || a[0] != '-') break;
    if (a == "--socket") {
      socket_path = value();
    } else if (a == "--heap-quota") {
      const char* v = value();
      heap = sandbox::parse_size(v);
      if (!heap) usage_error(std::string("--heap-quota: '") + v + "' is not a size (expected e.g. 100M)");
    } else if (a == "--file-quota") {
      const char* v = value();
      char* end = nullptr;
      const long long n = std::strtoll(v, &end, 10);
      if (!*v || *end || n < 0) usage_error(std::string("--file-quota: '") + v + "' is not a count");
      files = static_cast<std::uint64_t>(n);
    } else if (a == "--scope") {
      scope = value();
      if (std::strcmp(scope, "job") != 0 && std::strcmp(scope, "process") != 0)
        usage_error(std::string("--scope: '") + scope + "' is not a scope (expected job or process)");
    } else if (a == "--track") {
      track = true;
    } else {
      usage_error("unknown option '" + std::string(a) + "'");
    }
  }
  if (i >= argc) usage_error("missing CMD");
  if (!socket_path || !*socket_path) usage_error("--socket PATH is required (or set SANDBOX_SOCKET)");

  const int sock = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (std::strlen(socket_path) >= sizeof addr.sun_path) usage_error("--socket: path too long");
  std::strcpy(addr.sun_path, socket_path);
  if (sock < 0 || ::connect(sock, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    std::fprintf(stderr, "sandbox-shim: cannot reach the supervisor at %s: %s\n", socket_path,
                 std::strerror(errno));
    return 126;
  }
  // Nothing is sent to, or believed from, a server of another user: it would choose our
  // filter, get our listener and answer our opens.
  unsigned server_uid = 0;
  if (const int rc = sandbox::shim::check_server(sock, server_uid); rc < 0) {
    if (rc == -EPERM)
      std::fprintf(stderr,
                   "sandbox-shim: the server at %s runs as uid %u, neither root nor you: not joining "
                   "(another user may have taken the path)\n",
                   socket_path, server_uid);
    else
      std::fprintf(stderr, "sandbox-shim: %s: SO_PEERCRED: %s\n", socket_path, std::strerror(-rc));
    return 126;
  }
  if (!send_line(sock, "{\"op\":\"filter\"}\n", -1)) {
    std::fprintf(stderr, "sandbox-shim: %s: %s\n", socket_path, std::strerror(errno));
    return 126;
  }
  const std::string answer = read_line(sock);
  const auto hex = is_ok(answer) ? string_field(answer, "filter") : std::nullopt;
  const auto prog = hex ? decode(*hex) : std::nullopt;
  if (!prog) {
    std::fprintf(stderr, "sandbox-shim: filter: %s\n", failure(answer).c_str());
    return 126;
  }
  const sock_fprog fprog{static_cast<unsigned short>(prog->size()), const_cast<sock_filter*>(prog->data())};
  // Everything the steps after the filter need is prepared now: from install_filter() on,
  // a notified call (brk from malloc, close, exit_group) would wait for a supervisor that
  // has not got our listener yet -- and after a refused join, for one that never will.
  // So until exec: only sendmsg, read into a fixed buffer, write, kill.
  std::string join = "{\"op\":\"join\",\"pid\":" + std::to_string(::getpid());
  if (heap) join += ",\"heap_quota_bytes\":" + std::to_string(*heap);
  if (files) join += ",\"file_quota\":" + std::to_string(*files);
  if (track) join += ",\"track\":true";
  join += ",\"scope\":\"" + std::string(scope) + "\"";
  join += "}\n";
  static char reply[4096];
  const int listener = sandbox::shim::install_filter_nnp_if_needed(fprog);
  if (listener == sandbox::shim::kNoNewPrivsFailed) {
    std::fprintf(stderr, "sandbox-shim: prctl(PR_SET_NO_NEW_PRIVS): %s\n", std::strerror(errno));
    return 126;
  }
  if (listener == -EBUSY) {
    std::fprintf(stderr, "sandbox-shim: %s\n", sandbox::shim::kNestedMessage);
    return 126;
  }
  if (listener < 0) {
    std::fprintf(stderr, "sandbox-shim: seccomp(SECCOMP_SET_MODE_FILTER, NEW_LISTENER): %s\n",
                 std::strerror(-listener));
    return 126;
  }
  if (!send_line(sock, join, listener)) die_filtered("sandbox-shim: join: cannot send the request\n");
  std::size_t got = 0;
  while (got < sizeof reply - 1) {
    const ssize_t n = ::read(sock, reply + got, 1);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0 || reply[got] == '\n') break;
    ++got;
  }
  reply[got] = 0;
  if (!is_ok(std::string_view(reply, got))) {
    const char prefix[] = "sandbox-shim: join refused: ";
    (void)!::write(2, prefix, sizeof prefix - 1);
    (void)!::write(2, reply, got);
    die_filtered("\n");
  }
  // The listener and the socket are O_CLOEXEC: exec drops them without a notified close().
  ::execvp(argv[i], argv + i);
  const char* why = std::strerror(errno);  // static strings for common errno values
  (void)!::write(2, "sandbox-shim: cannot run ", 25);
  (void)!::write(2, argv[i], std::strlen(argv[i]));
  (void)!::write(2, ": ", 2);
  (void)!::write(2, why, std::strlen(why));
  die_filtered("\n");
}
