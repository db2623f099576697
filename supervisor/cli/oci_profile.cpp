// SPDX-License-Identifier: Apache-2.0
#include "cli/oci_profile.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>

#include "oci/oci.hpp"
#include "policy/policy.hpp"

namespace sandbox {
namespace {

std::string errno_text(const std::string& what) {
  return what + ": " + std::strerror(errno);
}

// Replaces `path` with `text` atomically (a temporary file in the same directory, renamed
// over it), keeping the file's mode: a runtime never reads a half-written config.json.
void write_in_place(const std::string& path, const std::string& text) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) throw oci::OciError(errno_text(path));
  const std::string tmp = path + ".sandbox-tmp";
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, st.st_mode & 07777);
  if (fd < 0) throw oci::OciError(errno_text(tmp));
  std::size_t done = 0;
  while (done < text.size()) {
    const ssize_t n = ::write(fd, text.data() + done, text.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      const std::string e = errno_text(tmp);
      ::close(fd);
      ::unlink(tmp.c_str());
      throw oci::OciError(e);
    }
    done += static_cast<std::size_t>(n);
  }
  if (::fsync(fd) != 0 || ::close(fd) != 0) {
    const std::string e = errno_text(tmp);
    ::unlink(tmp.c_str());
    throw oci::OciError(e);
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    const std::string e = errno_text("rename to " + path);
    ::unlink(tmp.c_str());
    throw oci::OciError(e);
  }
}

}  // namespace

int oci_profile_command(const OciProfileOptions& o) {
  try {
    Policy policy;
    if (o.policy_file) policy = load_policy_file(*o.policy_file);
    oci::Quotas q;
    if (o.heap_quota) q.heap_quota_bytes = o.heap_quota->limit;
    if (o.file_quota) q.file_quota = o.file_quota->limit;
    q.policy = o.quota_policy;
    q.track = o.track;
    if (q.policy && !oci::valid_policy_name(*q.policy))
      throw oci::OciError("--quota-policy: '" + *q.policy +
                          "' is not a policy name (letters, digits, '_', '-', '.')");
    const nlohmann::json profile = oci::seccomp_profile(policy, o.listener, q);
    if (!o.config) {
      std::printf("%s\n", profile.dump(2).c_str());
      return 0;
    }
    std::ifstream in(*o.config);
    if (!in) throw oci::OciError(errno_text(*o.config));
    std::stringstream text;
    text << in.rdbuf();
    nlohmann::json config = nlohmann::json::parse(text.str(), nullptr, /*allow_exceptions=*/false);
    if (config.is_discarded()) throw oci::OciError(*o.config + ": not valid JSON");
    try {
      oci::set_seccomp(config, profile, o.replace);
    } catch (const oci::OciError& e) {
      throw oci::OciError(*o.config + ": " + e.what());
    }
    write_in_place(*o.config, config.dump(2) + "\n");
    return 0;
  } catch (const PolicyError& e) {
    std::fprintf(stderr, "sandbox: %s\n", e.what());
  } catch (const oci::OciError& e) {
    std::fprintf(stderr, "sandbox: oci-profile: %s\n", e.what());
  }
  return exit_status::usage;
}

}  // namespace sandbox
